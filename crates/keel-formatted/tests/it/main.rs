//! Integration tests of the formatted zone's parsing and conversion.
//!
//! Table of contents:
//! - [`bad_input`]: the bad-input suite, one fixture per fault, in one run.
//! - [`dialects`]: the three firmware dialects, line numbers, raw text and rules.
//! - [`formats`]: gzip and zip objects, Parquet and Excel workbooks formatted into Delta.
//! - [`lab`]: a project with objects landed by hand, formatted through the library.
//! - [`ndjson`]: one JSON object per line, each line its own record or rejection.
//! - [`real_data`]: every real district-heating file of `../shared/data/real` formatted.
//! - [`spectrum`]: the csv-spectrum corner cases from `../shared/data/real`.
//! - [`time`]: timestamps to UTC, the DST rule, epoch and serial formats, composite fields.

mod bad_input;
mod dialects;
mod formats;
mod lab;
mod ndjson;
mod real_data;
mod spectrum;
mod time;

use keel_core::project::Source;

/// A source declared inline, planned.
pub fn plan(toml_text: &str) -> keel_formatted::SourcePlan {
    let spec = toml::from_str(toml_text).expect("source spec");
    let source = Source {
        name: "s".into(),
        path: "sources/s.toml".into(),
        spec,
    };
    keel_formatted::SourcePlan::new(&source).expect("plan")
}

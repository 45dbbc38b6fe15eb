//! Integration tests of the formatted zone's parsing and conversion.
//!
//! Table of contents:
//! - [`bad_input`]: the bad-input suite, one fixture per fault, in one run.
//! - [`counters`]: cumulative registers checked in time order (C5) on the real Danish meter.
//! - [`dialects`]: the three firmware dialects, line numbers, raw text and rules.
//! - [`encodings`]: Polish text in code pages, UTF-8 with a BOM and UTF-16; invalid bytes.
//! - [`formats`]: gzip and zip objects, Parquet and Excel workbooks formatted into Delta.
//! - [`lab`]: a project with objects landed by hand, formatted through the library.
//! - [`ndjson`]: one JSON object per line, each line its own record or rejection.
//! - [`numbers`]: decimal commas, thousands separators and the `1,234` ambiguity.
//! - [`real_data`]: every real district-heating file of `../shared/data/real` formatted.
//! - [`spectrum`]: the csv-spectrum corner cases from `../shared/data/real`.
//! - [`staging`]: chunks spilled to disk and deduplicated by partition, as in memory.
//! - [`time`]: timestamps to UTC, the DST rule, epoch and serial formats, composite fields.
//! - [`typed_time`]: Parquet and spreadsheet timestamps, serials and composite fields.

mod bad_input;
mod counters;
mod dialects;
mod encodings;
mod formats;
mod lab;
mod ndjson;
mod numbers;
mod real_data;
mod spectrum;
mod staging;
mod time;
mod typed_time;

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

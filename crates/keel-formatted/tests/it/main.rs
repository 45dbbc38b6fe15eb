//! Integration tests of the formatted zone's parsing and conversion.
//!
//! Table of contents:
//! - [`dialects`]: the three firmware dialects, line numbers, raw text and rules.
//! - [`formats`]: gzip and zip objects, Parquet and Excel workbooks formatted into Delta.
//! - [`ndjson`]: one JSON object per line, each line its own record or rejection.
//! - [`spectrum`]: the csv-spectrum corner cases from `../shared/data/real`.

mod dialects;
mod formats;
mod ndjson;
mod spectrum;

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

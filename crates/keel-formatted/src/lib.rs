//! The formatted zone: landing objects parsed with their source's dialect, mapped onto the
//! canonical schema, cleaned, deduplicated by key and committed as Delta tables. Every row
//! that cannot be formatted goes to the table's quarantine with its raw text, object, line
//! and reason; the ledger accounts for every row read.
//!
//! ```text
//!  SourceSpec ──plan──► SourcePlan (dialects, bindings, units, bounds, Arrow schema)
//!  landing object ──compression (gzip, zip members)──► inputs
//!  input ──parse::{csv,json,ndjson}──► RawRecord ──convert──► typed row | Rejection
//!  input ──parse::{parquet,xlsx}──► typed cells ──convert──► typed row | Rejection
//!  records of a chunk ──stage (spilled past a budget)──► dedup by key, a partition at a time
//!                     ──► Delta append or merge (txn-tagged) + quarantine
//!                                     └─► ledger + dataset version in the catalog
//! ```
//!
//! DataFusion's CSV/JSON readers fail a whole file for one bad row and silently turn
//! decimal commas into text or NULL, so keel splits and converts rows itself.
//!
//! Crate organisation:
//! - [`plan`]: a source's declaration validated and resolved.
//! - [`compression`]: gzip and zip objects opened into inputs, bounded and verified.
//! - [`parse`]: one module per format (`csv`, `json`, `ndjson`, `parquet`, `xlsx`),
//!   yielding records with their line and raw text.
//! - [`convert`]: typed values, units, null tokens, required and bounds rules.
//! - [`detect`]: dialect detection for `auto` dialects (encoding, delimiter, preamble,
//!   header, decimal, date formats, nulls), stored as the object's physical metadata.
//! - [`time`]: date and timestamp formats, time zones to UTC and the DST rule.
//! - [`units`]: unit conversion factors.
//! - [`evolve`]: a declaration that no longer matches its table: added, removed, widened
//!   and incompatible columns.
//! - [`rows`]: typed rows and quarantine rows as Arrow batches.
//! - `read`: one landing object into records, streamed (delimited text, plain or gzip)
//!   or read whole (the other formats), its sha256 verified.
//! - `parallel`: one large delimited-text object cut into chunks of whole records that
//!   every core parses and converts, handed on in the object's order.
//! - `stage`: a chunk's records on their way to one commit: Arrow batches partitioned by
//!   key, spilled to IPC files past a memory budget, deduplicated a partition at a time.
//! - [`exec`]: formatting the new objects of a source, chunk by chunk; rebuilds.
//! - [`reprocess`]: the quarantine parsed again after a declaration fix.
//! - [`physical`]: counters (cumulative registers) walked per series after a table
//!   changes; falls, spikes, jumps and roll-overs flagged in `flags.<table>`.
//! - [`quarantine`]: what a quarantine holds, by rule and column.

pub mod compression;
pub mod convert;
pub mod detect;
pub mod evolve;
pub mod exec;
mod parallel;
pub mod parse;
pub mod physical;
pub mod plan;
pub mod quarantine;
mod read;
pub mod reprocess;
pub mod rows;
mod stage;
pub mod time;
pub mod units;

pub use exec::{FormatReport, format_source};
pub use physical::{PhysicalReport, check_table};
pub use plan::SourcePlan;
pub use reprocess::{ReprocessReport, reprocess_quarantine};

use std::path::PathBuf;

use keel_core::ErrorKind;

/// Errors of the formatted zone. Bad rows are not errors: they go to quarantine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormattedError {
    /// A source declaration cannot be used.
    #[error("invalid source `{}`: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] keel_catalog::CatalogError),
    /// The engine (DataFusion, Delta) failed.
    #[error(transparent)]
    Engine(#[from] keel_engine::EngineError),
    /// An Arrow operation failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A landing object no longer matches its recorded hash.
    #[error("landing object `{object_id}` at `{}` does not match its sha256: the raw store was altered", path.display())]
    Corrupt { object_id: String, path: PathBuf },
}

impl FormattedError {
    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FormattedError::Config { .. } => ErrorKind::User,
            FormattedError::Corrupt { .. } => ErrorKind::Data,
            FormattedError::Catalog(e) => e.kind(),
            FormattedError::Engine(e) => e.kind(),
            _ => ErrorKind::External,
        }
    }
}

/// Result with [`FormattedError`] by default.
pub type Result<T, E = FormattedError> = std::result::Result<T, E>;

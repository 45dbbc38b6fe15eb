//! keel's catalog: the metadata store every zone writes to and reads from.
//!
//! ```text
//!  landing ──► manifest (objects, deliveries, collector state)
//!  formatted ─► ledger (per object and table) ─┐
//!  every zone ► datasets + versions (inputs) ──┼─► keel status, keel sql keel_catalog.*
//!  models ────► column lineage per version ────┤   keel lineage
//!  project ───► glossary, column docs, tags ───┤   keel glossary
//!  runtime ───► runs + steps (metrics) ────────┘
//! ```
//!
//! The store is SQLite in the lake (WAL, `synchronous=FULL`, a busy timeout). The catalog is
//! always written after the data it describes is committed, so it never points at data that
//! does not exist.
//!
//! Crate organisation:
//! - [`store`]: opening the database, pragmas and schema migrations.
//! - [`manifest`]: landing objects, deliveries and collector state.
//! - [`ledger`]: per object and table, `rows_read = written + quarantined + duplicate`.
//! - [`formatting`]: table generations (rebuilds) and quarantine reprocessing runs.
//! - [`metadata`]: physical metadata of landing objects (what dialect detection found).
//! - [`runs`]: runs and their steps with metrics.
//! - [`datasets`]: datasets of every zone and their versions, with the inputs each read.
//! - [`checks`]: the results of model checks, run after run.
//! - [`glossary`]: domain metadata: glossary terms, the columns linked to them, column
//!   descriptions and tags, replaced on every run.
//! - [`lineage`]: column lineage of each model version, and where a dataset version came
//!   from (the versions it read, the landing objects a formatted version holds).
//! - [`lineage_graph`]: upstream and downstream walks over version and column lineage.

pub mod checks;
pub mod datasets;
pub mod formatting;
pub mod glossary;
pub mod ledger;
pub mod lineage;
pub mod lineage_graph;
pub mod manifest;
pub mod metadata;
pub mod runs;
pub mod store;

pub use store::Catalog;

use keel_core::ErrorKind;

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The database failed.
    #[error("catalog database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A stored value could not be read back.
    #[error("catalog value: {0}")]
    Json(#[from] serde_json::Error),
    /// A dataset, version or column asked for that the catalog does not know.
    #[error("{0}")]
    NotFound(String),
    /// A broken invariant.
    #[error("catalog invariant broken: {0}")]
    Internal(String),
}

impl CatalogError {
    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::NotFound(_) => ErrorKind::User,
            CatalogError::Internal(_) => ErrorKind::Internal,
            _ => ErrorKind::External,
        }
    }
}

/// Result with [`CatalogError`] by default.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// The current time as an RFC 3339 UTC string with microseconds, as the catalog stores it.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

//! keel's engine: the DataFusion session every zone queries through, and the Delta writes
//! every zone commits through.
//!
//! ```text
//!   Lake ──► Session (SessionContext, information_schema)
//!              ├─ schema `formatted`     ← Delta tables of the formatted zone
//!              ├─ schema `exploitation`  ← Delta tables of the models
//!              └─ schema `keel_catalog`  ← the catalog's tables, read at open time
//!   RecordBatches ──► delta::{append, overwrite, merge} (txn-tagged, idempotent)
//! ```
//!
//! Crate organisation:
//! - [`session`]: building the session and registering the zones' tables.
//! - [`delta`]: opening Delta tables, idempotent writes, txn markers.
//! - [`catalog_tables`]: the catalog's SQLite tables as Arrow tables.
//! - [`frame`]: running a query into staged Arrow files, with what its scans read.

pub mod catalog_tables;
pub mod delta;
pub mod frame;
pub mod session;

pub use session::Session;

use keel_core::ErrorKind;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A query failed to plan or run.
    #[error(transparent)]
    DataFusion(Box<datafusion::error::DataFusionError>),
    /// A Delta operation failed.
    #[error("Delta table `{table}`: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// An Arrow operation failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] keel_catalog::CatalogError),
    /// A path is not usable as a table location.
    #[error("`{0}` is not a usable table location")]
    Location(String),
    /// A file operation failed (staging a result).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        EngineError::DataFusion(Box::new(e))
    }
}

impl EngineError {
    /// Who is at fault: a query that does not plan is the user's; the rest is outside.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::DataFusion(e) => match e.as_ref() {
                datafusion::error::DataFusionError::SQL(..)
                | datafusion::error::DataFusionError::Plan(_)
                | datafusion::error::DataFusionError::SchemaError(..) => ErrorKind::User,
                _ => ErrorKind::External,
            },
            EngineError::Catalog(e) => e.kind(),
            EngineError::Location(_) => ErrorKind::User,
            _ => ErrorKind::External,
        }
    }
}

/// Result with [`EngineError`] by default.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A schema as JSON: `[{"name", "type", "nullable"}]`, as the catalog stores it.
pub fn schema_json(schema: &arrow::datatypes::Schema) -> String {
    let fields: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
            })
        })
        .collect();
    serde_json::Value::Array(fields).to_string()
}

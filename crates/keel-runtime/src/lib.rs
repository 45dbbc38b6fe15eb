//! keel's runtime: plans a run from the project and runs its stages in order, one run at
//! a time per project, recording every step's metrics and checking the ledger.
//!
//! ```text
//!  keel run ──lock──► for each source: collect → land → format ──► ledger check
//!                                                                    │
//!                         models (DAG): build ◄──────────────────────┘
//!                                   └──► run + steps in the catalog, summary
//! ```
//!
//! Crate organisation:
//! - [`run`]: the run itself.
//! - [`lock`]: the project lock.
//! - [`metrics`]: peak memory and step timing.
//! - [`status`]: what `keel status` shows.

pub mod lock;
pub mod metrics;
pub mod run;
pub mod status;

pub use run::{RunOptions, RunOutcome, RunSummary, Stage, run};

use keel_core::ErrorKind;

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The project is invalid.
    #[error(transparent)]
    Core(#[from] keel_core::CoreError),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] keel_catalog::CatalogError),
    /// Landing failed.
    #[error(transparent)]
    Landing(#[from] keel_landing::LandingError),
    /// Formatting failed.
    #[error(transparent)]
    Formatted(#[from] keel_formatted::FormattedError),
    /// The exploitation zone failed.
    #[error(transparent)]
    Exploitation(#[from] keel_exploitation::ExploitationError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] keel_engine::EngineError),
    /// Another run holds the project.
    #[error("another keel run holds this project (lock `{0}`)")]
    Locked(String),
    /// The command names something the project does not have.
    #[error("{0}")]
    Usage(String),
    /// The ledger does not balance: rows were lost or doubled.
    #[error("the ledger does not balance: {0}")]
    LedgerBroken(String),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl RuntimeError {
    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::Core(e) => e.kind(),
            RuntimeError::Catalog(e) => e.kind(),
            RuntimeError::Landing(e) => e.kind(),
            RuntimeError::Formatted(e) => e.kind(),
            RuntimeError::Exploitation(e) => e.kind(),
            RuntimeError::Engine(e) => e.kind(),
            RuntimeError::Locked(_) | RuntimeError::Usage(_) => ErrorKind::User,
            RuntimeError::LedgerBroken(_) => ErrorKind::Internal,
            RuntimeError::Io(_) => ErrorKind::External,
        }
    }
}

/// Result with [`RuntimeError`] by default.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

//! The landing zone: collectors take raw data from sources into temporal landing; the
//! persistent loader moves it into immutable, content-addressed objects recorded in the
//! catalog manifest. Landing never parses content.
//!
//! ```text
//!  source dir ──collect──► temporal/<source>/<batch>/{0,1,..,_batch.json}
//!                                   │ load (hash known? → duplicate delivery)
//!                                   ▼
//!          persistent/<source>/<yyyy>/<mm>/<dd>/<ts>-<sha8>-<name>  + manifest row
//! ```
//!
//! Crate organisation:
//! - [`collect`]: the collectors, one module per source kind (files, http, sql, mqtt, nats).
//! - [`temporal`]: temporal batches, made visible atomically.
//! - [`persistent`]: the persistent loader.
//! - [`hash`]: content hashing while copying.

pub mod collect;
pub mod hash;
pub mod persistent;
pub mod temporal;

use std::path::PathBuf;

use keel_core::ErrorKind;

/// Errors of the landing zone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LandingError {
    /// A file operation failed (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] keel_catalog::CatalogError),
    /// A source declaration cannot be used.
    #[error("source `{source_name}`: {message}")]
    Config {
        source_name: String,
        message: String,
    },
    /// A source could not be read (connection, protocol, server error); the message is
    /// redacted of secrets.
    #[error("source `{source_name}`: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    /// A temporal batch is unreadable.
    #[error("temporal batch `{}`: {message}", path.display())]
    Batch { path: PathBuf, message: String },
}

impl LandingError {
    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LandingError::Config { .. } => ErrorKind::User,
            LandingError::Catalog(e) => e.kind(),
            LandingError::Io(_) | LandingError::Batch { .. } | LandingError::Source { .. } => {
                ErrorKind::External
            }
        }
    }
}

/// Result with [`LandingError`] by default.
pub type Result<T, E = LandingError> = std::result::Result<T, E>;

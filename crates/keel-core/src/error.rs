//! The error taxonomy: who is at fault decides the exit code and the HTTP status.

use std::path::PathBuf;

/// Who is at fault for an error; maps onto exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input or configuration is wrong.
    User,
    /// The data is malformed (a record, a file).
    Data,
    /// The outside world failed: I/O, object store, Delta, a database.
    External,
    /// A broken invariant inside keel.
    Internal,
}

impl ErrorKind {
    /// Exit code of the `keel` binary for an error of this kind (1 is kept for failed checks).
    pub fn exit_code(self) -> i32 {
        2
    }

    /// HTTP status for an error of this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::User => 400,
            ErrorKind::Data => 422,
            ErrorKind::External => 502,
            ErrorKind::Internal => 500,
        }
    }
}

/// Errors of the shared vocabulary: loading and validating a project.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A project file is malformed or refers to something that does not exist.
    #[error("invalid project file `{path}`: {message}")]
    Config { path: PathBuf, message: String },

    /// Reading a project file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl CoreError {
    /// Builds a [`CoreError::Config`] for `path`.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        CoreError::Config {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Who is at fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::Config { .. } => ErrorKind::User,
            CoreError::Io(_) => ErrorKind::External,
        }
    }
}

/// Result with [`CoreError`] by default.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

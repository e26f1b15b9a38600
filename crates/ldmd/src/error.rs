//! The daemon's error type.

use ldm_api::{ApiError, ErrorKind};
use thiserror::Error;

/// Everything that can go wrong inside ldmd.
#[derive(Debug, Error)]
pub enum Error {
    /// A refusal or failure to report to the administrator as is.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// A record in the database cannot be read.
    #[error("database record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// File system or socket error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The hypervisor layer failed.
    #[error("{0}")]
    Qemu(#[from] ldm_qemu::Error),
    /// The peer layer failed.
    #[error("{0}")]
    Peer(#[from] ldm_peer::Error),
}

impl Error {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Converts into what the CLI gets.
    pub fn to_api(&self) -> ApiError {
        match self {
            Error::Api(e) => e.clone(),
            Error::Qemu(e) => ApiError::new(ErrorKind::Hypervisor, e.to_string()),
            Error::Peer(e) => ApiError::new(ErrorKind::Peer, e.to_string()),
            other => ApiError::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

/// Shorthand constructors for refusals.
pub fn refuse(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::Api(ApiError::new(kind, message))
}

/// `Result` with the daemon's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

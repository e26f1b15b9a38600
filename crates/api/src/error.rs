//! Errors the daemon reports to the CLI.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Class of an error, so scripts and tests can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request was malformed or a value is invalid.
    BadRequest,
    /// The named object does not exist.
    NotFound,
    /// The name is taken.
    Exists,
    /// Not in a state that allows it.
    State,
    /// Not enough free resources.
    Resources,
    /// Another operation holds the domain.
    Busy,
    /// Authentication or authorisation failed.
    Denied,
    /// The hypervisor failed.
    Hypervisor,
    /// A peer could not be reached or misbehaved.
    Peer,
    /// A migration failed.
    Migration,
    /// The operation was cancelled.
    Cancelled,
    /// Anything else.
    Internal,
}

/// An error with a message that tells the administrator what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("{message}")]
pub struct ApiError {
    /// Class.
    pub kind: ErrorKind,
    /// Message for humans.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }
}

//! Live migration between two ldmd.

pub mod peer_server;
pub mod source;

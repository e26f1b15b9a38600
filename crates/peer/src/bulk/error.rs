//! What ends a bulk channel after its handshake.

use std::io;

/// Why a bulk channel ([`super::BulkServer`]) ended other than cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// TLS failed: a record did not decrypt (corrupted or forged), an
    /// unexpected message, an alert from the peer.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// Reading from the peer's TCP connection failed.
    #[error("reading from the peer: {0}")]
    PeerRead(#[source] io::Error),
    /// Writing to the peer's TCP connection failed.
    #[error("writing to the peer: {0}")]
    PeerWrite(#[source] io::Error),
    /// Reading from the local Unix socket failed.
    #[error("reading from the local socket: {0}")]
    LocalRead(#[source] io::Error),
    /// Writing to the local Unix socket failed.
    #[error("writing to the local socket: {0}")]
    LocalWrite(#[source] io::Error),
    /// The peer closed the connection in the middle of a TLS record.
    #[error("the peer closed the connection in the middle of a TLS record")]
    Truncated,
    /// The peer's plaintext ended before as many bytes as were asked for.
    #[error("the peer closed the channel after {got} of {wanted} bytes")]
    ShortRead {
        /// Bytes that arrived.
        got: usize,
        /// Bytes asked for.
        wanted: usize,
    },
    /// The peer sent 0-RTT data; the server configuration accepts none.
    #[error("the peer sent early data, which is not accepted")]
    EarlyData,
    /// rustls reached a state this relay does not know.
    #[error("unexpected TLS state {0}")]
    UnexpectedState(String),
    /// rustls could not encrypt or encode into the outgoing buffer.
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
}

impl BulkError {
    /// Whether TLS itself failed (a bad record, an alert), as opposed to a
    /// socket: worth a warning rather than a debug line.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_) | Self::Truncated | Self::EarlyData)
    }
}

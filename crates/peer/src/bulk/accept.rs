//! The server side of a bulk channel's TLS handshake.

use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{BulkError, BulkServer, Session};
use crate::connect::{accepted_client, accepted_peer, io_reason, HANDSHAKE_TIMEOUT};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;

/// Completes the server side of the TLS handshake on an accepted `tcp`
/// connection with `config` (from [`crate::server_config`]), within
/// [`HANDSHAKE_TIMEOUT`], for a channel that carries bulk data (a
/// migration channel). Returns the channel and the fingerprint of the
/// certificate the client presented, if any.
pub async fn accept_unbuffered(
    config: Arc<ServerConfig>,
    tcp: TcpStream,
) -> Result<(BulkServer, Option<Fingerprint>)> {
    let host = accepted_peer(&tcp);
    let conn = UnbufferedServerConnection::new(config).map_err(|e| Error::Handshake {
        host: host.clone(),
        reason: e.to_string(),
    })?;
    let mut server = BulkServer {
        session: Session::new(conn),
        tcp,
        tcp_eof: false,
    };
    timeout(HANDSHAKE_TIMEOUT, server.handshake())
        .await
        .map_err(|_| Error::HandshakeTimeout {
            host: host.clone(),
            secs: HANDSHAKE_TIMEOUT.as_secs(),
        })?
        .map_err(|e| handshake_error(&host, e))?;
    let client = accepted_client(&host, server.session.conn().peer_certificates());
    Ok((server, client))
}

impl BulkServer {
    /// Exchanges handshake records until rustls calls the handshake done.
    async fn handshake(&mut self) -> Result<(), BulkError> {
        loop {
            self.session.process()?;
            if !self.session.conn().is_handshaking() {
                return Ok(());
            }
            if self.session.peer_closed || self.tcp_eof {
                return Err(BulkError::PeerRead(
                    std::io::ErrorKind::UnexpectedEof.into(),
                ));
            }
            self.flush().await?;
            self.read_tcp().await?;
        }
    }
}

/// The handshake's failure as the crate's error, worded as
/// [`crate::accept`]'s.
fn handshake_error(host: &str, err: BulkError) -> Error {
    let reason = match err {
        BulkError::Tls(e) => e.to_string(),
        BulkError::PeerRead(e) | BulkError::PeerWrite(e) => io_reason(&e),
        other => other.to_string(),
    };
    Error::Handshake {
        host: host.to_owned(),
        reason,
    }
}

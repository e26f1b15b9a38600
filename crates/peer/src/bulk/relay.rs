//! Relaying an established bulk channel to a Unix socket, both ways.

use std::io::ErrorKind;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::session::{LOCAL_READ, OUTGOING_HIGH, PLAIN_HIGH};
use super::{BulkError, BulkServer};

/// What became possible.
enum Ready {
    PeerRead,
    PeerWrite,
    LocalRead,
    LocalWrite,
}

impl BulkServer {
    /// Carries plaintext between the channel and `unix` both ways until
    /// both directions ended: the peer's close_notify or EOF shuts down
    /// `unix`'s write side once everything before it was written; EOF on
    /// `unix` sends close_notify and shuts down the TCP write side. One
    /// task waits on whichever socket is ready, so a full local socket never
    /// holds up the other direction; the buffers are bounded (reading
    /// stops while the data read waits for the other socket).
    pub async fn relay(mut self, mut unix: UnixStream) -> Result<(), BulkError> {
        let mut local_shut = false;
        let mut tcp_shut = false;
        loop {
            // A partial record at the peer's EOF already ended the relay
            // in `try_read_tcp` (Truncated).
            self.session.process()?;
            let peer_done = self.session.peer_closed || self.tcp_eof;
            if peer_done && self.session.plain.is_empty() && !local_shut {
                local_shut = true;
                if let Err(e) = unix.shutdown().await {
                    tracing::debug!("migration channel: shutting down the local socket: {e}");
                }
            }
            let sent_all = self.session.sent_close_notify && self.session.outgoing.is_empty();
            if sent_all && !tcp_shut {
                tcp_shut = true;
                if let Err(e) = self.tcp.shutdown().await {
                    tracing::debug!("migration channel: shutting down the TCP write side: {e}");
                }
            }
            if local_shut && tcp_shut {
                return Ok(());
            }

            let peer_read = !peer_done && self.session.plain.len() < PLAIN_HIGH;
            let local_write = !self.session.plain.is_empty();
            let local_read = !self.session.local_eof
                && self.session.local.is_empty()
                && self.session.outgoing.len() < OUTGOING_HIGH;
            let peer_write = !self.session.outgoing.is_empty();
            let ready = tokio::select! {
                r = self.tcp.readable(), if peer_read => r.map(|()| Ready::PeerRead).map_err(BulkError::PeerRead)?,
                r = self.tcp.writable(), if peer_write => r.map(|()| Ready::PeerWrite).map_err(BulkError::PeerWrite)?,
                r = unix.readable(), if local_read => r.map(|()| Ready::LocalRead).map_err(BulkError::LocalRead)?,
                r = unix.writable(), if local_write => r.map(|()| Ready::LocalWrite).map_err(BulkError::LocalWrite)?,
                else => return Err(BulkError::UnexpectedState("nothing left to wait for".into())),
            };
            match ready {
                Ready::PeerRead => {
                    self.try_read_tcp()?;
                }
                Ready::PeerWrite => self.try_write_tcp()?,
                Ready::LocalRead => {
                    let local = &mut self.session.local;
                    local.resize(LOCAL_READ, 0);
                    match unix.try_read(local) {
                        Ok(0) => {
                            local.clear();
                            self.session.local_eof = true;
                        }
                        Ok(n) => local.truncate(n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => local.clear(),
                        Err(e) => return Err(BulkError::LocalRead(e)),
                    }
                }
                Ready::LocalWrite => match unix.try_write(self.session.plain.pending()) {
                    Ok(n) => self.session.plain.consume(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(BulkError::LocalWrite(e)),
                },
            }
        }
    }
}

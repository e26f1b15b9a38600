//! The receiving end of a bulk channel (a migration channel): TLS through
//! rustls's unbuffered API, with the buffers owned here.
//!
//! TLS bytes are read from the socket up to 256 KiB per system call straight
//! into one buffer and decrypted there; only a partial record at the
//! buffer's end is ever moved. rustls 0.23 still hands each record's
//! plaintext out in a buffer of its own, which is gathered into one queue
//! and written to the local Unix socket in large writes. With the buffered
//! API each byte was also copied into rustls's own buffer first. The other
//! direction (the target QEMU's return path, post-copy page requests) is
//! encrypted as soon as it is read from the local socket.

mod accept;
mod error;
mod queue;
mod relay;
mod session;

#[cfg(test)]
mod tests;

pub use accept::accept_unbuffered;
pub use error::BulkError;

use tokio::net::TcpStream;

use session::Session;

/// The server side of an established bulk channel: read the first bytes
/// with [`BulkServer::read_exact`], then [`BulkServer::relay`] it to a
/// Unix socket.
pub struct BulkServer {
    session: Session,
    tcp: TcpStream,
    /// The peer's TCP connection reached EOF.
    tcp_eof: bool,
}

impl BulkServer {
    /// Fills `buf` with the first plaintext bytes the peer sent. Bytes that
    /// arrived with them stay for [`BulkServer::relay`]. No deadline of
    /// its own: wrap it in one.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), BulkError> {
        loop {
            self.session.process()?;
            let have = self.session.plain.len();
            if have >= buf.len() {
                buf.copy_from_slice(&self.session.plain.pending()[..buf.len()]);
                self.session.plain.consume(buf.len());
                return Ok(());
            }
            if self.session.peer_closed || self.tcp_eof {
                return Err(BulkError::ShortRead {
                    got: have,
                    wanted: buf.len(),
                });
            }
            self.flush().await?;
            self.read_tcp().await?;
        }
    }

    /// Writes all of the outgoing TLS bytes to the peer.
    async fn flush(&mut self) -> Result<(), BulkError> {
        while !self.session.outgoing.is_empty() {
            self.tcp.writable().await.map_err(BulkError::PeerWrite)?;
            self.try_write_tcp()?;
        }
        Ok(())
    }

    /// Reads from the peer once, waiting until it has something.
    async fn read_tcp(&mut self) -> Result<(), BulkError> {
        loop {
            self.tcp.readable().await.map_err(BulkError::PeerRead)?;
            if self.try_read_tcp()? {
                return Ok(());
            }
        }
    }

    /// One non-blocking read from the peer into the incoming buffer;
    /// whether it read anything or reached EOF (false: it would block).
    fn try_read_tcp(&mut self) -> Result<bool, BulkError> {
        let room = self.session.incoming.spare(session::READ_MIN);
        match self.tcp.try_read(room) {
            Ok(0) => {
                self.tcp_eof = true;
                if !self.session.incoming.is_empty() {
                    return Err(BulkError::Truncated);
                }
                Ok(true)
            }
            Ok(n) => {
                self.session.incoming.commit(n);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(BulkError::PeerRead(e)),
        }
    }

    /// One non-blocking write of the outgoing TLS bytes to the peer.
    fn try_write_tcp(&mut self) -> Result<(), BulkError> {
        match self.tcp.try_write(self.session.outgoing.pending()) {
            Ok(n) => {
                self.session.outgoing.consume(n);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(BulkError::PeerWrite(e)),
        }
    }
}

//! The TLS state of a bulk channel, without sockets: rustls's unbuffered
//! server connection and the buffers this side owns. TLS bytes read from
//! the peer are decrypted where they lie in [`Session::incoming`];
//! plaintext for the local socket collects in [`Session::plain`], and
//! plaintext read from the local socket is encrypted straight into
//! [`Session::outgoing`].

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};

use super::error::BulkError;
use super::queue::Queue;

/// TLS bytes read from the peer per system call, at most; rustls alone
/// reads one record (about 16 KiB) per call. Small enough that the
/// plaintext is still in the cache when it is written to the local socket.
pub(crate) const INCOMING: usize = 256 * 1024;
/// Room the incoming buffer must have before a read: more than one
/// record (16 KiB of plaintext plus the record's overhead).
pub(crate) const READ_MIN: usize = 64 * 1024;
/// Plaintext for the local socket beyond which no more is read from the
/// peer until the local socket took some.
pub(crate) const PLAIN_HIGH: usize = 256 * 1024;
/// Plaintext read from the local socket at once.
pub(crate) const LOCAL_READ: usize = 64 * 1024;
/// Room for encrypting one local read: the plaintext plus each record's
/// header, content type and tag, with a margin.
const ENCRYPT_ROOM: usize = LOCAL_READ + 4096;
/// Encrypted bytes for the peer beyond which no more is read from the
/// local socket until the peer took some.
pub(crate) const OUTGOING_HIGH: usize = 256 * 1024;

/// See the module docs.
pub(crate) struct Session {
    conn: UnbufferedServerConnection,
    /// TLS bytes from the peer not yet processed (at most a partial
    /// record once [`Session::process`] returned).
    pub(crate) incoming: Queue,
    /// Decrypted plaintext for the local socket.
    pub(crate) plain: Queue,
    /// TLS bytes for the peer.
    pub(crate) outgoing: Queue,
    /// Plaintext from the local socket waiting to be encrypted.
    pub(crate) local: Vec<u8>,
    /// The peer sent close_notify.
    pub(crate) peer_closed: bool,
    /// The local socket reached EOF: close_notify is due.
    pub(crate) local_eof: bool,
    /// close_notify is in [`Session::outgoing`].
    pub(crate) sent_close_notify: bool,
}

impl Session {
    pub(crate) fn new(conn: UnbufferedServerConnection) -> Self {
        Self {
            conn,
            incoming: Queue::with_capacity(INCOMING + READ_MIN),
            plain: Queue::with_capacity(2 * PLAIN_HIGH),
            outgoing: Queue::with_capacity(OUTGOING_HIGH + 2 * ENCRYPT_ROOM),
            local: Vec::with_capacity(LOCAL_READ),
            peer_closed: false,
            local_eof: false,
            sent_close_notify: false,
        }
    }

    /// The rustls connection, for what it knows (handshake done, the
    /// client's certificate).
    pub(crate) fn conn(&self) -> &UnbufferedServerConnection {
        &self.conn
    }

    /// Processes every complete record in [`Session::incoming`] (their
    /// plaintext appended to [`Session::plain`], handshake and
    /// post-handshake messages answered into [`Session::outgoing`]), then,
    /// once application data may be sent, encrypts [`Session::local`] and
    /// queues close_notify if due. Returns when rustls needs more bytes
    /// from the peer or has nothing more to do.
    pub(crate) fn process(&mut self) -> Result<(), BulkError> {
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(self.incoming.pending_mut());
            let mut discard = discard;
            let mut done = false;
            match state? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record?;
                        discard += record.discard;
                        self.plain.extend(record.payload);
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    let mut room = self.outgoing.tail_room();
                    let written = loop {
                        match encode.encode(self.outgoing.spare(room)) {
                            Ok(n) => break n,
                            Err(EncodeError::InsufficientSize(e)) if e.required_size > room => {
                                room = e.required_size;
                            }
                            Err(e) => return Err(BulkError::Encrypt(e.to_string())),
                        }
                    };
                    self.outgoing.commit(written);
                }
                // What is encoded sits in `outgoing`, which goes to the peer
                // in order before anything encoded later.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed => self.peer_closed = true,
                ConnectionState::Closed => {
                    self.peer_closed = true;
                    done = true;
                }
                ConnectionState::BlockedHandshake => done = true,
                ConnectionState::WriteTraffic(mut write) => {
                    if !self.local.is_empty() && self.outgoing.len() < OUTGOING_HIGH {
                        let n = write
                            .encrypt(&self.local, self.outgoing.spare(ENCRYPT_ROOM))
                            .map_err(encrypt_error)?;
                        self.outgoing.commit(n);
                        self.local.clear();
                    }
                    if self.local_eof && self.local.is_empty() && !self.sent_close_notify {
                        let n = write
                            .queue_close_notify(self.outgoing.spare(ENCRYPT_ROOM))
                            .map_err(encrypt_error)?;
                        self.outgoing.commit(n);
                        self.sent_close_notify = true;
                    }
                    done = true;
                }
                ConnectionState::ReadEarlyData(_) => return Err(BulkError::EarlyData),
                other => return Err(BulkError::UnexpectedState(format!("{other:?}"))),
            }
            self.incoming.consume(discard);
            if done {
                return Ok(());
            }
        }
    }
}

fn encrypt_error(e: EncryptError) -> BulkError {
    BulkError::Encrypt(e.to_string())
}

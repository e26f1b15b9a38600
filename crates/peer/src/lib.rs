//! Manager-to-manager security and framing for ldm.
//!
//! Every host running `ldmd` has a [`HostIdentity`]: a self-signed
//! certificate whose SHA-256 [`Fingerprint`] peers pin, the way ssh pins host
//! keys. Managers connect to each other over TLS ([`connect`], [`accept`])
//! with configurations from [`client_config`] and [`server_config`]; a
//! changed certificate surfaces as [`Error::CertificateChanged`], and
//! [`probe_fingerprint`] fetches a host's fingerprint for the first-contact
//! "do you trust this?" question. Messages travel as length-delimited JSON
//! frames ([`Framed`]). Migration channels are accepted with
//! [`accept_unbuffered`] and relayed to a Unix socket ([`BulkServer`]).
//!
//! Account passwords are stored as argon2id hashes ([`hash_password`],
//! [`verify_password`]), read from files only when those are private
//! ([`read_password_file`]), computed on a small fixed pool of threads
//! ([`verify_password_pooled`]), and guessing is slowed down per user and
//! per address ([`AuthThrottle`]).

#![warn(missing_docs)]

mod bulk;
mod connect;
mod error;
mod fingerprint;
mod framing;
mod hashpool;
mod identity;
mod passfile;
mod password;
mod ratelimit;
mod tls;
mod verify;

pub use bulk::{accept_unbuffered, BulkError, BulkServer};
pub use connect::{
    accept, connect, connect_named, peer_fingerprint, probe_fingerprint, probe_fingerprint_named,
    ClientStream, ServerStream, CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT,
};
pub use error::{Error, Result};
pub use fingerprint::Fingerprint;
pub use framing::{FrameReceiver, FrameSender, Framed, MAX_FRAME_LEN, PRE_AUTH_MAX_FRAME_LEN};
pub use hashpool::{hash_password_pooled, verify_password_pooled, HASH_QUEUE, HASH_THREADS};
pub use identity::{HostIdentity, CERT_FILE, KEY_FILE};
pub use passfile::read_password_file;
pub use password::{hash_password, verify_password};
pub use ratelimit::{AuthThrottle, ThrottleKey, TooManyAttempts, MAX_DELAY, MAX_QUEUE};
pub use tls::{client_config, server_config, ALPN_PROTOCOL};
pub use verify::{pin_mismatch, OptionalClientVerifier, PinMismatch, PinnedServerVerifier};

pub use tokio_rustls::TlsAcceptor;

//! The crate-wide error type.
//!
//! Every message is meant to be shown to a person as is: it says what went
//! wrong and, where there is something to do about it, what to do.

use std::io;
use std::path::PathBuf;

use crate::fingerprint::Fingerprint;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in manager-to-manager security and framing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The identity directory or one of its files could not be read or written.
    #[error("cannot {action} {path}: {source}. Check that the directory exists and that ldmd may write there (it normally runs as root)")]
    IdentityIo {
        /// What was being done ("create", "read", "write", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Only one of the two identity files exists.
    #[error("the host identity in {dir} is incomplete: {present} exists but {missing} does not. Restore the missing file from a backup, or remove {present} to let ldmd create a new identity (peers that trusted the old one will then have to trust the new one)")]
    IdentityIncomplete {
        /// The identity directory.
        dir: PathBuf,
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },

    /// An identity file exists but its content is unusable.
    #[error("the host identity file {path} is unusable: {reason}. Restore it from a backup, or remove both host-cert.pem and host-key.pem to let ldmd create a new identity")]
    IdentityInvalid {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Generating a new certificate and key failed.
    #[error("cannot generate a host certificate for {hostname:?}: {source}. The host name must be an ASCII DNS name or an IP address")]
    CertificateGeneration {
        /// The host name the certificate was for.
        hostname: String,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },

    /// A fingerprint string could not be parsed.
    #[error("{input:?} is not a certificate fingerprint: {reason}. Expected 32 hexadecimal byte pairs separated by ':' (as printed by `ldm` or `openssl x509 -noout -fingerprint -sha256`)")]
    InvalidFingerprint {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The peer presented a certificate other than the pinned one.
    #[error("the certificate of {host} has changed: expected fingerprint {expected}, got {presented}. If the host was reinstalled, remove the old trust with `ldm remove-trust {host}` and add it again; otherwise someone may be intercepting the connection")]
    CertificateChanged {
        /// The host as the user named it (or its address).
        host: String,
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint of the certificate the peer actually presented.
        presented: Fingerprint,
    },

    /// The TCP connection could not be established.
    #[error("cannot reach ldmd on {host}: {reason}. Is ldmd running there with --listen?")]
    Connect {
        /// The host as the user named it (or its address), with the port.
        host: String,
        /// Why, in a few words ("connection refused", ...).
        reason: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The TCP connection did not complete in time.
    #[error("cannot reach ldmd on {host}: no answer within {secs} s. Check the address and port, and that no firewall drops the connection")]
    ConnectTimeout {
        /// The host as the user named it (or its address), with the port.
        host: String,
        /// The time waited, in seconds.
        secs: u64,
    },

    /// The TLS handshake did not complete in time.
    #[error("the TLS handshake with {host} did not complete within {secs} s. Is the port really an ldmd listener (ldmd --listen)?")]
    HandshakeTimeout {
        /// The peer, as the user named it or its address.
        host: String,
        /// The time waited, in seconds.
        secs: u64,
    },

    /// The TLS handshake failed for a reason other than a changed certificate.
    #[error("the TLS handshake with {host} failed: {reason}. Check that the port is an ldmd listener (ldmd --listen) and that both hosts run compatible ldm versions")]
    Handshake {
        /// The peer, as the user named it or its address.
        host: String,
        /// What rustls or the transport reported.
        reason: String,
    },

    /// A TLS configuration could not be built from the host identity.
    #[error("cannot set up TLS with the host identity: {0}. Remove host-cert.pem and host-key.pem to let ldmd create a new identity")]
    TlsConfig(#[source] rustls::Error),

    /// A message to send, or a frame received, exceeds the frame limit.
    #[error("a message of {size} bytes exceeds the limit of {max} bytes per message; this is a bug in ldm or the peer runs an incompatible version")]
    FrameTooLarge {
        /// The size of the message, if known (0 when the peer announced an oversized frame).
        size: usize,
        /// The limit.
        max: usize,
    },

    /// The peer sent nothing for too long.
    #[error("the peer sent nothing for {secs} s; the connection was closed")]
    IdleTimeout {
        /// The deadline, in seconds.
        secs: u64,
    },

    /// A message could not be encoded as JSON.
    #[error("cannot encode a message: {0}; this is a bug in ldm")]
    Encode(#[source] serde_json::Error),

    /// A message received could not be decoded.
    #[error("received a malformed message from the peer: {0}. Both hosts must run compatible ldm versions")]
    Decode(#[source] serde_json::Error),

    /// The connection failed while sending or receiving messages.
    #[error("the connection to the peer failed: {0}")]
    Transport(#[source] io::Error),

    /// An empty password was given where one is required.
    #[error("the password is empty; choose a non-empty password")]
    EmptyPassword,

    /// Too many password checks are already running or waiting.
    #[error("too many logins are being checked at the moment; try again in a few seconds")]
    HashBusy,

    /// Hashing a password failed.
    #[error("cannot hash the password: {0}")]
    PasswordHash(String),

    /// The password file does not exist.
    #[error("password file {path} does not exist; create it with the password on its first line and run `chmod 600 {path}`")]
    PasswordFileMissing {
        /// The password file.
        path: PathBuf,
    },

    /// The password file is not a regular file.
    #[error("password file {path} is not a regular file; give the path of a file holding the password on its first line")]
    PasswordFileNotRegular {
        /// The password file.
        path: PathBuf,
    },

    /// The password file is owned by another user.
    #[error("password file {path} is owned by uid {owner}, not by you (uid {uid}); run `chown {uid} {path}` or use a file of your own")]
    PasswordFileWrongOwner {
        /// The password file.
        path: PathBuf,
        /// The uid owning the file.
        owner: u32,
        /// The effective uid of this process.
        uid: u32,
    },

    /// The password file grants permissions to group or others.
    #[error("password file {path} is {} by others (mode {mode:04o}); run `chmod 600 {path}`", access_words(*.mode))]
    PasswordFileInsecure {
        /// The password file.
        path: PathBuf,
        /// The permission bits of the file.
        mode: u32,
    },

    /// The password file's first line is empty.
    #[error("password file {path} holds an empty password; put the password on its first line")]
    PasswordFileEmpty {
        /// The password file.
        path: PathBuf,
    },

    /// The password file could not be read.
    #[error("cannot read password file {path}: {source}")]
    PasswordFileRead {
        /// The password file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Words for the group/other permission bits of `mode`.
fn access_words(mode: u32) -> &'static str {
    if mode & 0o044 != 0 {
        "readable"
    } else if mode & 0o022 != 0 {
        "writable"
    } else {
        "accessible"
    }
}

impl Error {
    /// Builds [`Error::Connect`] from a TCP connect error, with a short reason.
    pub(crate) fn connect(host: String, source: io::Error) -> Self {
        let reason = match source.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
            io::ErrorKind::AddrNotAvailable => "address not available".to_owned(),
            io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => match source.raw_os_error() {
                Some(libc::EHOSTUNREACH) => "no route to host".to_owned(),
                Some(libc::ENETUNREACH) => "network unreachable".to_owned(),
                _ => source.to_string(),
            },
        };
        Error::Connect {
            host,
            reason,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_message_names_mode_and_fix() {
        let e = Error::PasswordFileInsecure {
            path: PathBuf::from("/etc/ldm/pw"),
            mode: 0o644,
        };
        assert_eq!(
            e.to_string(),
            "password file /etc/ldm/pw is readable by others (mode 0644); run `chmod 600 /etc/ldm/pw`"
        );
        let e = Error::PasswordFileInsecure {
            path: PathBuf::from("p"),
            mode: 0o620,
        };
        assert!(e.to_string().contains("writable by others (mode 0620)"));
    }

    #[test]
    fn connect_message_is_short() {
        let e = Error::connect(
            "hostb:7700".into(),
            io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(
            e.to_string(),
            "cannot reach ldmd on hostb:7700: connection refused. Is ldmd running there with --listen?"
        );
    }
}

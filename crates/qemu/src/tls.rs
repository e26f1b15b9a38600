//! TLS pre-shared-key credentials for encrypted migration.
//!
//! QEMU's `tls-creds-psk` object reads `DIR/keys.psk`, whose lines are
//! `username:hexkey`. The client (migration source) looks its `username`
//! up in the file when the object is created (an unknown username makes
//! `object-add` fail; QEMU's default username is "qemu"); the server
//! (target) accepts any identity listed in its file. Both ends must hold
//! the same key for the username. A key mismatch shows on the source as
//! a failed migration, "TLS handshake failed: ...", while the target
//! stays in `inmigrate`, still listening.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The file QEMU reads in a PSK credentials directory.
pub const PSK_KEYS_FILE: &str = "keys.psk";

/// Length of keys made by [`generate_psk_key`], in bytes.
pub const PSK_KEY_LEN: usize = 32;

/// Which side of the TLS connection a credentials object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsEndpoint {
    /// The migration target (it listens).
    Server,
    /// The migration source (it connects).
    Client,
}

impl TlsEndpoint {
    /// QEMU's name for the endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsEndpoint::Server => "server",
            TlsEndpoint::Client => "client",
        }
    }
}

impl fmt::Display for TlsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `object-add` arguments for a `tls-creds-psk` object with this id,
/// reading `dir/keys.psk`. `username` is the identity the client presents
/// (it is left out for the server, which QEMU ignores it for).
///
/// Pass the result to [`crate::Qmp::object_add`], then name `id` in
/// [`crate::MigrationTuning::tls_creds`].
pub fn tls_creds_psk_object(id: &str, dir: &Path, endpoint: TlsEndpoint, username: &str) -> Value {
    let mut obj = json!({
        "qom-type": "tls-creds-psk",
        "id": id,
        "endpoint": endpoint.as_str(),
        "dir": dir.to_string_lossy(),
    });
    if endpoint == TlsEndpoint::Client {
        obj["username"] = json!(username);
    }
    obj
}

/// Writes `dir/keys.psk` holding the single line `username:hexkey`, with
/// mode 0600 (creating `dir` with mode 0700 if needed), replacing any
/// previous file atomically. Returns the file's path.
pub fn write_psk_keys(dir: &Path, username: &str, key: &[u8]) -> Result<PathBuf> {
    if username.is_empty() || username.contains([':', '\n', '\r']) {
        return Err(Error::io(
            format!("invalid PSK username {username:?}"),
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "use a non-empty name without ':' or line breaks",
            ),
        ));
    }
    if key.is_empty() {
        return Err(Error::io(
            "invalid PSK key",
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "the key is empty"),
        ));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("cannot create PSK directory {}", dir.display()), e))?;

    let path = dir.join(PSK_KEYS_FILE);
    let tmp = dir.join(format!(".{PSK_KEYS_FILE}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(f, "{username}:{}", hex(key))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("cannot write PSK keys file {}", path.display()), e)
    })?;
    Ok(path)
}

/// A new random key of [`PSK_KEY_LEN`] bytes from the kernel's CSPRNG.
pub fn generate_psk_key() -> Result<Vec<u8>> {
    let mut key = vec![0u8; PSK_KEY_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| Error::io("cannot read random bytes from /dev/urandom", e))?;
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn objects() {
        let dir = Path::new("/var/lib/ldm/psk");
        assert_eq!(
            tls_creds_psk_object("tls0", dir, TlsEndpoint::Client, "ldm"),
            json!({"qom-type": "tls-creds-psk", "id": "tls0", "endpoint": "client",
                   "dir": "/var/lib/ldm/psk", "username": "ldm"})
        );
        assert!(
            tls_creds_psk_object("tls0", dir, TlsEndpoint::Server, "ldm")
                .get("username")
                .is_none()
        );
    }

    #[test]
    fn keys_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("psk");
        let key = generate_psk_key().unwrap();
        assert_eq!(key.len(), PSK_KEY_LEN);
        let path = write_psk_keys(&dir, "ldm", &key).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("ldm:{}\n", hex(&key)));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        // Rewriting replaces the file.
        write_psk_keys(&dir, "other", &[0xab, 0x01]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "other:ab01\n");
        assert!(write_psk_keys(&dir, "a:b", &key).is_err());
        assert!(write_psk_keys(&dir, "ldm", &[]).is_err());
    }
}

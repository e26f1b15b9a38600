//! The host identity: a self-signed certificate and its private key, kept in
//! a directory and created on first use.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::tls::provider;

/// File name of the host certificate inside the identity directory.
pub const CERT_FILE: &str = "host-cert.pem";
/// File name of the host private key inside the identity directory.
pub const KEY_FILE: &str = "host-key.pem";

/// A host's certificate and private key.
///
/// The certificate is self-signed (ECDSA P-256); peers trust it by pinning
/// its [`Fingerprint`], never through a CA.
pub struct HostIdentity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    fingerprint: Fingerprint,
}

impl HostIdentity {
    /// Loads the identity from `dir`, creating it on first use.
    ///
    /// When neither `dir/host-cert.pem` nor `dir/host-key.pem` exists, a new
    /// self-signed certificate for `hostname` is generated (subject alt name
    /// `hostname`, as an IP address if it parses as one) and both files are
    /// written, the key with mode 0600; `dir` is created (mode 0700) if
    /// needed. Later calls load the files; `hostname` is then ignored, so the
    /// fingerprint stays the same even if the host is renamed.
    ///
    /// Refuses, rather than overwriting, when only one of the files exists
    /// or when they do not hold a matching certificate and key.
    pub fn load_or_create(dir: &Path, hostname: &str) -> Result<HostIdentity> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let cert_exists = exists(&cert_path)?;
        let key_exists = exists(&key_path)?;
        match (cert_exists, key_exists) {
            (true, true) => Self::load(&cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path, hostname),
            (true, false) => Err(Error::IdentityIncomplete {
                dir: dir.to_owned(),
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(Error::IdentityIncomplete {
                dir: dir.to_owned(),
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    /// Generates a new identity in memory, without touching the disk.
    pub fn generate(hostname: &str) -> Result<HostIdentity> {
        let (cert_pem, key_pem) = generate_pem(hostname)?;
        Self::from_pem(
            cert_pem.as_bytes(),
            key_pem.as_bytes(),
            Path::new("<generated>"),
        )
    }

    /// Builds an identity from PEM text: the first certificate of
    /// `cert_pem` and the private key of `key_pem`. `origin` names where
    /// they came from, for error messages.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], origin: &Path) -> Result<HostIdentity> {
        let cert = parse_cert_pem(cert_pem, origin)?;
        let key = parse_key_pem(key_pem, origin)?;
        Self::from_der(cert, key, origin)
    }

    /// Builds an identity from a DER certificate and private key, checking
    /// that they belong together. `origin` names where they came from, for
    /// error messages.
    pub fn from_der(
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
        origin: &Path,
    ) -> Result<HostIdentity> {
        CertifiedKey::from_der(vec![cert.clone()], key.clone_key(), &provider()).map_err(|e| {
            Error::IdentityInvalid {
                path: origin.to_owned(),
                reason: format!("the certificate and key do not form a usable pair ({e})"),
            }
        })?;
        let fingerprint = Fingerprint::of_der(&cert);
        Ok(HostIdentity {
            cert,
            key,
            fingerprint,
        })
    }

    /// The certificate, DER-encoded.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The private key, DER-encoded (PKCS#8 for generated identities).
    pub fn key_der(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The SHA-256 fingerprint of the certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<HostIdentity> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        warn_if_key_exposed(key_path);
        let cert = parse_cert_pem(&cert_pem, cert_path)?;
        let key = parse_key_pem(&key_pem, key_path)?;
        let identity = Self::from_der(cert, key, key_path)?;
        tracing::debug!(
            fingerprint = %identity.fingerprint,
            cert = %cert_path.display(),
            "loaded host identity"
        );
        Ok(identity)
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path, hostname: &str) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| Error::IdentityIo {
                action: "create directory",
                path: dir.to_owned(),
                source,
            })?;
        let (cert_pem, key_pem) = generate_pem(hostname)?;
        let identity = Self::from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), key_path)?;
        // Key first: a crash in between leaves a key without certificate,
        // which load_or_create reports instead of silently replacing.
        write_new(key_path, key_pem.as_bytes(), 0o600)?;
        write_new(cert_path, cert_pem.as_bytes(), 0o644)?;
        tracing::info!(
            fingerprint = %identity.fingerprint,
            %hostname,
            dir = %dir.display(),
            "created a new host identity"
        );
        Ok(identity)
    }
}

impl Clone for HostIdentity {
    fn clone(&self) -> Self {
        HostIdentity {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint,
        }
    }
}

impl fmt::Debug for HostIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Generates a self-signed ECDSA P-256 certificate for `hostname`; returns
/// (certificate PEM, PKCS#8 key PEM).
fn generate_pem(hostname: &str) -> Result<(String, String)> {
    let gen_err = |source| Error::CertificateGeneration {
        hostname: hostname.to_owned(),
        source,
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    // CertificateParams::new makes an IP SAN of anything that parses as an
    // IP address and a DNS SAN of the rest.
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()]).map_err(gen_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hostname);
    dn.push(rcgen::DnType::OrganizationName, "ldm host identity");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn parse_cert_pem(pem: &[u8], origin: &Path) -> Result<CertificateDer<'static>> {
    let invalid = |reason: String| Error::IdentityInvalid {
        path: origin.to_owned(),
        reason,
    };
    rustls_pemfile::certs(&mut BufReader::new(pem))
        .next()
        .ok_or_else(|| invalid("it holds no PEM certificate".into()))?
        .map_err(|e| invalid(format!("malformed PEM: {e}")))
}

fn parse_key_pem(pem: &[u8], origin: &Path) -> Result<PrivateKeyDer<'static>> {
    let invalid = |reason: String| Error::IdentityInvalid {
        path: origin.to_owned(),
        reason,
    };
    rustls_pemfile::private_key(&mut BufReader::new(pem))
        .map_err(|e| invalid(format!("malformed PEM: {e}")))?
        .ok_or_else(|| invalid("it holds no PEM private key".into()))
}

fn exists(path: &Path) -> Result<bool> {
    path.try_exists().map_err(|source| Error::IdentityIo {
        action: "check",
        path: path.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| Error::IdentityIo {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

fn warn_if_key_exposed(key_path: &Path) {
    if let Ok(meta) = fs::metadata(key_path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                key = %key_path.display(),
                mode = format_args!("{mode:04o}"),
                "the host key is accessible to other users; run `chmod 600 {}`",
                key_path.display()
            );
        }
    }
}

/// Writes `data` to a new file `path` with `mode`, going through a temporary
/// file in the same directory so that `path` never holds partial content;
/// fails if `path` already exists.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp: PathBuf = {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".tmp{}", std::process::id()));
        path.with_file_name(name)
    };
    let io_err = |action, p: &Path| {
        let p = p.to_owned();
        move |source| Error::IdentityIo {
            action,
            path: p,
            source,
        }
    };
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    // The umask may have cleared bits of `mode`; set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("set permissions of", &tmp))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(io_err("write", &tmp))?;
    drop(file);
    // link(2), unlike rename(2), never replaces a file another process may
    // have created meanwhile.
    let linked = fs::hard_link(&tmp, path).map_err(io_err("create", path));
    let _ = fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let ids = dir.path().join("ids");
        let first = HostIdentity::load_or_create(&ids, "hosta.example").unwrap();
        let key_mode = fs::metadata(ids.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let dir_mode = fs::metadata(&ids).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);

        let second = HostIdentity::load_or_create(&ids, "renamed").unwrap();
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert_eq!(first.cert_der(), second.cert_der());
        assert_eq!(Fingerprint::of_der(second.cert_der()), second.fingerprint());
    }

    #[test]
    fn distinct_hosts_get_distinct_fingerprints() {
        let a = HostIdentity::generate("hosta").unwrap();
        let b = HostIdentity::generate("hosta").unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn ip_hostname_is_accepted() {
        HostIdentity::generate("192.0.2.7").unwrap();
        HostIdentity::generate("::1").unwrap();
    }

    #[test]
    fn non_ascii_hostname_is_a_generation_error() {
        let err = HostIdentity::generate("hôte").unwrap_err();
        assert!(matches!(err, Error::CertificateGeneration { .. }), "{err}");
    }

    #[test]
    fn incomplete_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        HostIdentity::load_or_create(dir.path(), "h").unwrap();
        fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let err = HostIdentity::load_or_create(dir.path(), "h").unwrap_err();
        assert!(matches!(err, Error::IdentityIncomplete { .. }), "{err}");
        // The key was not replaced.
        assert!(dir.path().join(KEY_FILE).exists());
        assert!(!dir.path().join(CERT_FILE).exists());
    }

    #[test]
    fn corrupt_or_mismatched_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        HostIdentity::load_or_create(dir.path(), "h").unwrap();
        // A key from another identity does not match the certificate.
        let other = tempfile::tempdir().unwrap();
        HostIdentity::load_or_create(other.path(), "h").unwrap();
        fs::copy(other.path().join(KEY_FILE), dir.path().join(KEY_FILE)).unwrap();
        let err = HostIdentity::load_or_create(dir.path(), "h").unwrap_err();
        assert!(matches!(err, Error::IdentityInvalid { .. }), "{err}");

        fs::write(dir.path().join(CERT_FILE), "garbage").unwrap();
        let err = HostIdentity::load_or_create(dir.path(), "h").unwrap_err();
        match err {
            Error::IdentityInvalid { path, .. } => assert!(path.ends_with(CERT_FILE)),
            other => panic!("unexpected {other}"),
        }
    }
}

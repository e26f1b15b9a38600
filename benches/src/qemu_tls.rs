//! QEMU's own TLS for the "QEMU tuned with TLS" side: x509 credentials
//! made with rcgen (as ldm makes its host identities): a CA, and a server
//! certificate for the destination's lab address signed by it. The
//! destination presents the certificate; the source checks it against the
//! CA and the address (`tls-hostname`). As with ldm, each migration gets
//! credentials of its own.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{json, Value};

/// The credentials object's id in both QEMUs.
pub const CREDS_ID: &str = "tls0";

/// The two credential directories QEMU reads.
pub struct Creds {
    /// `ca-cert.pem`, `server-cert.pem`, `server-key.pem`.
    pub server_dir: PathBuf,
    /// `ca-cert.pem`.
    pub client_dir: PathBuf,
}

/// Writes fresh credentials under `dir` for a server at `addr`.
pub fn make(dir: &Path, addr: Ipv4Addr) -> anyhow::Result<Creds> {
    let ca_key = KeyPair::generate().context("CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca.distinguished_name
        .push(DnType::CommonName, "ldm-bench migration CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).context("CA certificate")?;

    let key = KeyPair::generate().context("server key")?;
    let mut server = CertificateParams::new(vec![addr.to_string()]).context("server parameters")?;
    server
        .distinguished_name
        .push(DnType::CommonName, addr.to_string());
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server
        .signed_by(&key, &ca_cert, &ca_key)
        .context("server certificate")?;

    let creds = Creds {
        server_dir: dir.join("tls-server"),
        client_dir: dir.join("tls-client"),
    };
    for d in [&creds.server_dir, &creds.client_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        std::fs::write(d.join("ca-cert.pem"), ca_cert.pem())?;
    }
    std::fs::write(creds.server_dir.join("server-cert.pem"), server_cert.pem())?;
    std::fs::write(creds.server_dir.join("server-key.pem"), key.serialize_pem())?;
    Ok(creds)
}

/// The `object-add` arguments of a `tls-creds-x509` object.
pub fn object(dir: &Path, server: bool) -> Value {
    json!({
        "qom-type": "tls-creds-x509",
        "id": CREDS_ID,
        "endpoint": if server { "server" } else { "client" },
        "dir": dir.to_string_lossy(),
        "verify-peer": !server,
    })
}

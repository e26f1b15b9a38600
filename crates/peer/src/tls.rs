//! TLS configurations for manager-to-manager connections.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig};

use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::identity::HostIdentity;
use crate::verify::{OptionalClientVerifier, PinnedServerVerifier, ProbeServerVerifier};

/// The ALPN protocol both ends announce, so that a connection to something
/// other than an ldm manager fails during the handshake.
pub const ALPN_PROTOCOL: &[u8] = b"ldm/1";

/// TLS versions offered, most preferred first.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ring crypto provider every configuration of this crate uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The server configuration of a manager listening for peers.
///
/// The server presents `identity`'s certificate and asks clients for a
/// certificate without requiring one; after the handshake,
/// [`crate::peer_fingerprint`] tells which certificate, if any, a client
/// presented.
pub fn server_config(identity: &HostIdentity) -> Result<Arc<ServerConfig>> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(Error::TlsConfig)?
        .with_client_cert_verifier(Arc::new(OptionalClientVerifier::new()))
        .with_single_cert(
            vec![identity.cert_der().clone()],
            identity.key_der().clone_key(),
        )
        .map_err(Error::TlsConfig)?;
    cfg.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
    Ok(Arc::new(cfg))
}

/// The client configuration for connecting to a peer whose certificate has
/// fingerprint `expected`.
///
/// With `identity`, the client presents that certificate when the server
/// asks (certificate authentication); without, it presents none.
pub fn client_config(
    identity: Option<&HostIdentity>,
    expected: Fingerprint,
) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(Error::TlsConfig)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(expected)));
    let mut cfg = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.cert_der().clone()], id.key_der().clone_key())
            .map_err(Error::TlsConfig)?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
    Ok(Arc::new(cfg))
}

/// The client configuration of [`crate::probe_fingerprint`]: trusts any
/// server certificate, presents none.
pub(crate) fn probe_client_config() -> Result<Arc<ClientConfig>> {
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(Error::TlsConfig)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ProbeServerVerifier::new()))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_build_from_a_generated_identity() {
        let id = HostIdentity::generate("hosta").unwrap();
        let server = server_config(&id).unwrap();
        assert_eq!(server.alpn_protocols, vec![ALPN_PROTOCOL.to_vec()]);
        let fp = Fingerprint::of_der(b"x");
        let client = client_config(Some(&id), fp).unwrap();
        assert!(client.client_auth_cert_resolver.has_certs());
        let anonymous = client_config(None, fp).unwrap();
        assert!(!anonymous.client_auth_cert_resolver.has_certs());
        probe_client_config().unwrap();
    }
}

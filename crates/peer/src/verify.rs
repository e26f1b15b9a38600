//! Certificate verifiers: trust by fingerprint pin instead of by CA.
//!
//! All verifiers here still check handshake signatures with the ring
//! provider's algorithms, so a peer must hold the private key of the
//! certificate it presents.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use crate::fingerprint::Fingerprint;
use crate::tls::provider;

/// The error a [`PinnedServerVerifier`] hands to rustls when the server's
/// certificate is not the pinned one.
///
/// It travels inside `rustls::Error::InvalidCertificate(CertificateError::Other(..))`
/// and is turned back into [`crate::Error::CertificateChanged`] by
/// [`pin_mismatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinMismatch {
    /// The pinned fingerprint.
    pub expected: Fingerprint,
    /// The fingerprint of the certificate presented.
    pub presented: Fingerprint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate fingerprint {} does not match the pinned {}",
            self.presented, self.expected
        )
    }
}

impl std::error::Error for PinMismatch {}

/// Finds a [`PinMismatch`] inside a rustls error, if that is what it is.
pub fn pin_mismatch(err: &rustls::Error) -> Option<PinMismatch> {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            inner.downcast_ref::<PinMismatch>().copied()
        }
        _ => None,
    }
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    provider().signature_verification_algorithms
}

/// Server-certificate verifier for clients: accepts exactly the certificate
/// whose fingerprint is pinned. No CA, no host-name or validity-period
/// check: the pin is the trust.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    expected: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServerVerifier {
    /// A verifier trusting only the certificate with fingerprint `expected`.
    pub fn new(expected: Fingerprint) -> Self {
        PinnedServerVerifier {
            expected,
            algorithms: algorithms(),
        }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity);
        if presented == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(expected = %self.expected, %presented, "server certificate does not match the pinned fingerprint");
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    expected: self.expected,
                    presented,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Server-certificate verifier for first contact: accepts any certificate
/// (still checking that the server holds its key), so that its fingerprint
/// can be shown to the user. Never use it for a connection that carries data.
#[derive(Debug)]
pub(crate) struct ProbeServerVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ProbeServerVerifier {
    pub(crate) fn new() -> Self {
        ProbeServerVerifier {
            algorithms: algorithms(),
        }
    }
}

impl ServerCertVerifier for ProbeServerVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Client-certificate verifier for servers: asks for a client certificate
/// but does not require one, and accepts any certificate whose key signs
/// the handshake. The application then decides, after the handshake, whether
/// the client's fingerprint (see [`crate::peer_fingerprint`]) is trusted.
#[derive(Debug)]
pub struct OptionalClientVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl OptionalClientVerifier {
    /// A verifier offering, not requiring, certificate authentication.
    pub fn new() -> Self {
        OptionalClientVerifier {
            algorithms: algorithms(),
        }
    }
}

impl Default for OptionalClientVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCertVerifier for OptionalClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        tracing::debug!(fingerprint = %Fingerprint::of_der(end_entity), "client presented a certificate");
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_verifier_accepts_only_the_pin() {
        let cert = CertificateDer::from(b"not really a certificate".to_vec());
        let other = CertificateDer::from(b"another one".to_vec());
        let v = PinnedServerVerifier::new(Fingerprint::of_der(&cert));
        let name = ServerName::try_from("hostb").unwrap();
        v.verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .unwrap();
        let err = v
            .verify_server_cert(&other, &[], &name, &[], UnixTime::now())
            .unwrap_err();
        let mismatch = pin_mismatch(&err).expect("a pin mismatch");
        assert_eq!(mismatch.expected, Fingerprint::of_der(&cert));
        assert_eq!(mismatch.presented, Fingerprint::of_der(&other));
    }

    #[test]
    fn other_errors_are_not_pin_mismatches() {
        assert!(pin_mismatch(&rustls::Error::InvalidCertificate(
            CertificateError::Expired
        ))
        .is_none());
        assert!(pin_mismatch(&rustls::Error::HandshakeNotComplete).is_none());
    }

    #[test]
    fn client_verifier_offers_optional_auth() {
        let v = OptionalClientVerifier::new();
        assert!(v.offer_client_auth());
        assert!(!v.client_auth_mandatory());
        assert!(!v.supported_verify_schemes().is_empty());
    }
}

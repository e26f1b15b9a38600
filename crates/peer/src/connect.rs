//! Establishing TLS connections between managers: connect, accept and the
//! first-contact fingerprint probe, each with timeouts and clear errors.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::tls::probe_client_config;
use crate::verify::pin_mismatch;

/// How long [`connect`] waits for the TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`connect`], [`accept`] and [`probe_fingerprint`] wait for the
/// TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client side of an established manager-to-manager connection.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;
/// The server side of an established manager-to-manager connection.
pub type ServerStream = tokio_rustls::server::TlsStream<TcpStream>;

/// Connects to the manager at `addr` and completes the TLS handshake with
/// `cfg` (from [`crate::client_config`]). Errors name the peer by address;
/// see [`connect_named`] to name it as the user did.
pub async fn connect(addr: SocketAddr, cfg: Arc<ClientConfig>) -> Result<ClientStream> {
    connect_named(&addr.ip().to_string(), addr, cfg).await
}

/// Like [`connect`], with `host` (a host name without port, as the user
/// typed it) used in error messages, e.g. in
/// [`Error::CertificateChanged`]'s advice to run `ldm remove-trust HOST`.
pub async fn connect_named(
    host: &str,
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
) -> Result<ClientStream> {
    let tcp = tcp_connect(host, addr).await?;
    client_handshake(host, addr, tcp, cfg).await
}

/// The client side of the TLS handshake on an open connection.
async fn client_handshake(
    host: &str,
    addr: SocketAddr,
    tcp: TcpStream,
    cfg: Arc<ClientConfig>,
) -> Result<ClientStream> {
    let connector = TlsConnector::from(cfg);
    // The name is not checked (the fingerprint pin is the trust); an IP
    // address also keeps rustls from sending SNI.
    let server_name = ServerName::IpAddress(addr.ip().into());
    let tls = timeout(HANDSHAKE_TIMEOUT, connector.connect(server_name, tcp))
        .await
        .map_err(|_| Error::HandshakeTimeout {
            host: host.to_owned(),
            secs: HANDSHAKE_TIMEOUT.as_secs(),
        })?
        .map_err(|e| handshake_error(host, e))?;
    tracing::debug!(%host, %addr, "TLS handshake with peer manager done");
    Ok(tls)
}

/// Completes the server side of the TLS handshake on an accepted `tcp`
/// connection. Returns the stream and the fingerprint of the certificate
/// the client presented, if it presented one; whether that fingerprint is
/// trusted is for the caller to decide.
pub async fn accept(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Result<(ServerStream, Option<Fingerprint>)> {
    let host = accepted_peer(&tcp);
    server_handshake(acceptor, &host, tcp).await
}

/// Names the peer of an accepted connection for messages, turns off
/// Nagle's algorithm on it and turns on keepalive.
pub(crate) fn accepted_peer(tcp: &TcpStream) -> String {
    let host = match tcp.peer_addr() {
        Ok(a) => a.to_string(),
        Err(_) => "an unknown peer".to_owned(),
    };
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(peer = %host, error = %e, "cannot set TCP_NODELAY");
    }
    keepalive(tcp, &host);
    host
}

/// Idle time before the first keepalive probe, the time between probes,
/// and how many unanswered probes end the connection: a peer that
/// vanished (host down, link cut) is noticed within about 25 s even on a
/// connection where nothing is being sent.
pub const KEEPALIVE: (Duration, Duration, u32) =
    (Duration::from_secs(10), Duration::from_secs(5), 3);

/// Turns on TCP keepalive with [`KEEPALIVE`].
fn keepalive(tcp: &TcpStream, host: &str) {
    let (idle, interval, probes) = KEEPALIVE;
    let ka = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval(interval)
        .with_retries(probes);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&ka) {
        tracing::debug!(peer = %host, error = %e, "cannot turn on TCP keepalive");
    }
}

/// The server side of the TLS handshake on an accepted connection `io`;
/// `host` names the peer in errors.
async fn server_handshake<IO>(
    acceptor: &TlsAcceptor,
    host: &str,
    io: IO,
) -> Result<(tokio_rustls::server::TlsStream<IO>, Option<Fingerprint>)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let tls = timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io))
        .await
        .map_err(|_| Error::HandshakeTimeout {
            host: host.to_owned(),
            secs: HANDSHAKE_TIMEOUT.as_secs(),
        })?
        .map_err(|e| handshake_error(host, e))?;
    let client = accepted_client(host, tls.get_ref().1.peer_certificates());
    Ok((tls, client))
}

/// The fingerprint of the certificate the client presented on an
/// established server-side stream, or `None` if it presented none.
pub fn peer_fingerprint<IO>(stream: &tokio_rustls::server::TlsStream<IO>) -> Option<Fingerprint> {
    first_fingerprint(stream.get_ref().1.peer_certificates())
}

/// The fingerprint of the first of `certs` (the peer's own certificate).
fn first_fingerprint(certs: Option<&[CertificateDer<'_>]>) -> Option<Fingerprint> {
    certs
        .and_then(|certs| certs.first())
        .map(|cert| Fingerprint::of_der(cert))
}

/// The fingerprint of the certificate a client presented after an
/// accepted handshake (`certs`: rustls's `peer_certificates`), logged.
pub(crate) fn accepted_client(
    host: &str,
    certs: Option<&[CertificateDer<'_>]>,
) -> Option<Fingerprint> {
    let client = first_fingerprint(certs);
    match &client {
        Some(fp) => {
            tracing::debug!(peer = %host, fingerprint = %fp, "accepted peer with a client certificate")
        }
        None => tracing::debug!(peer = %host, "accepted peer without a client certificate"),
    }
    client
}

/// Fetches the fingerprint of the certificate the manager at `addr`
/// presents, without trusting it: for the first-contact "do you trust this
/// fingerprint?" question. Completes the handshake (so the server has
/// proved it holds the certificate's key), then closes the connection
/// without sending any application data.
pub async fn probe_fingerprint(addr: SocketAddr) -> Result<Fingerprint> {
    probe_fingerprint_named(&addr.ip().to_string(), addr).await
}

/// Like [`probe_fingerprint`], with `host` used in error messages.
pub async fn probe_fingerprint_named(host: &str, addr: SocketAddr) -> Result<Fingerprint> {
    let tcp = tcp_connect(host, addr).await?;
    let mut tls = client_handshake(host, addr, tcp, probe_client_config()?).await?;
    let fingerprint =
        first_fingerprint(tls.get_ref().1.peer_certificates()).ok_or_else(|| Error::Handshake {
            host: host.to_owned(),
            reason: "the server presented no certificate".to_owned(),
        })?;
    // Say goodbye politely; failing to is of no consequence.
    let _ = timeout(Duration::from_secs(2), tls.shutdown()).await;
    tracing::debug!(%host, %addr, %fingerprint, "probed peer certificate");
    Ok(fingerprint)
}

/// Opens the TCP connection, with [`CONNECT_TIMEOUT`].
async fn tcp_connect(host: &str, addr: SocketAddr) -> Result<TcpStream> {
    let target = target_label(host, addr);
    let tcp = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::ConnectTimeout {
            host: target.clone(),
            secs: CONNECT_TIMEOUT.as_secs(),
        })?
        .map_err(|e| Error::connect(target, e))?;
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%host, error = %e, "cannot set TCP_NODELAY");
    }
    keepalive(&tcp, host);
    Ok(tcp)
}

/// "HOST:PORT" for messages: the address itself when `host` is its IP,
/// `host` itself when it already names the port (a trust key).
fn target_label(host: &str, addr: SocketAddr) -> String {
    let port = addr.port();
    match host.parse::<IpAddr>() {
        Ok(ip) if ip == addr.ip() => addr.to_string(),
        _ if host.strip_suffix(&format!(":{port}")).is_some() => host.to_string(),
        _ => format!("{host}:{port}"),
    }
}

/// Classifies a handshake failure, recovering a pin mismatch from inside
/// the rustls error that tokio-rustls wrapped in an `io::Error`.
fn handshake_error(host: &str, err: io::Error) -> Error {
    let tls_err = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(tls_err) = tls_err {
        if let Some(m) = pin_mismatch(tls_err) {
            return Error::CertificateChanged {
                host: host.to_owned(),
                expected: m.expected,
                presented: m.presented,
            };
        }
        return Error::Handshake {
            host: host.to_owned(),
            reason: tls_err.to_string(),
        };
    }
    Error::Handshake {
        host: host.to_owned(),
        reason: io_reason(&err),
    }
}

/// A socket error during a handshake, in a few words.
pub(crate) fn io_reason(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::UnexpectedEof => "the peer closed the connection".to_owned(),
        io::ErrorKind::ConnectionReset => "the peer reset the connection".to_owned(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_label_uses_name_or_address() {
        let v4: SocketAddr = "192.0.2.1:7700".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:7700".parse().unwrap();
        assert_eq!(target_label("192.0.2.1", v4), "192.0.2.1:7700");
        assert_eq!(target_label("2001:db8::1", v6), "[2001:db8::1]:7700");
        assert_eq!(target_label("hostb", v4), "hostb:7700");
        // A trust key already names the port: not twice.
        assert_eq!(target_label("hostb:7700", v4), "hostb:7700");
        assert_eq!(target_label("192.0.2.1:7700", v4), "192.0.2.1:7700");
        assert_eq!(target_label("[2001:db8::1]:7700", v6), "[2001:db8::1]:7700");
    }

    #[test]
    fn plain_io_errors_become_handshake_errors() {
        let e = handshake_error("hostb", io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(matches!(e, Error::Handshake { .. }));
        assert!(
            e.to_string().contains("the peer closed the connection"),
            "{e}"
        );
    }
}

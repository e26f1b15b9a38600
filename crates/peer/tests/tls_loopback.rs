//! Real TLS over real loopback sockets.

use std::net::SocketAddr;
use std::sync::Arc;

use ldm_peer::{
    accept, client_config, connect, connect_named, probe_fingerprint, server_config, Error,
    Fingerprint, Framed, HostIdentity, TlsAcceptor,
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Request {
    Hello { host: String },
    Migrate { domain: String, pages: Vec<u64> },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Reply {
    Welcome { client: Option<Fingerprint> },
    Accepted { pages: usize },
}

/// What the server saw of one connection.
#[derive(Debug)]
struct Seen {
    client: Option<Fingerprint>,
    result: Result<(), String>,
}

/// A server accepting one connection, answering requests until EOF.
async fn serve_once(identity: &HostIdentity) -> (SocketAddr, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_config(identity).unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (tls, client) = match accept(&acceptor, tcp).await {
            Ok(x) => x,
            Err(e) => {
                return Seen {
                    client: None,
                    result: Err(e.to_string()),
                }
            }
        };
        let mut chan = Framed::new(tls);
        let result = async {
            while let Some(req) = chan.recv::<Request>().await.map_err(|e| e.to_string())? {
                let reply = match req {
                    Request::Hello { .. } => Reply::Welcome { client },
                    Request::Migrate { pages, .. } => Reply::Accepted { pages: pages.len() },
                };
                chan.send(&reply).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        .await;
        Seen { client, result }
    });
    (addr, task)
}

fn identity(name: &str) -> HostIdentity {
    HostIdentity::generate(name).unwrap()
}

#[tokio::test]
async fn pinned_connection_roundtrips_messages() {
    let server = identity("hostb");
    let (addr, task) = serve_once(&server).await;
    let cfg = client_config(None, server.fingerprint()).unwrap();
    let tls = connect(addr, cfg).await.unwrap();
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(ldm_peer::ALPN_PROTOCOL)
    );
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let mut chan = Framed::new(tls);
    chan.send(&Request::Hello {
        host: "hosta".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        chan.recv::<Reply>().await.unwrap(),
        Some(Reply::Welcome { client: None })
    );
    // A message spanning many TLS records.
    let pages: Vec<u64> = (0..200_000).collect();
    chan.send(&Request::Migrate {
        domain: "vm1".into(),
        pages,
    })
    .await
    .unwrap();
    assert_eq!(
        chan.recv::<Reply>().await.unwrap(),
        Some(Reply::Accepted { pages: 200_000 })
    );
    let mut tls = chan.into_inner();
    tokio::io::AsyncWriteExt::shutdown(&mut tls).await.unwrap();
    let seen = task.await.unwrap();
    assert_eq!(seen.result, Ok(()));
}

#[tokio::test]
async fn wrong_pin_is_certificate_changed_with_both_fingerprints() {
    let server = identity("hostb");
    let impostor_pin = identity("hostb").fingerprint();
    let (addr, task) = serve_once(&server).await;
    let cfg = client_config(None, impostor_pin).unwrap();
    let err = connect_named("hostb", addr, cfg).await.unwrap_err();
    match &err {
        Error::CertificateChanged {
            host,
            expected,
            presented,
        } => {
            assert_eq!(host, "hostb");
            assert_eq!(*expected, impostor_pin);
            assert_eq!(*presented, server.fingerprint());
        }
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("the certificate of hostb has changed"),
        "{msg}"
    );
    assert!(msg.contains(&impostor_pin.to_string()), "{msg}");
    assert!(msg.contains(&server.fingerprint().to_string()), "{msg}");
    assert!(msg.contains("ldm remove-trust hostb"), "{msg}");
    // The server saw the handshake fail and received no data.
    let seen = task.await.unwrap();
    assert!(seen.result.is_err(), "{seen:?}");
}

#[tokio::test]
async fn probe_returns_the_server_fingerprint_without_sending_data() {
    let server = identity("hostb");
    let (addr, task) = serve_once(&server).await;
    let fp = probe_fingerprint(addr).await.unwrap();
    assert_eq!(fp, server.fingerprint());
    // The server got a completed handshake, then a clean close and no message.
    let seen = task.await.unwrap();
    assert_eq!(seen.result, Ok(()));
    assert_eq!(seen.client, None);
}

#[tokio::test]
async fn server_sees_client_certificate_when_presented() {
    let server = identity("hostb");
    let client = identity("hosta");
    let (addr, task) = serve_once(&server).await;
    let cfg = client_config(Some(&client), server.fingerprint()).unwrap();
    let mut chan = Framed::new(connect(addr, cfg).await.unwrap());
    chan.send(&Request::Hello {
        host: "hosta".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        chan.recv::<Reply>().await.unwrap(),
        Some(Reply::Welcome {
            client: Some(client.fingerprint())
        })
    );
    drop(chan);
    let seen = task.await.unwrap();
    assert_eq!(seen.client, Some(client.fingerprint()));
}

#[tokio::test]
async fn server_sees_no_client_certificate_when_none_presented() {
    let server = identity("hostb");
    let (addr, task) = serve_once(&server).await;
    let cfg = client_config(None, server.fingerprint()).unwrap();
    let mut chan = Framed::new(connect(addr, cfg).await.unwrap());
    chan.send(&Request::Hello {
        host: "hosta".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        chan.recv::<Reply>().await.unwrap(),
        Some(Reply::Welcome { client: None })
    );
    drop(chan);
    assert_eq!(task.await.unwrap().client, None);
}

#[tokio::test]
async fn persisted_identity_keeps_its_pin_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = HostIdentity::load_or_create(dir.path(), "hostb").unwrap();
    let pin = first.fingerprint();
    // "Restart": load again and serve with the loaded identity.
    let again = HostIdentity::load_or_create(dir.path(), "hostb").unwrap();
    let (addr, task) = serve_once(&again).await;
    let cfg = client_config(None, pin).unwrap();
    let mut chan = Framed::new(connect(addr, cfg).await.unwrap());
    chan.send(&Request::Hello { host: "a".into() })
        .await
        .unwrap();
    assert!(chan.recv::<Reply>().await.unwrap().is_some());
    drop(chan);
    task.await.unwrap();
}

#[tokio::test]
async fn refused_connection_says_what_to_check() {
    // Bind then drop, so that the port is very likely closed.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let cfg = client_config(None, Fingerprint::of_der(b"x")).unwrap();
    let err = connect(addr, Arc::clone(&cfg)).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reach ldmd on {addr}: connection refused. Is ldmd running there with --listen?"
        )
    );
    let err = probe_fingerprint(addr).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn non_tls_peer_is_a_handshake_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut tcp, b"SSH-2.0-OpenSSH\r\n")
            .await
            .unwrap();
    });
    let cfg = client_config(None, Fingerprint::of_der(b"x")).unwrap();
    let err = connect(addr, cfg).await.unwrap_err();
    assert!(matches!(err, Error::Handshake { .. }), "{err:?}");
}

/// A server presenting `cert_of`'s certificate but signing with `key_of`'s key.
async fn serve_stolen_cert(cert_of: &HostIdentity, key_of: &HostIdentity) -> SocketAddr {
    use rustls::sign::CertifiedKey;

    #[derive(Debug)]
    struct Fixed(Arc<CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    let signer = rustls::crypto::ring::sign::any_supported_type(key_of.key_der()).unwrap();
    let certified = CertifiedKey::new(vec![cert_of.cert_der().clone()], signer);
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(Fixed(Arc::new(certified))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await;
    });
    addr
}

#[tokio::test]
async fn pinned_certificate_without_its_key_is_rejected() {
    let genuine = identity("hostb");
    let thief = identity("thief");
    let addr = serve_stolen_cert(&genuine, &thief).await;
    let cfg = client_config(None, genuine.fingerprint()).unwrap();
    let err = connect(addr, cfg).await.unwrap_err();
    assert!(matches!(err, Error::Handshake { .. }), "{err:?}");
    // The probe also requires proof of the key.
    let addr = serve_stolen_cert(&genuine, &thief).await;
    let err = probe_fingerprint(addr).await.unwrap_err();
    assert!(matches!(err, Error::Handshake { .. }), "{err:?}");
}

#[tokio::test]
async fn tls12_peers_are_verified_the_same_way() {
    let server = identity("hostb");
    let client = identity("hosta");
    let (addr, task) = serve_once(&server).await;
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(ldm_peer::PinnedServerVerifier::new(
        server.fingerprint(),
    )))
    .with_client_auth_cert(
        vec![client.cert_der().clone()],
        client.key_der().clone_key(),
    )
    .unwrap();
    let tls = connect(addr, Arc::new(cfg)).await.unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let mut chan = Framed::new(tls);
    chan.send(&Request::Hello { host: "a".into() })
        .await
        .unwrap();
    assert_eq!(
        chan.recv::<Reply>().await.unwrap(),
        Some(Reply::Welcome {
            client: Some(client.fingerprint())
        })
    );
    drop(chan);
    assert_eq!(task.await.unwrap().client, Some(client.fingerprint()));
}

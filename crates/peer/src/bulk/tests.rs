//! The bulk channel against a real TLS client over 127.0.0.1.

use std::io::Write;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

use super::{accept_unbuffered, BulkError};
use crate::{client_config, server_config, ClientStream, Fingerprint, HostIdentity};

const TOKEN: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// A listener whose first connection is accepted as a bulk channel: the
/// token is read, then the channel is relayed to one end of a Unix socket
/// pair. Returns the address, the certificate's fingerprint, the other
/// end and the relay's outcome.
async fn server() -> (
    std::net::SocketAddr,
    Fingerprint,
    UnixStream,
    JoinHandle<Result<(), BulkError>>,
) {
    let identity = HostIdentity::generate("bulk-test").unwrap();
    let fingerprint = identity.fingerprint();
    let config = server_config(&identity).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (local, qemu) = UnixStream::pair().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (mut channel, _) = accept_unbuffered(config, tcp).await.unwrap();
        let mut token = [0u8; 32];
        channel.read_exact(&mut token).await?;
        assert_eq!(&token, TOKEN);
        channel.relay(local).await
    });
    (addr, fingerprint, qemu, task)
}

async fn client(addr: std::net::SocketAddr, fingerprint: Fingerprint) -> ClientStream {
    crate::connect(addr, client_config(None, fingerprint).unwrap())
        .await
        .unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
        .collect()
}

#[tokio::test]
async fn carries_64_mib_with_replies_and_closes_both_ways() {
    const LEN: usize = 64 << 20;
    const REPLY: usize = 4096;
    let (addr, fp, mut qemu, relay) = server().await;
    let tls = client(addr, fp).await;
    let (mut from_source, mut to_source) = tokio::io::split(tls);
    let data = pattern(LEN);
    let sent = data.clone();
    let sender = tokio::spawn(async move {
        to_source.write_all(TOKEN).await.unwrap();
        for chunk in sent.chunks(512 * 1024) {
            to_source.write_all(chunk).await.unwrap();
        }
        // close_notify and the TCP write side.
        to_source.shutdown().await.unwrap();
    });
    let replies = tokio::spawn(async move {
        let mut back = Vec::new();
        from_source.read_to_end(&mut back).await.unwrap();
        back
    });
    // The incoming QEMU: reads everything, answering every MiB at once.
    let mut got = Vec::with_capacity(LEN);
    let mut buf = vec![0u8; 256 * 1024];
    let mut answered = 0;
    loop {
        let n = qemu.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        while answered < got.len() / (1 << 20) {
            answered += 1;
            qemu.write_all(&[answered as u8; REPLY]).await.unwrap();
        }
    }
    assert_eq!(got.len(), LEN, "the source's EOF came early or late");
    assert!(got == data, "the bytes differ");
    sender.await.unwrap();
    qemu.write_all(b"bye").await.unwrap();
    qemu.shutdown().await.unwrap();
    let back = replies.await.unwrap();
    let mut expected: Vec<u8> = (1..=answered).flat_map(|i| [i as u8; REPLY]).collect();
    expected.extend_from_slice(b"bye");
    assert!(back == expected, "the replies differ");
    relay.await.unwrap().unwrap();
}

#[tokio::test]
async fn bytes_in_the_tokens_record_are_forwarded() {
    let (addr, fp, mut qemu, relay) = server().await;
    let mut tls = client(addr, fp).await;
    // One write: one TLS record, one segment, token and payload together.
    let mut first = TOKEN.to_vec();
    first.extend_from_slice(b"QEVM\x00\x00\x00\x03");
    tls.write_all(&first).await.unwrap();
    tls.shutdown().await.unwrap();
    let mut got = Vec::new();
    qemu.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"QEVM\x00\x00\x00\x03");
    drop(qemu);
    let mut end = Vec::new();
    let _ = tls.read_to_end(&mut end).await;
    relay.await.unwrap().unwrap();
}

/// Encrypts `data` as the TLS records `conn` would send.
fn records(conn: &mut rustls::ClientConnection, data: &[u8]) -> Vec<u8> {
    conn.writer().write_all(data).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

#[tokio::test]
async fn a_corrupted_record_ends_the_channel_before_its_bytes() {
    let (addr, fp, mut qemu, relay) = server().await;
    let config: Arc<rustls::ClientConfig> = client_config(None, fp).unwrap();
    let (mut sock, mut conn) = tokio::task::spawn_blocking(move || {
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).unwrap();
        }
        let mut wire = records(&mut conn, TOKEN);
        wire.extend(records(&mut conn, b"good data"));
        sock.write_all(&wire).unwrap();
        (sock, conn)
    })
    .await
    .unwrap();
    // The channel is relaying.
    let mut good = [0u8; 9];
    qemu.read_exact(&mut good).await.unwrap();
    assert_eq!(&good, b"good data");
    let mut bad = records(&mut conn, b"forged data");
    // Flip a bit of the authentication tag.
    *bad.last_mut().unwrap() ^= 1;
    bad.extend(records(&mut conn, b"after"));
    sock.write_all(&bad).unwrap();
    // Nothing of the bad record or after it reaches the QEMU side: EOF.
    let mut rest = Vec::new();
    qemu.read_to_end(&mut rest).await.unwrap();
    assert!(
        rest.is_empty(),
        "{:?} reached the QEMU side",
        String::from_utf8_lossy(&rest)
    );
    let err = relay.await.unwrap().unwrap_err();
    assert!(err.is_tls(), "{err}");
}

#[tokio::test]
async fn the_local_sockets_eof_reaches_the_peer_and_the_peer_still_sends() {
    let (addr, fp, mut qemu, relay) = server().await;
    let mut tls = client(addr, fp).await;
    tls.write_all(TOKEN).await.unwrap();
    tls.flush().await.unwrap();
    // The local side closes its write side first: the peer reads EOF
    // (close_notify) ...
    qemu.write_all(b"done").await.unwrap();
    qemu.shutdown().await.unwrap();
    let mut back = [0u8; 4];
    tls.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"done");
    assert_eq!(
        tls.read(&mut back).await.unwrap(),
        0,
        "no EOF after close_notify"
    );
    // ... and may still send until it closes too.
    tls.write_all(b"late").await.unwrap();
    tls.shutdown().await.unwrap();
    let mut got = Vec::new();
    qemu.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"late");
    relay.await.unwrap().unwrap();
}

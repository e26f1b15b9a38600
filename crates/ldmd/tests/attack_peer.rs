//! Attacks on the peer listener from someone without credentials, replayed
//! against an in-process ldmd: each must be refused while `ldm list` keeps
//! answering, memory stays bounded and nothing on disk changes.

mod common;

use common::attack::{assert_responsive, closed, lo, rss_kib, snapshot, tcp_from, tls_from};
use common::Host;
use ldmd::migration::peer_server::{MAX_PEERS, MAX_PEERS_PER_ADDR};
use ldmd::migration::protocol::PROTOCOL_VERSION;
use serde_json::{json, Value};
use std::net::IpAddr;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_caps_are_closed_at_once() {
    let d = Host::start("target").await;
    let before = snapshot(&d);
    // One address holds its share; the next connection is closed.
    let mut held = Vec::new();
    for _ in 0..MAX_PEERS_PER_ADDR {
        held.push(tcp_from(lo(1), d.peer_addr).await.unwrap());
    }
    let mut extra = tcp_from(lo(1), d.peer_addr).await.unwrap();
    assert!(
        closed(&mut extra).await,
        "a connection over the per-address cap stayed open"
    );
    // Many addresses fill the total; the next one is closed.
    let mut n = 2;
    while held.len() < MAX_PEERS {
        for _ in 0..MAX_PEERS_PER_ADDR {
            if held.len() < MAX_PEERS {
                held.push(tcp_from(lo(n), d.peer_addr).await.unwrap());
            }
        }
        n += 1;
    }
    let mut extra = tcp_from(lo(200), d.peer_addr).await.unwrap();
    assert!(
        closed(&mut extra).await,
        "a connection over the total cap stayed open"
    );
    assert_responsive(&d).await;
    // Those that never start TLS are dropped at the handshake deadline.
    let mut dropped = false;
    for _ in 0..4 {
        dropped = dropped || closed(&mut held[0]).await;
    }
    assert!(dropped, "a connection without a TLS handshake stayed open");
    drop(held);
    assert_eq!(snapshot(&d), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_frames_before_hello_are_refused_without_buffering() {
    let d = Host::start("target").await;
    let fp = d.fingerprint().await;
    let rss_before = rss_kib();
    let mut conns = Vec::new();
    for i in 0..30u8 {
        let mut ch = tls_from(&d, &fp, lo(10 + i / 8)).await;
        let io = ch.get_mut();
        // A 16 MiB frame announced, 256 KiB of it sent.
        io.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
        let _ = io.write_all(&vec![b' '; 256 * 1024]).await;
        let _ = io.flush().await;
        conns.push(ch);
    }
    for mut ch in conns {
        let r = ch.recv::<Value>().await;
        assert!(
            !matches!(r, Ok(Some(_))),
            "the daemon answered a 16 MiB Hello: {r:?}"
        );
    }
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 64, "memory grew by {grown_mib} MiB");
    assert_responsive(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_with_a_forged_host_name_is_refused() {
    let d = Host::start("target").await;
    let fp = d.fingerprint().await;
    let mut ch = tls_from(&d, &fp, lo(1)).await;
    ch.send(&json!({"msg": "hello", "version": PROTOCOL_VERSION, "host": "a\nldg9 active"}))
        .await
        .unwrap();
    let reply: Value = ch.recv().await.unwrap().unwrap();
    let msg = reply["message"].as_str().unwrap_or_default();
    assert!(msg.contains("not a host name"), "{reply}");
}

/// One password guess for `user` from `from`; the refusal text.
async fn guess(d: &Host, fp: &str, from: IpAddr, user: &str, pw: &str) -> String {
    let mut ch = tls_from(d, fp, from).await;
    ch.send(&json!({"msg": "hello", "version": PROTOCOL_VERSION, "host": "attacker"}))
        .await
        .unwrap();
    let _: Option<Value> = ch.recv().await.unwrap();
    ch.send(&json!({"msg": "auth", "user": user, "password": pw}))
        .await
        .unwrap();
    match ch.recv::<Value>().await {
        Ok(Some(v)) => v["message"].as_str().unwrap_or("(accepted)").to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_password_guesses_are_no_faster_than_serial_ones() {
    let d = Host::start("target").await;
    let fp = d.fingerprint().await;
    let before = snapshot(&d);
    let d = std::sync::Arc::new(d);
    // 24 guesses at once from three addresses (within the per-address cap).
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let d = d.clone();
            let fp = fp.clone();
            tokio::spawn(async move {
                guess(&d, &fp, lo(20 + (i % 3) as u8), "admin", &format!("pw{i}")).await
            })
        })
        .collect();
    assert_responsive(&d).await;
    let mut checked = 0;
    let mut refused = 0;
    for t in tasks {
        let m = t.await.unwrap();
        if m.contains("authentication failed") {
            checked += 1;
        } else if m.contains("too many login attempts") {
            refused += 1;
        } else {
            panic!("unexpected answer: {m}");
        }
    }
    // Within the 30 s queue, a serial guesser gets 8 tries (0, 0, 0.5,
    // 1.5, 3.5, 7.5, 15.5, 23.5 s); parallel ones get no more.
    assert!(
        checked <= 8,
        "{checked} passwords checked, {refused} refused"
    );
    assert_eq!(checked + refused, 24);
    assert_responsive(&d).await;
    assert_eq!(snapshot(&d), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_users_from_many_addresses_do_not_grow_memory() {
    let d = std::sync::Arc::new(Host::start("target").await);
    let fp = d.fingerprint().await;
    let rss_before = rss_kib();
    // Each from its own address, for its own user: the throttle lets them
    // all through at once; the hashing pool bounds the work.
    let tasks: Vec<_> = (0..48u8)
        .map(|i| {
            let d = d.clone();
            let fp = fp.clone();
            tokio::spawn(async move { guess(&d, &fp, lo(50 + i), &format!("user{i}"), "pw").await })
        })
        .collect();
    assert_responsive(&d).await;
    for t in tasks {
        let m = t.await.unwrap();
        assert!(
            m.contains("authentication failed") || m.contains("too many logins"),
            "{m}"
        );
    }
    // A second wave: the memory the first one took is reused, not added to.
    let tasks: Vec<_> = (0..48u8)
        .map(|i| {
            let d = d.clone();
            let fp = fp.clone();
            tokio::spawn(
                async move { guess(&d, &fp, lo(120 + i), &format!("user{i}"), "pw").await },
            )
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    // Two argon2 buffers of 19 MiB, kept by the two hashing threads.
    assert!(grown_mib < 64, "memory grew by {grown_mib} MiB");
    assert_responsive(&d).await;
}

//! Two ldmd one protocol version apart migrate in both directions. The
//! previous version is emulated by a peer that speaks version
//! `PROTOCOL_VERSION - 1` and sends, or answers with, the golden forms of
//! the messages (`tests/golden/peer/`, the formats of the previous
//! release): a real target takes a domain from such a source, and a real
//! source hands one to such a target. A peer two versions apart is refused
//! with advice.

mod common;

use common::golden::load;
use common::peer::RawPeer;
use common::Host;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Reply, Request};
use ldm_peer::Framed;
use ldmd::migration::protocol::{ToSource, PROTOCOL_VERSION};
use serde_json::{json, Value};

const OLD: u32 = PROTOCOL_VERSION - 1;

/// The golden message `name` of the previous release.
fn old(name: &str) -> Value {
    load("peer", name)
}

/// Whether `got` has the shape of `want`: the same keys, recursively, and
/// values of the same JSON kind (null matching anything optional).
fn same_shape(got: &Value, want: &Value) -> Result<(), String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let (gk, wk): (Vec<_>, Vec<_>) = (g.keys().collect(), w.keys().collect());
            if gk != wk {
                return Err(format!("keys {gk:?}, the previous release has {wk:?}"));
            }
            for (k, v) in w {
                same_shape(&g[k], v).map_err(|e| format!("{k}: {e}"))?;
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(w)) => match (g.first(), w.first()) {
            (Some(a), Some(b)) => same_shape(a, b),
            _ => Ok(()),
        },
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (g, w) if std::mem::discriminant(g) == std::mem::discriminant(w) => Ok(()),
        (g, w) => Err(format!("{g} where the previous release has {w}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_version_source_migrates_to_this_target() {
    let dst = Host::start("dst").await;
    dst.ok(Request::AddUser {
        name: "admin".into(),
        role: UserRole::Management,
        password: "secret".into(),
    })
    .await;
    for (file, name, state) in [
        (
            "to-target-prepare-cold-bound",
            "ldg-old",
            DomainState::Bound,
        ),
        (
            "to-target-prepare-cold-inactive",
            "ldg-old",
            DomainState::Inactive,
        ),
    ] {
        let mut p = RawPeer::connect(&dst).await;
        let mut hello = old("to-target-hello");
        hello["version"] = json!(OLD);
        p.ch.send(&hello).await.unwrap();
        match p.recv().await {
            Some(ToSource::Hello { version, .. }) => assert_eq!(version, PROTOCOL_VERSION),
            other => panic!("Hello answered {other:?}"),
        }
        p.ch.send(&old("to-target-auth-password")).await.unwrap();
        assert!(matches!(p.recv().await, Some(ToSource::AuthOk { .. })));
        p.ch.send(&old(file)).await.unwrap();
        assert!(matches!(
            p.recv().await,
            Some(ToSource::Prepared { data: None, .. })
        ));
        p.ch.send(&old("to-target-commit")).await.unwrap();
        assert!(matches!(p.recv().await, Some(ToSource::Committed { .. })));
        let v = dst.domain(name).await.expect("the target lists the domain");
        assert_eq!(v.state, state);
        assert!(v.operation.is_none());
        // Out of the way for the next round.
        if state == DomainState::Bound {
            dst.ok(Request::Unbind { name: name.into() }).await;
        }
        dst.ok(Request::RemoveDomain { name: name.into() }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_two_versions_apart_is_refused_with_advice() {
    let dst = Host::start("dst").await;
    let mut p = RawPeer::connect(&dst).await;
    match p.hello(PROTOCOL_VERSION + 2).await {
        Some(ToSource::Error { message }) => {
            assert!(message.contains("upgrade the older host"), "{message}")
        }
        other => panic!("Hello answered {other:?}"),
    }
}

/// A target of the previous version: answers with the golden replies and
/// records what the source sent.
async fn old_target(listener: tokio::net::TcpListener, id: ldm_peer::HostIdentity) -> Vec<Value> {
    old_session(&listener, &id).await
}

/// `n` connections to a target of the previous version, one after the
/// other: what the source sent on each.
async fn old_sessions(
    listener: tokio::net::TcpListener,
    id: ldm_peer::HostIdentity,
    n: usize,
) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(old_session(&listener, &id).await);
    }
    out
}

async fn old_session(
    listener: &tokio::net::TcpListener,
    id: &ldm_peer::HostIdentity,
) -> Vec<Value> {
    let acceptor = ldm_peer::TlsAcceptor::from(ldm_peer::server_config(id).unwrap());
    let (tcp, _) = listener.accept().await.unwrap();
    let (stream, _) = ldm_peer::accept(&acceptor, tcp).await.unwrap();
    let mut ch = Framed::new(stream);
    let mut got = Vec::new();
    while let Ok(Some(m)) = ch.recv::<Value>().await {
        let reply = match m["msg"].as_str().unwrap_or_default() {
            "hello" => {
                let mut h = old("to-source-hello");
                h["version"] = json!(OLD);
                h
            }
            "auth" => old("to-source-auth-ok"),
            "check" => {
                let mut c = old("to-source-checked");
                c["failures"] = json!([]);
                c
            }
            "prepare" => old("to-source-prepared-cold"),
            "commit" => old("to-source-committed"),
            _ => old("to-source-aborted"),
        };
        let end = m["msg"] == "commit";
        got.push(m);
        ch.send(&reply).await.unwrap();
        if end {
            break;
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_source_migrates_to_a_previous_version_target() {
    let src = Host::start("src").await;
    src.add_domain("ldg1", 1, 256, true).await;
    let id = ldm_peer::HostIdentity::generate("old-target").unwrap();
    let fp = id.fingerprint().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = tokio::spawn(old_target(listener, id));

    let m = ldm_api::migration::MigrateRequest {
        name: "ldg1".into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        user: "admin".into(),
        new_name: None,
        auth: ldm_api::migration::Auth::Password("secret".into()),
        dry_run: false,
        accept_fingerprint: Some(fp),
        downtime_ms: None,
        bandwidth_mib: None,
        copy_storage: false,
        overwrite_storage: false,
        postcopy: Default::default(),
    };
    let Reply::Migrated(s) = src.ok(Request::Migrate(m)).await else {
        panic!("a migration answers with its summary");
    };
    assert!(!s.live);
    assert!(
        src.domain("ldg1").await.is_none(),
        "the source still lists ldg1"
    );

    // What this source sent has the previous release's shapes.
    let got = target.await.unwrap();
    let tags: Vec<&str> = got.iter().map(|m| m["msg"].as_str().unwrap()).collect();
    assert_eq!(tags, ["hello", "auth", "check", "prepare", "commit"]);
    for (m, golden) in got.iter().zip([
        "to-target-hello",
        "to-target-auth-password",
        "to-target-check",
        "to-target-prepare",
        "to-target-commit",
    ]) {
        if let Err(e) = same_shape(m, &old(golden)) {
            panic!("{golden}: {e}\nsent: {m}");
        }
    }
}

/// Post-copy came with protocol 4, recovery with 5: a target of the
/// previous version takes a post-copy move (`--postcopy=always` passes its
/// checks); what it cannot do (resume a post-copy whose link was lost) is
/// a warning for running domains (`source/mod.rs`), and the version-3 refusal
/// is `compat.rs`'s unit test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_version_target_takes_postcopy() {
    let src = Host::start("src").await;
    src.add_domain("ldg1", 1, 256, true).await;
    let id = ldm_peer::HostIdentity::generate("old-target").unwrap();
    let fp = id.fingerprint().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut m = ldm_api::migration::MigrateRequest {
        name: "ldg1".into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        user: "admin".into(),
        new_name: None,
        auth: ldm_api::migration::Auth::Password("secret".into()),
        dry_run: true,
        accept_fingerprint: Some(fp),
        downtime_ms: None,
        bandwidth_mib: None,
        copy_storage: false,
        overwrite_storage: false,
        postcopy: ldm_api::migration::PostcopyMode::Always,
    };
    let target = tokio::spawn(old_sessions(listener, id, 2));
    for mode in [
        ldm_api::migration::PostcopyMode::Always,
        ldm_api::migration::PostcopyMode::Auto,
    ] {
        m.postcopy = mode;
        let Reply::DryRun(r) = src.ok(Request::Migrate(m.clone())).await else {
            panic!("a dry run answers with its checks");
        };
        assert!(r.failures.is_empty(), "{mode:?}: {:?}", r.failures);
    }
    let sessions = target.await.unwrap();
    for got in &sessions {
        let tags: Vec<&str> = got.iter().map(|m| m["msg"].as_str().unwrap()).collect();
        assert_eq!(tags, ["hello", "auth", "check", "abort"], "{got:?}");
    }
}

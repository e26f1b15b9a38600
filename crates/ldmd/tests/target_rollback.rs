//! The target holds nothing of a migration whose source went away before
//! the hand-off: a raw protocol client authenticates, prepares, and drops
//! the connection (or aborts).

mod common;

use common::peer::{offer, RawPeer};
use common::{eventually, Host};
use ldm_api::migration::Role;
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::protocol::{ToSource, ToTarget};

/// Authenticates to `dst`, prepares `name` as a bound domain, and checks
/// that the target shows it as an incoming migration.
async fn prepared(dst: &Host, name: &str) -> RawPeer {
    let mut p = RawPeer::authenticate(dst, "admin").await;
    let o = offer(dst, name, DomainState::Bound, 2, 512).await;
    p.send(&ToTarget::Prepare {
        offer: o,
        started_at: None,
        tuning: Default::default(),
        id: String::new(),
    })
    .await;
    match p.recv().await {
        Some(ToSource::Prepared { data: None, .. }) => {}
        other => panic!("Prepare answered {other:?}"),
    }
    let v = dst
        .domain(name)
        .await
        .expect("the target lists the incoming copy");
    assert_eq!(v.state, DomainState::Bound);
    assert!(v.flags.short().ends_with('t'), "flags {}", v.flags.short());
    let op = v.operation.expect("an operation in progress");
    assert_eq!(op.role, Role::Target);
    assert!(
        dst.record(name).is_some(),
        "the copy is persisted while prepared"
    );
    assert_eq!(dst.host_view().await.vcpus_free, 8 - 2);
    p
}

async fn holds_nothing(dst: &Host, name: &str) {
    let what = format!("{} drops the copy of {name}", dst.name);
    eventually(&what, || async { dst.domain(name).await.is_none() }).await;
    assert!(
        dst.record(name).is_none(),
        "the database still holds {name}"
    );
    let h = dst.host_view().await;
    assert_eq!((h.vcpus_free, h.memory_free_mib), (8, 8192));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_that_disconnects_after_prepare_leaves_nothing() {
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let p = prepared(&dst, "ldg1").await;
    drop(p);
    holds_nothing(&dst, "ldg1").await;
    // The name is free again: a new migration of it is prepared.
    let _p = prepared(&dst, "ldg1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_that_aborts_after_prepare_leaves_nothing() {
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let mut p = prepared(&dst, "ldg1").await;
    p.send(&ToTarget::Abort {
        reason: "test".into(),
    })
    .await;
    assert!(matches!(p.recv().await, Some(ToSource::Aborted)));
    holds_nothing(&dst, "ldg1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_copy_refuses_local_changes_while_prepared() {
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let _p = prepared(&dst, "ldg1").await;
    let e = dst
        .call(ldm_api::Request::Unbind {
            name: "ldg1".into(),
        })
        .await
        .expect_err("an incoming copy is busy");
    assert_eq!(e.kind, ldm_api::ErrorKind::Busy, "{}", e.message);
    let e = dst
        .call(ldm_api::Request::CancelMigration {
            name: "ldg1".into(),
        })
        .await
        .expect_err("only the source cancels");
    assert!(e.message.contains("only the source host"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_preparing_the_same_name_leaves_the_first_copy_alone() {
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let _first = prepared(&dst, "ldg1").await;
    let mut second = RawPeer::authenticate(&dst, "admin").await;
    let o = offer(&dst, "ldg1", DomainState::Bound, 2, 512).await;
    second
        .send(&ToTarget::Prepare {
            offer: o,
            started_at: None,
            tuning: Default::default(),
            id: String::new(),
        })
        .await;
    match second.recv().await {
        Some(ToSource::Error { message }) => assert!(message.contains("ldg1"), "{message}"),
        other => panic!("a clashing Prepare answered {other:?}"),
    }
    drop(second);
    // The refused session ends; the first session's copy must not go with it.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let v = dst
        .domain("ldg1")
        .await
        .expect("the first session's copy is still listed");
    assert_eq!(v.operation.expect("still incoming").role, Role::Target);
    assert!(dst.record("ldg1").is_some(), "still in the database");
    assert_eq!(dst.host_view().await.vcpus_free, 8 - 2);
}

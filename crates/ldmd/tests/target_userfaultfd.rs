//! A target whose QEMU could not receive a post-copy (no userfaultfd for
//! its ldmd) says so in `Checked`; the source then refuses
//! `--postcopy=always` in phase 1, saying what to do, and moves with
//! `auto` as before. The target's check is made to fail through its
//! test-only override (`LDMD_TEST_NO_USERFAULTFD`), set for the whole
//! test process: both daemons run in it, and only the target checks.

mod common;

use common::peer::{offer, RawPeer};
use common::Host;
use ldm_api::migration::PostcopyMode;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, ErrorKind, Reply, Request};
use ldmd::migration::protocol::{ToSource, ToTarget};
use ldmd::migration::userfaultfd::TEST_ENV;

fn without_userfaultfd() {
    std::env::set_var(TEST_ENV, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_says_it_cannot_receive_a_postcopy() {
    without_userfaultfd();
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    let o = offer(&dst, "ldg1", DomainState::Bound, 1, 512).await;
    p.send(&ToTarget::Check(o)).await;
    match p.recv().await {
        Some(ToSource::Checked {
            failures,
            postcopy_unavailable,
            ..
        }) => {
            assert!(failures.is_empty(), "{failures:?}");
            let why = postcopy_unavailable.expect("the target names why");
            assert!(why.contains("userfaultfd"), "{why}");
        }
        other => panic!("Check answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_is_refused_in_phase_one_and_auto_moves() {
    without_userfaultfd();
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 1, 256, true).await;
    let before = src.list().await;

    // The dry run names it among the failures.
    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.postcopy = PostcopyMode::Always;
    m.dry_run = true;
    let Reply::DryRun(r) = src.ok(Request::Migrate(m.clone())).await else {
        panic!("a dry run answers with its findings");
    };
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(
        r.failures[0].contains("cannot receive a post-copy: userfaultfd"),
        "{:?}",
        r.failures
    );

    // The move is refused and says what to do; nothing changed.
    m.dry_run = false;
    let e = src
        .call(Request::Migrate(m.clone()))
        .await
        .expect_err("--postcopy=always must be refused");
    assert_eq!(e.kind, ErrorKind::Migration);
    assert!(
        e.message.contains("cannot receive a post-copy") && e.message.contains("--postcopy=auto"),
        "{}",
        e.message
    );
    assert_eq!(src.list().await, before, "the source changed");
    assert!(dst.list().await.is_empty(), "the target holds a domain");
    assert!(src.record("ldg1").unwrap().migration.is_none());

    // `auto` (the default) is not refused: the domain moves.
    m.postcopy = PostcopyMode::Auto;
    let Reply::Migrated(s) = src.ok(Request::Migrate(m)).await else {
        panic!("the move answers with its summary");
    };
    assert!(
        s.warnings.is_empty(),
        "a cold move has no copy: {:?}",
        s.warnings
    );
    assert!(src.list().await.is_empty());
    assert_eq!(
        dst.domain("ldg1").await.map(|d| d.state),
        Some(DomainState::Bound)
    );
}

//! The dry run's throughput probe, as a target answers it: offered in
//! `Checked`, answered with the bytes received, bounded, and only after
//! the checks.

mod common;

use common::peer::{offer, RawPeer};
use common::Host;
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::probe::{measure, TARGET_MAX_BYTES};
use ldmd::migration::protocol::{ToSource, ToTarget};

/// Authenticated and checked: the target's `Checked` answer.
async fn checked(dst: &Host) -> (RawPeer, Option<u64>) {
    let mut p = RawPeer::authenticate(dst, "admin").await;
    let o = offer(dst, "ldg1", DomainState::Bound, 1, 512).await;
    p.send(&ToTarget::Check(o)).await;
    match p.recv().await {
        Some(ToSource::Checked { probe_bytes, .. }) => (p, probe_bytes),
        other => panic!("Check answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_offers_a_probe_and_answers_it() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    let (mut p, offered) = checked(&dst).await;
    assert_eq!(offered, Some(TARGET_MAX_BYTES));
    let rate = measure(&mut p.ch, TARGET_MAX_BYTES).await;
    assert!(rate.is_some_and(|r| r > 0.0), "{rate:?}");
    // The session goes on: a dry run ends it as before.
    p.send(&ToTarget::Abort {
        reason: "dry run".into(),
    })
    .await;
    assert_eq!(p.recv().await, Some(ToSource::Aborted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_beyond_the_bound_or_before_the_checks_is_refused() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    let (mut p, _) = checked(&dst).await;
    p.send(&ToTarget::Probe {
        bytes: TARGET_MAX_BYTES + 1,
    })
    .await;
    match p.recv().await {
        Some(ToSource::Error { message }) => assert!(message.contains("probe"), "{message}"),
        other => panic!("a probe beyond the bound answered {other:?}"),
    }

    let mut p = RawPeer::authenticate(&dst, "admin").await;
    p.send(&ToTarget::Probe { bytes: 1 }).await;
    match p.recv().await {
        Some(ToSource::Error { message }) => assert!(message.contains("probe"), "{message}"),
        other => panic!("a probe before the checks answered {other:?}"),
    }
    assert!(dst.names().await.is_empty());
}

//! The dry run's throughput probe, as a target answers it: offered in
//! `Checked`, answered with the bytes received, bounded, and only after
//! the checks; and the target's first-touch rate, reported in a live
//! move's `Checked` only.

mod common;

use common::peer::{offer, RawPeer};
use common::Host;
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::probe::{measure, TARGET_MAX_BYTES};
use ldmd::migration::protocol::{ToSource, ToTarget};

/// Authenticated and checked: the target's `Checked` answer.
async fn checked(dst: &Host) -> (RawPeer, Option<u64>) {
    let (p, probe_bytes, _) = checked_as(dst, DomainState::Bound).await;
    (p, probe_bytes)
}

/// The same for a domain in `state`, with the first-touch rate.
async fn checked_as(dst: &Host, state: DomainState) -> (RawPeer, Option<u64>, Option<u64>) {
    let mut p = RawPeer::authenticate(dst, "admin").await;
    let o = offer(dst, "ldg1", state, 1, 512).await;
    p.send(&ToTarget::Check(o)).await;
    match p.recv().await {
        Some(ToSource::Checked {
            probe_bytes,
            first_touch_mib_s,
            ..
        }) => (p, probe_bytes, first_touch_mib_s),
        other => panic!("Check answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_reports_its_first_touch_for_a_live_move_only() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    let (_, _, live) = checked_as(&dst, DomainState::Active).await;
    assert!(live.is_some_and(|r| r > 0), "{live:?}");
    let (_, _, cold) = checked_as(&dst, DomainState::Bound).await;
    assert_eq!(cold, None);
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

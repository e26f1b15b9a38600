//! `Recover` (protocol 5) as a target answers it, with a raw protocol
//! client: only the stranded post-copy of that very migration, with its
//! secret, is resumed; anything else is refused in so many words and
//! changes nothing. (No QEMU here: a copy whose QEMU cannot listen again
//! is refused too, and kept.)

mod common;

use common::peer::{offer, RawPeer};
use common::{eventually, Host};
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::protocol::{ToSource, ToTarget, PROTOCOL_VERSION};
use std::time::Duration;

const ID: &str = "4d0c8a1e-2b7f-4c3e-9a5d-6e8f0b1c2d33";
const OTHER: &str = "9f8e7d6c-5b4a-4e3d-8c2b-1a0f9e8d7c6b";

/// The target's answer to `Recover{id, secret}` on a new connection.
async fn recover(dst: &Host, id: &str, secret: &str) -> String {
    let mut p = RawPeer::connect(dst).await;
    assert!(matches!(
        p.hello(PROTOCOL_VERSION).await,
        Some(ToSource::Hello { .. })
    ));
    p.send(&ToTarget::Recover {
        id: id.into(),
        secret: secret.into(),
    })
    .await;
    match p.recv().await {
        Some(ToSource::Error { message }) => message,
        other => panic!("Recover answered {other:?}"),
    }
}

/// Prepares `name` bound under migration `id`; returns the secret.
async fn prepare(p: &mut RawPeer, dst: &Host, name: &str, id: &str) -> String {
    p.send(&ToTarget::Prepare {
        offer: offer(dst, name, DomainState::Bound, 1, 256).await,
        started_at: None,
        tuning: Default::default(),
        id: id.into(),
    })
    .await;
    match p.recv().await {
        Some(ToSource::Prepared {
            secret: Some(s), ..
        }) => s,
        other => panic!("Prepare answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_is_refused_for_anything_but_a_paused_postcopy() {
    // Every migration deadline capped at 2 s (this process only).
    std::env::set_var("LDMD_TEST_DEADLINE_SECS", "2");
    let mut dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;

    // An id this host never saw.
    let m = recover(&dst, ID, "00").await;
    assert_eq!(
        m,
        format!("{ID} is not a migration this host can tell you about")
    );

    // A finished (cold, committed) migration.
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    let done_secret = prepare(&mut p, &dst, "ldg2", OTHER).await;
    p.send(&ToTarget::Commit {
        console_tail: String::new(),
    })
    .await;
    assert!(
        matches!(p.recv().await, Some(ToSource::Committed { .. })),
        "the cold move did not commit"
    );
    drop(p);
    let m = recover(&dst, OTHER, &done_secret).await;
    assert_eq!(
        m,
        format!("migration {OTHER} is complete: ldg2 runs here; there is no post-copy to resume")
    );

    // A post-copy whose source went away: stranded, kept.
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    let secret = prepare(&mut p, &dst, "ldg1", ID).await;
    p.send(&ToTarget::Postcopy {
        console_tail: String::new(),
    })
    .await;
    assert!(matches!(p.recv().await, Some(ToSource::Error { .. })));
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(p);
    eventually("the target marks the stranded copy", || async {
        dst.record("ldg1")
            .and_then(|r| r.migration)
            .is_some_and(|m| m.error.is_some())
    })
    .await;
    let before = dst.record("ldg1").unwrap();

    // The wrong secret is an unknown migration.
    let m = recover(&dst, ID, "not-the-secret").await;
    assert_eq!(
        m,
        format!("{ID} is not a migration this host can tell you about")
    );
    // The right one: this copy has no QEMU to listen again.
    let m = recover(&dst, ID, &secret).await;
    assert!(m.contains("the incoming QEMU is gone"), "{m}");
    // Refusals change nothing: the copy is kept, marked as it was, and
    // held by nobody.
    assert_eq!(dst.record("ldg1").unwrap(), before);
    let note = before.migration.unwrap().error.unwrap();
    assert!(note.contains("post-copy paused"), "{note}");
    assert!(note.contains("never destroys it"), "{note}");
    assert!(dst.domain("ldg1").await.is_some(), "the copy was destroyed");
    // And again after a restart of the target.
    dst.restart().await;
    let m = recover(&dst, ID, &secret).await;
    assert!(m.contains("the incoming QEMU is gone"), "{m}");
    assert!(dst.domain("ldg1").await.is_some(), "the copy was destroyed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_takes_the_copy_from_a_session_that_still_holds_it() {
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    // A post-copy whose session still holds the copy: its source is
    // silent, but well within the silence limit (15 s).
    let mut old = RawPeer::authenticate(&dst, "admin").await;
    let secret = prepare(&mut old, &dst, "ldg1", ID).await;
    old.send(&ToTarget::Postcopy {
        console_tail: String::new(),
    })
    .await;
    // No QEMU here: the guest cannot run, the session stays in post-copy.
    assert!(matches!(old.recv().await, Some(ToSource::Error { .. })));
    assert!(dst.domain("ldg1").await.is_some(), "the copy is not there");

    // The source reconnects: the old session yields at once, and the new
    // one goes as far as this copy allows (no QEMU to listen again),
    // rather than finding the copy held.
    let m = recover(&dst, ID, &secret).await;
    assert!(m.contains("the incoming QEMU is gone"), "{m}");
    // The old session is over; the copy is kept, marked, held by nobody.
    assert!(old.recv().await.is_none(), "the old session goes on");
    let rec = dst.record("ldg1").expect("the copy was removed");
    let note = rec.migration.unwrap().error.unwrap_or_default();
    assert!(note.contains("post-copy paused"), "{note}");
    assert!(dst.domain("ldg1").await.is_some(), "the copy was destroyed");
    // A second Recover finds it free, as any stranded copy.
    let m = recover(&dst, ID, &secret).await;
    assert!(m.contains("the incoming QEMU is gone"), "{m}");
}

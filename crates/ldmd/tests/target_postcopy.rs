//! The target's side of post-copy, with a raw protocol client: once
//! `Postcopy` arrived, the copy is never destroyed, whatever the source
//! does next (here: it falls silent, then goes away), and the outcome
//! `postcopy` is kept, so a source asking later is told "unknown", never
//! "rolled back". (No QEMU here: the copy is a bound one, so running the
//! guest fails, which changes nothing about keeping it; and a QEMU that
//! does not say it failed in the switch, as none can here, never has its
//! copy destroyed.)

mod common;

use common::peer::{offer, RawPeer};
use common::{eventually, Host};
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::protocol::{ToSource, ToTarget, PROTOCOL_VERSION};
use ldmd::migration::source::machine::Outcome;
use std::time::Duration;

const ID: &str = "0b6a3d5e-8f1c-4a8e-b3d2-5c7e9f1a2b44";

async fn ask(dst: &Host, id: &str, secret: &str) -> Option<ToSource> {
    let mut p = RawPeer::connect(dst).await;
    assert!(matches!(
        p.hello(PROTOCOL_VERSION).await,
        Some(ToSource::Hello { .. })
    ));
    p.send(&ToTarget::Resolve {
        id: id.into(),
        secret: secret.into(),
    })
    .await;
    p.recv().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_in_postcopy_keeps_its_copy_when_the_source_goes() {
    // Every migration deadline capped at 2 s (this process only).
    std::env::set_var("LDMD_TEST_DEADLINE_SECS", "2");
    let mut dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    p.send(&ToTarget::Prepare {
        offer: offer(&dst, "ldg1", DomainState::Bound, 2, 512).await,
        started_at: None,
        tuning: Default::default(),
        id: ID.into(),
    })
    .await;
    let secret = match p.recv().await {
        Some(ToSource::Prepared {
            secret: Some(s), ..
        }) => s,
        other => panic!("Prepare answered {other:?}"),
    };
    p.send(&ToTarget::Postcopy {
        console_tail: String::new(),
    })
    .await;
    // No incoming QEMU to run: the target says so, and keeps the copy.
    match p.recv().await {
        Some(ToSource::Error { message }) => {
            assert!(message.contains("post-copy"), "{message}")
        }
        other => panic!("Postcopy answered {other:?}"),
    }
    // The source falls silent past the deadline, then goes away.
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(p);
    eventually("the target marks the stranded copy", || async {
        dst.record("ldg1")
            .and_then(|r| r.migration)
            .is_some_and(|m| m.error.is_some())
    })
    .await;
    assert!(dst.domain("ldg1").await.is_some(), "the copy was destroyed");
    let note = dst
        .record("ldg1")
        .unwrap()
        .migration
        .unwrap()
        .error
        .unwrap();
    assert!(note.contains("never destroys it"), "{note}");
    // A source asking later is not told to resume.
    assert_eq!(
        ask(&dst, ID, &secret).await,
        Some(ToSource::Outcome {
            outcome: Outcome::Unknown
        })
    );
    // A restart keeps it too.
    dst.restart().await;
    assert!(
        dst.domain("ldg1").await.is_some(),
        "a restart destroyed the copy"
    );
}

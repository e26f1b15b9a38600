//! The target's side of the engine's guarantees, with a raw protocol
//! client: a source that falls silent after `Prepare` loses the copy
//! within the (test-capped) deadline, and the outcome stored under the
//! migration's id is told only to a client holding its secret.

mod common;

use common::peer::{offer, RawPeer};
use common::{eventually, Host};
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::protocol::{ToSource, ToTarget, PROTOCOL_VERSION};
use ldmd::migration::source::machine::Outcome;

/// The migration's id.
const ID: &str = "6c1b0bde-5b3c-4c2e-9a57-2f0e8a4d1a11";

/// Asks `dst` about migration `id` with `secret`, as a source that lost
/// the answer does.
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
async fn a_silent_source_loses_the_copy_and_the_outcome_is_kept() {
    // Every migration deadline capped at 2 s (this process only).
    std::env::set_var("LDMD_TEST_DEADLINE_SECS", "2");
    let dst = Host::start("dst").await;
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
    assert!(dst.domain("ldg1").await.is_some());
    // While the copy waits, the outcome is not known yet.
    assert_eq!(
        ask(&dst, ID, &secret).await,
        Some(ToSource::Outcome {
            outcome: Outcome::Unknown
        })
    );
    // The source says nothing more but keeps the connection open.
    eventually("the target drops the copy of a silent source", || async {
        dst.domain("ldg1").await.is_none()
    })
    .await;
    assert!(dst.record("ldg1").is_none());
    assert_eq!(
        ask(&dst, ID, &secret).await,
        Some(ToSource::Outcome {
            outcome: Outcome::RolledBack
        })
    );
    // Without the secret, nothing is told.
    assert!(matches!(
        ask(&dst, ID, "not-the-secret").await,
        Some(ToSource::Error { .. })
    ));
    drop(p);
}

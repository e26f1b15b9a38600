//! A hand-off whose confirmation is lost (the target records the domain
//! as its own, then drops the connection: `LDMD_TEST_FAULT`) is settled
//! from facts: the source asks the target with the migration's secret and
//! removes its copy once the target says it committed. Until then the
//! source keeps its copy with the error note.

mod common;

use common::{eventually, Host};
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_confirmation_is_settled_by_asking_the_target() {
    // Read by the target's session in this process only (one test per
    // process under nextest).
    std::env::set_var("LDMD_TEST_FAULT", "drop-after-resume");
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 2, 1024, true).await;

    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    let e = src
        .call(Request::Migrate(m))
        .await
        .expect_err("the confirmation never came");
    assert!(
        e.message.contains("before the target confirmed"),
        "{}",
        e.message
    );
    // The target keeps the domain it committed.
    let there = dst.domain("ldg1").await.expect("the target lists ldg1");
    assert_eq!(there.state, DomainState::Bound);
    assert!(there.operation.is_none());
    // The source waits for the answer with the note, then settles.
    let rec = src.record("ldg1");
    assert!(
        rec.is_none() || rec.is_some_and(|r| r.migration.is_some_and(|m| m.error.is_some())),
        "the source copy must keep its error note until settled"
    );
    eventually("the source removes its copy after asking", || async {
        src.domain("ldg1").await.is_none()
    })
    .await;
    assert!(src.record("ldg1").is_none());
    let h = src.host_view().await;
    assert_eq!((h.vcpus_free, h.memory_free_mib), (8, 8192));
}

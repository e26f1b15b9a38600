//! `cancel-operation migration` during the checks, before the migration
//! has claimed the domain: the migration ends, nothing changed on either
//! host. The source is held at the `source-checked` hold point (checks
//! passed, domain not yet claimed) while the administrator cancels.

mod common;

use common::{eventually, Host};
use ldm_api::request::UserRole;
use ldm_api::{DomainState, ErrorKind, Request};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_the_checks_ends_the_migration_and_changes_nothing() {
    let holds = tempfile::tempdir().expect("hold directory");
    // nextest runs each test in its own process, and this binary has only
    // this test: the variables reach these daemons alone.
    std::env::set_var(ldmd::testhook::HOLD_VAR, "source-checked");
    std::env::set_var(ldmd::testhook::HOLD_DIR_VAR, holds.path());
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 2, 1024, true).await;

    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    let client = src.client();
    let migration = tokio::spawn(async move { client.call(&Request::Migrate(m)).await });
    let held = ldmd::testhook::held_file(holds.path(), "source-checked");
    eventually("the migration passes its checks", || {
        let held = held.clone();
        async move { held.exists() }
    })
    .await;

    let client = src.client();
    let cancel = tokio::spawn(async move {
        client
            .call(&Request::CancelMigration {
                name: "ldg1".into(),
            })
            .await
    });
    // The cancel is signalled at once; it then waits for the migration to
    // end, which it can only do once released.
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(&held).expect("release the hold");

    let within = Duration::from_secs(60);
    let cancelled = tokio::time::timeout(within, cancel)
        .await
        .expect("cancel answers");
    cancelled
        .expect("cancel task")
        .expect("cancel-operation is accepted during the checks");
    let answer = tokio::time::timeout(within, migration)
        .await
        .expect("migrate-domain answers")
        .expect("migration task");
    let e = answer.expect_err("a cancelled migration fails");
    assert_eq!(e.kind, ErrorKind::Cancelled, "{}", e.message);

    let v = src.domain("ldg1").await.expect("the source keeps ldg1");
    assert_eq!(v.state, DomainState::Bound);
    assert!(v.operation.is_none() && v.note.is_none(), "{v:?}");
    assert!(src.record("ldg1").unwrap().migration.is_none());
    eventually("the target holds nothing", || async {
        dst.domain("ldg1").await.is_none()
    })
    .await;
    assert!(dst.record("ldg1").is_none());
    let h = dst.host_view().await;
    assert_eq!((h.vcpus_free, h.memory_free_mib), (8, 8192));
}

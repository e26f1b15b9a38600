//! A move that renames the domain records the name it gets on the target
//! in the source's migration mark, so that a restarted source names the
//! copy there (its notes, its questions) as the move did. Held at
//! `source-prepared` (`LDMD_TEST_HOLD`, read in this process only: one
//! test per process under nextest) to read the mark mid-move.

mod common;

use common::{eventually, Host};
use ldm_api::request::UserRole;
use ldm_api::Request;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renaming_move_records_the_name_on_the_target() {
    let holds = tempfile::tempdir().expect("hold dir");
    std::env::set_var(ldmd::testhook::HOLD_VAR, "source-prepared");
    std::env::set_var(ldmd::testhook::HOLD_DIR_VAR, holds.path());
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 1, 256, true).await;

    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.new_name = Some("ldg1-moved".into());
    let client = src.client();
    let moving = tokio::spawn(async move { client.call(&Request::Migrate(m)).await });
    let held = holds.path().join("held-source-prepared");
    eventually("the move holds at source-prepared", || {
        let held = held.clone();
        async move { Path::exists(&held) }
    })
    .await;
    let mark = src
        .record("ldg1")
        .and_then(|r| r.migration)
        .expect("the source marks the domain while it moves");
    assert_eq!(mark.peer_name.as_deref(), Some("ldg1-moved"), "{mark:?}");

    std::fs::remove_file(&held).expect("release the hold");
    moving
        .await
        .expect("the move's task")
        .expect("the renamed move completes");
    assert!(src.record("ldg1").is_none());
    assert!(dst.domain("ldg1-moved").await.is_some());
}

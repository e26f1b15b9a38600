//! Cold migration (bound and inactive domains: the definition and binding
//! move, no QEMU) between in-process daemons, checked through both hosts'
//! listings and databases.

mod common;

use common::Host;
use ldm_api::migration::Auth;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Reply, Request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_domain_moves_with_its_definition() {
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 2, 1024, true).await;
    let before = src.domain("ldg1").await.unwrap();

    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    let Reply::Migrated(s) = src.ok(Request::Migrate(m)).await else {
        panic!("a migration answers with its summary");
    };
    assert!(!s.live, "a bound domain moves cold");
    assert_eq!(s.target_name, "ldg1");

    assert!(
        src.domain("ldg1").await.is_none(),
        "the source still lists ldg1"
    );
    assert!(src.record("ldg1").is_none(), "the source still stores ldg1");
    let after = dst.domain("ldg1").await.expect("the target lists ldg1");
    assert_eq!(after.state, DomainState::Bound);
    assert_eq!((after.vcpus, after.memory_mib), (2, 1024));
    assert_eq!(after.uuid, before.uuid);
    assert!(after.cons.is_some(), "a bound domain has a console port");
    assert!(after.operation.is_none() && after.note.is_none());
    assert_eq!(after.flags.short(), "------");
    assert!(dst.record("ldg1").unwrap().migration.is_none());
    let h = dst.host_view().await;
    assert_eq!((h.vcpus_free, h.memory_free_mib), (8 - 2, 8192 - 1024));
    let h = src.host_view().await;
    assert_eq!((h.vcpus_free, h.memory_free_mib), (8, 8192));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_domain_moves_renamed_with_certificate_authentication() {
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    src.add_domain("ldg2", 1, 512, false).await;
    // `ldm add-trust -c` on the target, with the source's fingerprint.
    dst.ok(Request::AddTrust {
        host: "src".into(),
        port: 0,
        fingerprint: Some(src.fingerprint().await),
        source: true,
    })
    .await;

    let mut m = src.migrate_request(&dst, "ldg2", "").await;
    m.auth = Auth::Certificate;
    m.new_name = Some("ldg2-new".into());
    let Reply::Migrated(s) = src.ok(Request::Migrate(m)).await else {
        panic!("a migration answers with its summary");
    };
    assert_eq!(s.target_name, "ldg2-new");
    assert!(src.names().await.is_empty(), "{:?}", src.names().await);
    assert_eq!(dst.names().await, ["ldg2-new"]);
    let v = dst.domain("ldg2-new").await.unwrap();
    assert_eq!(v.state, DomainState::Inactive);
    assert_eq!((v.vcpus, v.memory_mib), (1, 512));
    assert!(v.cons.is_none(), "an inactive domain has no console port");
    assert!(dst.record("ldg2-new").unwrap().migration.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_can_move_back_and_forth() {
    let a = Host::start("a").await;
    let b = Host::start("b").await;
    a.add_user("admin", UserRole::Management).await;
    b.add_user("admin", UserRole::Management).await;
    a.add_domain("ldg1", 1, 256, true).await;
    for _ in 0..3 {
        let m = a.migrate_request(&b, "ldg1", "admin").await;
        a.ok(Request::Migrate(m)).await;
        assert_eq!(b.names().await, ["ldg1"]);
        assert!(a.names().await.is_empty());
        let m = b.migrate_request(&a, "ldg1", "admin").await;
        b.ok(Request::Migrate(m)).await;
        assert_eq!(a.names().await, ["ldg1"]);
        assert!(b.names().await.is_empty());
    }
    assert_eq!(a.domain("ldg1").await.unwrap().state, DomainState::Bound);
}

//! `migrate-domain -n` and the target's refusals, between in-process
//! daemons: every failure is named, and nothing changes on either host.

mod common;

use common::{Host, Size};
use ldm_api::migration::Auth;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, ErrorKind, Reply, Request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_names_every_failure_and_changes_nothing() {
    let src = Host::start("src").await;
    let dst = Host::start_sized(
        "dst",
        Size {
            vcpus: 2,
            memory_mib: 1024,
        },
    )
    .await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 4, 2048, true).await;
    // A kernel that exists when set, and not when the target looks (both
    // daemons share this machine's file system).
    let kernel = src.root().join("vmlinuz");
    std::fs::write(&kernel, b"kernel").unwrap();
    src.ok(Request::SetVar {
        name: "ldg1".into(),
        vars: vec![("kernel".into(), kernel.display().to_string())],
    })
    .await;
    std::fs::remove_file(&kernel).unwrap();
    // The name is taken on the target (inactive, so it uses nothing).
    dst.add_domain("ldg1", 1, 256, false).await;
    let before = (src.list().await, dst.list().await);

    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.dry_run = true;
    let Reply::DryRun(r) = src.ok(Request::Migrate(m)).await else {
        panic!("a dry run answers with its findings");
    };
    let all = r.failures.join("\n");
    for expected in [
        "Domain ldg1 already exists on dst",
        "Not enough free vCPUs on dst: 4 needed, 2 free",
        "Not enough free memory on dst",
        &format!(
            "The kernel of ldg1, {}, does not exist on dst",
            kernel.display()
        ),
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert_eq!(r.failures.len(), 4, "{all}");
    assert_eq!((src.list().await, dst.list().await), before);
    assert!(src.record("ldg1").unwrap().migration.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_of_a_fitting_domain_has_no_failures() {
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 2, 512, true).await;
    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.dry_run = true;
    let Reply::DryRun(r) = src.ok(Request::Migrate(m)).await else {
        panic!("a dry run answers with its findings");
    };
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(dst.list().await.is_empty());
    assert_eq!(src.domain("ldg1").await.unwrap().state, DomainState::Bound);
}

/// Runs a migration that must be refused; returns the error message after
/// checking that neither host changed.
async fn refused(
    src: &Host,
    dst: &Host,
    m: ldm_api::migration::MigrateRequest,
) -> (ErrorKind, String) {
    let before = src.list().await;
    let e = src
        .call(Request::Migrate(m))
        .await
        .expect_err("the migration must be refused");
    assert_eq!(src.list().await, before, "the source changed");
    assert!(dst.list().await.is_empty(), "the target holds a domain");
    assert!(src.record("ldg1").unwrap().migration.is_none());
    (e.kind, e.message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_refusals_say_why() {
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    dst.add_user("auditor", UserRole::Review).await;
    src.add_domain("ldg1", 1, 256, true).await;

    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.auth = Auth::Password("wrong".into());
    let (kind, msg) = refused(&src, &dst, m).await;
    assert_eq!(kind, ErrorKind::Denied);
    assert!(
        msg.contains("authentication failed for user admin on dst"),
        "{msg}"
    );

    let m = src.migrate_request(&dst, "ldg1", "nobody").await;
    let (kind, msg) = refused(&src, &dst, m).await;
    assert_eq!(kind, ErrorKind::Denied);
    assert!(
        msg.contains("authentication failed for user nobody on dst"),
        "{msg}"
    );

    let m = src.migrate_request(&dst, "ldg1", "auditor").await;
    let (kind, msg) = refused(&src, &dst, m).await;
    assert_eq!(kind, ErrorKind::Denied);
    assert!(msg.contains("has the review role"), "{msg}");
    assert!(msg.contains("management"), "{msg}");

    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.auth = Auth::Certificate;
    let (kind, msg) = refused(&src, &dst, m).await;
    assert_eq!(kind, ErrorKind::Denied);
    assert!(
        msg.contains("does not trust this host's certificate"),
        "{msg}"
    );
    assert!(msg.contains("ldm add-trust -c"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_changed_target_certificate_is_refused() {
    let src = Host::start("src").await;
    let dst = Host::start("dst").await;
    let other = Host::start("other").await;
    dst.add_user("admin", UserRole::Management).await;
    src.add_domain("ldg1", 1, 256, true).await;

    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.accept_fingerprint = None;
    let (kind, msg) = refused(&src, &dst, m).await;
    assert_eq!(kind, ErrorKind::Denied);
    assert!(msg.contains("is not trusted yet"), "{msg}");

    // The administrator accepted a fingerprint that is not the one the
    // target presents (another host's): the TLS handshake fails.
    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.accept_fingerprint = Some(other.fingerprint().await);
    let e = src.call(Request::Migrate(m)).await.expect_err("refused");
    assert!(dst.list().await.is_empty());
    assert!(
        matches!(e.kind, ErrorKind::Denied | ErrorKind::Peer),
        "{:?}: {}",
        e.kind,
        e.message
    );
    let Reply::Trust { entries } = src.ok(Request::ListTrust).await else {
        panic!("list-trust");
    };
    assert!(
        entries.is_empty(),
        "a refused certificate was pinned: {entries:?}"
    );
}

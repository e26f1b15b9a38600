//! A daemon restarted with an interrupted migration in its database settles
//! it from what is stored: an unfinished incoming copy goes, an interrupted
//! outgoing domain with no QEMU stays here as the master, and a domain left
//! in the error state keeps its instructions.

mod common;

use common::Host;
use ldm_api::migration::Role;
use ldm_api::DomainState;
use ldmd::record::MigrationMark;

/// Stores a migration mark on `name`, as an ldmd that stopped mid-way
/// would have left it.
fn mark(h: &Host, name: &str, role: Role, error: Option<&str>) {
    let mut rec = h.record(name).expect("stored");
    let mut m = MigrationMark::new(role, "peer.example:8101", "");
    m.error = error.map(str::to_string);
    rec.migration = Some(m);
    h.db().put_domain(&rec).expect("store the mark");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_settles_interrupted_migrations() {
    let mut h = Host::start("h").await;
    h.add_domain("out-bound", 1, 256, true).await;
    h.add_domain("out-error", 1, 256, true).await;
    h.add_domain("in-bound", 2, 512, true).await;
    h.add_domain("in-inactive", 1, 256, false).await;
    h.stop().await;
    mark(&h, "out-bound", Role::Source, None);
    mark(&h, "out-error", Role::Source, Some("settle me"));
    mark(&h, "in-bound", Role::Target, None);
    mark(&h, "in-inactive", Role::Target, None);
    h.restart().await;

    assert_eq!(h.names().await, ["out-bound", "out-error"]);
    assert!(
        h.record("in-bound").is_none(),
        "the incoming bound copy is still stored"
    );
    assert!(
        h.record("in-inactive").is_none(),
        "the incoming inactive copy is still stored"
    );

    let v = h.domain("out-bound").await.unwrap();
    assert_eq!(v.state, DomainState::Bound);
    assert!(v.note.is_none() && v.operation.is_none(), "{v:?}");
    assert!(h.record("out-bound").unwrap().migration.is_none());

    let v = h.domain("out-error").await.unwrap();
    assert!(v.flags.short().ends_with('e'), "flags {}", v.flags.short());
    assert!(
        v.note.as_deref().is_some_and(|n| n.contains("settle me")),
        "{v:?}"
    );

    let free = h.host_view().await;
    assert_eq!((free.vcpus_free, free.memory_free_mib), (8 - 2, 8192 - 512));

    // Settled for good: a second restart changes nothing.
    let before = h.list().await;
    h.restart().await;
    assert_eq!(h.list().await.len(), before.len());
}

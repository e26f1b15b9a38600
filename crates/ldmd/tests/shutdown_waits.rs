//! A daemon stopped while it waits in the background lets go at once: the
//! question about an unconfirmed hand-off stops with the daemon (nothing
//! keeps its database open), its stored state stays, and the next start
//! asks again.

mod common;

use common::{eventually, Host};
use ldm_api::migration::Role;
use ldmd::migration::source::machine::State;
use ldmd::record::{MachineState, MigrationMark};
use std::path::Path;

const FACTS: &str = "ldmd restarted after Commit, before the target confirmed";

/// Whether this process holds `db` (or its journal) open.
fn holds_open(db: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|p| p.starts_with(db.parent().unwrap()) && p.to_string_lossy().contains(".db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_daemon_stops_asking_the_target_and_asks_again_at_start() {
    let mut h = Host::start("h").await;
    h.add_domain("ldg1", 1, 256, true).await;
    h.stop().await;
    // A hand-off whose target (nobody listens on port 1) never answers.
    let mut rec = h.record("ldg1").expect("stored");
    let mut m = MigrationMark::new(Role::Source, "127.0.0.1:1", "m-unconfirmed");
    m.error = Some(FACTS.into());
    m.secret = Some("secret".into());
    m.state = Some(MachineState::Source(State::Unconfirmed {
        facts: FACTS.into(),
        postcopy: false,
    }));
    rec.migration = Some(m.clone());
    h.db().put_domain(&rec).expect("store the mark");

    h.restart().await;
    let v = h.domain("ldg1").await.expect("listed");
    assert!(v.flags.short().ends_with('e'), "flags {}", v.flags.short());
    assert!(
        v.note.as_deref().is_some_and(|n| n.contains(FACTS)),
        "{v:?}"
    );

    h.stop().await;
    let db = h.db_path();
    eventually("the stopped daemon lets go of its database", || async {
        !holds_open(&db)
    })
    .await;
    assert_eq!(
        h.record("ldg1").and_then(|r| r.migration),
        Some(m),
        "the unconfirmed hand-off stays stored as it was"
    );

    h.restart().await;
    let v = h.domain("ldg1").await.expect("listed after the next start");
    assert!(v.flags.short().ends_with('e'), "flags {}", v.flags.short());
    assert!(
        v.note.as_deref().is_some_and(|n| n.contains(FACTS)),
        "{v:?}"
    );
}

/// A post-copy lost in the switch is over: a restarted daemon keeps the
/// domain marked with the note that says what to do, and asks nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_copy_lost_in_the_switch_stays_marked_across_restarts() {
    const NOTE: &str = "post-copy lost in the switch: the link to peer broke after this host's QEMU switched to post-copy and before the guest ran on peer, which rolled back and holds no copy. QEMU cannot resume a source that switched: the guest's running state is lost. Restart the domain here: `ldm stop-domain -f ldg1`, then `ldm start-domain ldg1`.";
    let mut h = Host::start("h").await;
    h.add_domain("ldg1", 1, 256, true).await;
    h.stop().await;
    let mut rec = h.record("ldg1").expect("stored");
    let mut m = MigrationMark::new(Role::Source, "127.0.0.1:1", "m-lost");
    m.error = Some(NOTE.into());
    m.secret = Some("secret".into());
    m.state = Some(MachineState::Source(State::SwitchLost {
        facts: "the target rolled back".into(),
    }));
    rec.migration = Some(m.clone());
    h.db().put_domain(&rec).expect("store the mark");

    for _ in 0..2 {
        h.restart().await;
        let v = h.domain("ldg1").await.expect("listed");
        assert!(v.flags.short().ends_with('e'), "flags {}", v.flags.short());
        assert_eq!(v.note.as_deref(), Some(NOTE), "{v:?}");
        h.stop().await;
        let db = h.db_path();
        eventually("nothing asks about a settled move", || async {
            !holds_open(&db)
        })
        .await;
        assert_eq!(h.record("ldg1").and_then(|r| r.migration), Some(m.clone()));
    }
}

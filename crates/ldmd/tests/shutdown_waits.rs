//! A daemon stopped while it waits in the background lets go at once: the
//! question about an unconfirmed hand-off stops with the daemon (nothing
//! keeps its database open), its stored state stays, and the next start
//! asks again. So does the question to a silent QEMU whether it switched
//! to post-copy, once the target rolled back; the next start waits out
//! QEMU's silence and never resumes the guest, whether it settles an
//! unconfirmed post-copy or takes up a paused one.

mod common;

use common::peer::{offer, RawPeer};
use common::{eventually, Host};
use ldm_api::migration::Role;
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::protocol::{ToSource, ToTarget};
use ldmd::migration::source::machine::{State, SWITCH_LOST_FACTS};
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

/// A QEMU started with `-S` (no guest code runs) where ldmd looks for a
/// domain's, killed on drop.
struct Qemu {
    pid: u32,
    uuid: uuid::Uuid,
}

impl Qemu {
    async fn launch(h: &Host, rec: &ldmd::record::DomainRecord) -> Qemu {
        let paths = ldmd::paths::Paths::new(h.root());
        let uuid = rec.spec.uuid;
        let mut cfg = ldm_qemu::MachineConfig::new(&rec.spec.name, uuid, &paths.run_dir());
        cfg.memory_mib = rec.spec.memory_mib;
        cfg.start_paused = true;
        cfg.qmp_socket = paths.qmp_socket(&uuid);
        cfg.console_socket = paths.console_socket(&uuid);
        cfg.pidfile = paths.pidfile(&uuid);
        let bin = ldm_qemu::QemuBinary::probe(None).expect("qemu-system-x86_64 is installed");
        let pid = ldm_qemu::launch(&bin, &cfg, false)
            .await
            .expect("launch QEMU");
        Qemu { pid, uuid }
    }

    fn signal(&self, sig: i32) {
        ldm_qemu::kill(self.pid, sig).expect("signal QEMU");
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if ldm_qemu::process_matches(self.pid, &self.uuid) {
            let _ = ldm_qemu::kill(self.pid, libc::SIGKILL);
        }
    }
}

/// The migration of the tests below.
const ID: &str = "2f4e7a9c-1b3d-4c5e-8f6a-7b9c0d1e2f3a";

/// A target that prepared the move of ldg1 ([`ID`]), then rolled it back
/// (its stored outcome), and the secret it handed over.
async fn rolled_back_target() -> (Host, String) {
    let dst = Host::start("dst").await;
    dst.add_user("admin", UserRole::Management).await;
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    p.send(&ToTarget::Prepare {
        offer: offer(&dst, "ldg1", DomainState::Bound, 1, 256).await,
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
    p.send(&ToTarget::Abort {
        reason: "the link broke".into(),
    })
    .await;
    assert!(matches!(p.recv().await, Some(ToSource::Aborted)));
    (dst, secret)
}

/// A stopped source whose ldg1 is suspended in `state` of the move to
/// `dst` (trusted), with `facts` as its note, and its QEMU, started where
/// ldmd looks for it and frozen as one caught in an unfinished switch.
async fn frozen_source(
    dst: &Host,
    secret: String,
    facts: &str,
    state: State,
) -> (Host, Qemu, MigrationMark) {
    let mut h = Host::start("src").await;
    h.add_domain("ldg1", 1, 256, true).await;
    h.stop().await;
    let target = dst.peer_addr.to_string();
    h.db()
        .put_trust(&target, "target", &dst.fingerprint().await)
        .expect("trust the target");
    let mut rec = h.record("ldg1").expect("stored");
    rec.state = DomainState::Suspended;
    if let Some(b) = rec.binding.as_mut() {
        // Any free port for the console of the adopted QEMU.
        b.console_port = 0;
    }
    let mut m = MigrationMark::new(Role::Source, target.as_str(), ID);
    m.error = Some(facts.into());
    m.secret = Some(secret);
    m.state = Some(MachineState::Source(state));
    rec.migration = Some(m.clone());
    h.db().put_domain(&rec).expect("store the mark");
    let qemu = Qemu::launch(&h, &rec).await;
    qemu.signal(libc::SIGSTOP);
    (h, qemu, m)
}

/// Waits up to `secs` for ldg1's move to end lost in the switch, then
/// checks what a user sees: suspended, `e`, the note that says what to
/// do, its QEMU still there.
async fn ends_lost_in_the_switch(h: &Host, qemu: &Qemu, secs: u64) {
    let lost = |h: &Host| {
        h.record("ldg1").and_then(|r| r.migration).is_some_and(|m| {
            matches!(
                m.state,
                Some(MachineState::Source(State::SwitchLost { .. }))
            )
        })
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !lost(h) {
        assert!(
            std::time::Instant::now() < until,
            "the move did not end lost in the switch within {secs} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let v = h.domain("ldg1").await.expect("listed");
    assert_eq!(v.state, DomainState::Suspended, "resumed on a guess: {v:?}");
    assert!(v.flags.short().ends_with('e'), "flags {}", v.flags.short());
    assert!(v.operation.is_none(), "{v:?}");
    let note = v.note.unwrap_or_default();
    assert!(
        note.starts_with("post-copy lost in the switch")
            && note.contains("`ldm stop-domain -f ldg1`"),
        "{note}"
    );
    assert_eq!(
        h.record("ldg1")
            .and_then(|r| r.migration)
            .and_then(|m| m.state),
        Some(MachineState::Source(State::SwitchLost {
            facts: SWITCH_LOST_FACTS.into()
        }))
    );
    assert!(
        ldm_qemu::process_matches(qemu.pid, &qemu.uuid),
        "the source copy was destroyed"
    );
    assert_eq!(h.ldm(&["list", "ldg1"]).await, 0);
}

/// An unconfirmed post-copy whose target rolled back (the link broke in
/// the switch): the source asks its frozen QEMU whether it switched.
/// Stopped meanwhile, the daemon lets go at once and the stored state
/// stays; the next start asks again, waits out QEMU's silence (the
/// test-capped deadline) and ends the move lost in the switch: the guest
/// is not resumed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_qemu_after_the_target_rolled_back_is_never_resumed() {
    const FACTS: &str = "ldmd restarted after the post-copy completed, before the target confirmed";
    let (dst, secret) = rolled_back_target().await;
    let state = State::Unconfirmed {
        facts: FACTS.into(),
        postcopy: true,
    };
    let (mut h, qemu, m) = frozen_source(&dst, secret, FACTS, state).await;

    // The target answers `rolled-back`; the source claims the domain and
    // asks its silent QEMU (a wait that, uncapped, outlasts SETTLE: one
    // test per process under nextest).
    h.restart().await;
    eventually("the source asks its QEMU whether it switched", || async {
        h.domain("ldg1")
            .await
            .is_some_and(|v| v.operation.is_some())
    })
    .await;
    h.stop().await;
    let db = h.db_path();
    eventually("the stopped daemon stops asking QEMU", || async {
        !holds_open(&db)
    })
    .await;
    assert_eq!(
        h.record("ldg1").and_then(|r| r.migration),
        Some(m),
        "the unconfirmed post-copy stays stored as it was"
    );

    // Asked again at the next start; QEMU's silence outlasts the
    // (capped) wait: counted as switched, never resumed.
    std::env::set_var(ldmd::migration::deadline::TEST_ENV, "3");
    h.restart().await;
    ends_lost_in_the_switch(&h, &qemu, 20).await;
}

/// The same through the machine of the move: a post-copy paused when
/// ldmd stopped is taken up at the next start, the target will not
/// recover it and says it rolled back, and the frozen QEMU, asked
/// whether it switched, counts as switched once the (test-capped) wait
/// is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_post_copy_taken_up_with_a_silent_qemu_is_never_resumed() {
    const FACTS: &str = "the link to the target broke during post-copy";
    // Every migration deadline capped at 3 s (this process only).
    std::env::set_var(ldmd::migration::deadline::TEST_ENV, "3");
    let (dst, secret) = rolled_back_target().await;
    let state = State::PostcopyPaused {
        facts: FACTS.into(),
    };
    let (mut h, qemu, _) = frozen_source(&dst, secret, FACTS, state).await;
    h.restart().await;
    // QEMU's silence is waited out three times: whether its copy
    // completed, its pause, whether it switched.
    ends_lost_in_the_switch(&h, &qemu, 60).await;
}

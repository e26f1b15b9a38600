//! [`switched`](super::switched) asked of a real QEMU, started with `-S`
//! so that no guest code runs. A QEMU frozen with SIGSTOP stands for one
//! caught in an unfinished switch over a dead link: it holds its main
//! loop and answers nothing.

use super::{switched_within, QemuHandle};
use crate::daemon::Daemon;
use crate::ops::machine::QmpGuard;
use ldm_qemu::{MachineConfig, MigrationStatus, QemuBinary};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The wait of the tests where QEMU stays silent throughout: two
/// unanswered rounds ([`Wait::QemuCommand`](crate::migration::deadline::Wait)
/// is 2 s).
const SHORT: Duration = Duration::from_secs(4);

/// The wait where QEMU answers, or ldmd shuts down, long before it ends
/// ([`Wait::CopyHeadway`](crate::migration::deadline::Wait)'s own).
const LONG: Duration = Duration::from_secs(30);

/// A daemon on a temporary root, for its shutdown signal.
async fn daemon(root: &Path) -> Arc<Daemon> {
    let mut cfg = crate::Config::new(root);
    cfg.hostname = Some("h".into());
    cfg.vcpus = Some(8);
    cfg.memory_mib = Some(8192);
    cfg.accel = Some("tcg".into());
    cfg.boot_id = Some("boot-1".into());
    Daemon::open(cfg).await.expect("open a daemon")
}

/// A QEMU started with `-S` (no guest code runs), killed on drop.
struct Qemu {
    cfg: MachineConfig,
    pid: u32,
}

impl Qemu {
    async fn launch(dir: &Path) -> Qemu {
        let mut cfg = MachineConfig::new("sw", uuid::Uuid::new_v4(), &dir.join("q"));
        cfg.memory_mib = 256;
        cfg.start_paused = true;
        let bin = QemuBinary::probe(None).expect("qemu-system-x86_64 is installed");
        let pid = ldm_qemu::launch(&bin, &cfg, false)
            .await
            .expect("launch QEMU");
        Qemu { cfg, pid }
    }

    /// The handle the source keeps, connected as it is during a move.
    async fn handle(&self) -> QemuHandle {
        let h: QemuHandle = (Arc::new(Mutex::new(None)), self.cfg.qmp_socket.clone());
        let mut g = QmpGuard::lock(&h.0, &h.1).await.expect("connect QMP");
        let s = g.q().query_status().await.expect("query-status");
        assert!(!s.running, "a QEMU started with -S runs no guest code");
        drop(g);
        h
    }

    fn freeze(&self) {
        ldm_qemu::kill(self.pid, libc::SIGSTOP).expect("SIGSTOP QEMU");
    }

    fn thaw(&self) {
        ldm_qemu::kill(self.pid, libc::SIGCONT).expect("SIGCONT QEMU");
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if ldm_qemu::process_matches(self.pid, &self.cfg.uuid) {
            let _ = ldm_qemu::kill(self.pid, libc::SIGKILL);
        }
    }
}

/// QEMU's migration status, read over `h`.
async fn status(h: &QemuHandle) -> MigrationStatus {
    let mut g = QmpGuard::lock(&h.0, &h.1).await.expect("connect QMP");
    g.q().query_migrate().await.expect("query-migrate").status
}

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ldmd-sw-")
        .tempdir()
        .expect("temporary directory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_qemu_counts_as_switched_once_the_wait_is_over() {
    let dir = temp();
    let d = daemon(&dir.path().join("root")).await;
    let q = Qemu::launch(dir.path()).await;
    let h = q.handle().await;
    q.freeze();
    let t0 = Instant::now();
    let r = switched_within(&d, "ldg1", &h, SHORT).await;
    let waited = t0.elapsed();
    q.thaw();
    assert_eq!(
        r,
        Some(true),
        "a QEMU that says nothing may have switched: the source is never resumed on a guess"
    );
    assert!(
        waited >= SHORT,
        "gave up after {waited:?}, before the wait of {SHORT:?} was over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_silent_for_a_while_is_asked_again_and_heard() {
    let dir = temp();
    let d = daemon(&dir.path().join("root")).await;
    let q = Qemu::launch(dir.path()).await;
    let h = q.handle().await;
    q.freeze();
    let asking = tokio::spawn({
        let (d, h) = (d.clone(), h.clone());
        async move { switched_within(&d, "ldg1", &h, LONG).await }
    });
    // Past the first unanswered round.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!asking.is_finished(), "stopped asking a silent QEMU");
    q.thaw();
    let r = asking.await.expect("the wait ran");
    assert_eq!(
        r,
        Some(false),
        "a QEMU that answers, out of any migration, never switched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_out_of_any_migration_never_switched() {
    let dir = temp();
    let d = daemon(&dir.path().join("root")).await;
    let q = Qemu::launch(dir.path()).await;
    let h = q.handle().await;
    assert_eq!(status(&h).await, MigrationStatus::None);
    let t0 = Instant::now();
    assert_eq!(switched_within(&d, "ldg1", &h, LONG).await, Some(false));
    // A migration that failed (nobody listens where it goes).
    {
        let mut g = QmpGuard::lock(&h.0, &h.1).await.expect("connect QMP");
        let nowhere = dir.path().join("nobody-listens.sock");
        let _ = g.q().migrate(&format!("unix:{}", nowhere.display())).await;
    }
    let until = Instant::now() + Duration::from_secs(20);
    while status(&h).await != MigrationStatus::Failed {
        assert!(
            Instant::now() < until,
            "the migration to nowhere did not fail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(switched_within(&d, "ldg1", &h, LONG).await, Some(false));
    let took = t0.elapsed();
    assert!(
        took < LONG / 2,
        "a settled answer waited for the deadline ({took:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_still_copying_is_asked_until_its_migration_ends() {
    let dir = temp();
    let d = daemon(&dir.path().join("root")).await;
    let q = Qemu::launch(dir.path()).await;
    let h = q.handle().await;
    // A peer that accepts and never reads: the copy stays active.
    let sink = dir.path().join("sink.sock");
    let _peer = std::os::unix::net::UnixListener::bind(&sink).expect("listen");
    {
        let mut g = QmpGuard::lock(&h.0, &h.1).await.expect("connect QMP");
        g.q()
            .migrate(&format!("unix:{}", sink.display()))
            .await
            .expect("migrate");
    }
    let until = Instant::now() + Duration::from_secs(20);
    while status(&h).await != MigrationStatus::Active {
        assert!(Instant::now() < until, "the copy did not become active");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asking = tokio::spawn({
        let (d, h) = (d.clone(), h.clone());
        async move { switched_within(&d, "ldg1", &h, LONG).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status(&h).await, MigrationStatus::Active);
    assert!(
        !asking.is_finished(),
        "took a copy still under way for an answer"
    );
    {
        let mut g = QmpGuard::lock(&h.0, &h.1).await.expect("connect QMP");
        g.q().migrate_cancel().await.expect("migrate_cancel");
    }
    let r = asking.await.expect("the wait ran");
    assert_eq!(r, Some(false), "a cancelled copy never switched");
    assert_eq!(status(&h).await, MigrationStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_the_wait_with_nothing_decided() {
    let dir = temp();
    let d = daemon(&dir.path().join("root")).await;
    let q = Qemu::launch(dir.path()).await;
    let h = q.handle().await;
    q.freeze();
    let asking = tokio::spawn({
        let (d, h) = (d.clone(), h.clone());
        async move { switched_within(&d, "ldg1", &h, LONG).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!asking.is_finished(), "stopped asking a silent QEMU");
    d.shutdown.send_replace(true);
    // Well before the wait would be over.
    let r = tokio::time::timeout(LONG / 2, asking)
        .await
        .expect("the wait went on after the shutdown")
        .expect("the wait ran");
    q.thaw();
    assert_eq!(r, None, "decided while shutting down");
}

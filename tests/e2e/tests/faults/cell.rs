//! One cell of the fault matrix: a live migration of `ldg1` from host A
//! (0) to host B (1) held at the phase's hold point, the fault injected
//! there, then the verdict (see `verdict.rs`).

use crate::verdict;
use ldm_e2e::lab::SLOW_KBIT;
use ldm_e2e::*;
use std::time::Duration;

/// Every migration deadline of the lab's ldmd, seconds
/// (`LDMD_TEST_DEADLINE_SECS`).
pub const DEADLINE_SECS: u64 = 6;
/// How long a freeze, a cut or a slow link lasts: longer than any deadline,
/// with room for a deadline that leads to one more bounded wait.
pub const OUTAGE: Duration = Duration::from_secs(20);
/// How long `ldm migrate-domain` may take in a cell, outage included.
const CLIENT_LIMIT: Duration = Duration::from_secs(300);
/// The domain that moves.
pub const NAME: &str = "ldg1";
/// Host A, where the domain starts.
pub const A: usize = 0;
/// Host B, the target.
pub const B: usize = 1;

/// A side of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Host A.
    Source,
    /// Host B.
    Target,
}

impl Side {
    /// The lab host of this side.
    pub fn host(self) -> usize {
        match self {
            Side::Source => A,
            Side::Target => B,
        }
    }
}

/// Where in the migration the fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The source passed its checks, nothing is claimed on the target.
    Checks,
    /// The target created its copy and incoming QEMU, `Prepared` not sent.
    Prepare,
    /// QEMU copies memory (capped bandwidth, so it lasts).
    Copy,
    /// QEMU completed: the source is paused, `Commit` not sent.
    Switchover,
    /// The target received `Commit` and has not resumed yet.
    Handoff,
    /// The target resumed the domain; `Committed` not sent.
    Committed,
}

impl Phase {
    /// All phases, in order.
    pub const ALL: [Phase; 6] = [
        Phase::Checks,
        Phase::Prepare,
        Phase::Copy,
        Phase::Switchover,
        Phase::Handoff,
        Phase::Committed,
    ];

    /// The host and ldmd hold point where this phase is held.
    pub fn hold(self) -> (usize, &'static str) {
        match self {
            Phase::Checks => (A, "source-checked"),
            Phase::Prepare => (B, "target-prepared"),
            Phase::Copy => (A, "source-copying"),
            Phase::Switchover => (A, "source-switchover"),
            Phase::Handoff => (B, "target-commit"),
            Phase::Committed => (B, "target-committed"),
        }
    }

    /// Whether the source may have sent its final state: from here on an
    /// unknown outcome leaves the source paused in `e`.
    pub fn final_state_may_be_sent(self) -> bool {
        matches!(self, Phase::Switchover | Phase::Handoff | Phase::Committed)
    }
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL to that side's QEMU.
    KillQemu(Side),
    /// SIGKILL to that side's ldmd, restarted once the client is done.
    KillLdmd(Side),
    /// SIGSTOP to that side's ldmd for [`OUTAGE`], then SIGCONT.
    Freeze(Side),
    /// The link between the hosts cut for [`OUTAGE`], then restored.
    Cut,
    /// The link slowed to [`SLOW_KBIT`] for [`OUTAGE`].
    Slow,
    /// `ldm cancel-operation migration` on the source, before the point of
    /// no return (`Commit` sent).
    Cancel,
}

impl Fault {
    /// All faults.
    pub const ALL: [Fault; 9] = [
        Fault::KillQemu(Side::Source),
        Fault::KillQemu(Side::Target),
        Fault::KillLdmd(Side::Source),
        Fault::KillLdmd(Side::Target),
        Fault::Freeze(Side::Source),
        Fault::Freeze(Side::Target),
        Fault::Cut,
        Fault::Slow,
        Fault::Cancel,
    ];

    /// Whether the fault can strike in `phase`: the target has no QEMU
    /// before it prepared; a cancel after `Commit` is not one.
    pub fn applies(self, phase: Phase) -> bool {
        match self {
            Fault::KillQemu(Side::Target) => phase != Phase::Checks,
            Fault::Cancel => !matches!(phase, Phase::Handoff | Phase::Committed),
            _ => true,
        }
    }
}

/// Runs one cell and asserts the invariant.
pub fn run_cell(phase: Phase, fault: Fault) {
    assert!(fault.applies(phase), "{fault:?} cannot strike in {phase:?}");
    let _lock = guest_lock();
    let (hold_host, point) = phase.hold();
    let mut lab = Lab::start(
        LabOpts::hosts(2)
            .deadline_secs(DEADLINE_SECS)
            .hold(hold_host, point),
    );
    boot_domain(lab.host(A), NAME, 1, "256M", "64,8");
    let before = wait_for_memwork(lab.host(A), NAME, 2, FIRST_LINE_TIMEOUT);
    // A capped copy lasts long enough for a fault to strike during it.
    let extra: &[&str] = if phase == Phase::Copy {
        &["--max-bandwidth", "8"]
    } else {
        &[]
    };
    let child = lab.spawn_migrate(A, B, NAME, extra);
    lab.wait_held(hold_host, point, Duration::from_secs(120));
    let killed = inject(&mut lab, fault, hold_host, point);
    lab.disarm_holds(A);
    lab.disarm_holds(B);
    let client = output::finish("ldm migrate-domain".into(), child, CLIENT_LIMIT);
    eprintln!(
        "cell {phase:?} x {fault:?}: migrate-domain exited {:?}\n{}{}",
        client.code, client.stdout, client.stderr
    );
    if let Some(i) = killed {
        lab.start_ldmd(i);
    }
    if fault == Fault::Cancel {
        assert_ne!(client.code, Some(0), "a cancelled migration succeeded");
        assert!(client.stderr.contains("cancelled"), "{}", client.stderr);
    }
    let runs_on = verdict::settle_and_check(&lab, phase, fault, &before);
    verdict::fresh_migration(&lab, runs_on);
}

/// Injects `fault` while `hold_host` holds at `point`, and lets the
/// migration go on; returns the host whose ldmd was killed, if any. A side
/// that stays up must settle (show no migration in progress) within the
/// outage, since it outlasts every deadline.
fn inject(lab: &mut Lab, fault: Fault, hold_host: usize, point: &str) -> Option<usize> {
    match fault {
        Fault::KillQemu(side) => {
            let pids = lab.kill_qemus(side.host());
            assert!(!pids.is_empty(), "no QEMU to kill on the {side:?}");
            lab.release(hold_host, point);
            None
        }
        Fault::KillLdmd(side) => {
            lab.kill_ldmd(side.host());
            lab.release(hold_host, point);
            let other = 1 - side.host();
            let settled = poll(OUTAGE, Duration::from_millis(250), || {
                verdict::settled(lab, other).then_some(())
            });
            verdict::assert_settled_in_outage(lab, fault, other, settled.is_some());
            Some(side.host())
        }
        Fault::Freeze(side) => {
            lab.freeze(side.host());
            lab.release(hold_host, point);
            std::thread::sleep(OUTAGE);
            let other = 1 - side.host();
            let settled = verdict::settled(lab, other);
            lab.thaw(side.host());
            verdict::assert_settled_in_outage(lab, fault, other, settled);
            None
        }
        Fault::Cut => {
            lab.cut(B);
            lab.release(hold_host, point);
            std::thread::sleep(OUTAGE);
            let settled = [A, B].map(|i| verdict::settled(lab, i));
            lab.restore(B);
            for i in [A, B] {
                verdict::assert_settled_in_outage(lab, fault, i, settled[i]);
            }
            None
        }
        Fault::Cancel => {
            let cancel = lab
                .host(A)
                .ldm_command()
                .args(["cancel-operation", "migration", NAME])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn ldm cancel-operation");
            // The cancel is under way before the migration goes on.
            std::thread::sleep(Duration::from_millis(500));
            lab.release(hold_host, point);
            output::finish("ldm cancel-operation".into(), cancel, CLIENT_LIMIT).ok();
            None
        }
        Fault::Slow => {
            lab.slow(B, SLOW_KBIT);
            lab.release(hold_host, point);
            std::thread::sleep(OUTAGE);
            lab.unslow(B);
            None
        }
    }
}

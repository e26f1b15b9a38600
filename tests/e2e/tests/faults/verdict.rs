//! The invariant after a fault: exactly one copy runs, or the source waits
//! in `e` and the documented recovery works; the guest's verifier is OK;
//! both hosts' lists agree with what runs; a fresh migration then works.

use crate::cell::{Fault, Phase, Side, A, B, NAME};
use ldm_e2e::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the hosts may take to settle once the fault is over.
const SETTLE: Duration = Duration::from_secs(120);

/// What the two hosts' listings say once nothing is in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The domain runs on this host only.
    Runs(usize),
    /// The source waits paused in `e`; whether the target runs it.
    Waits { target_runs: bool },
    /// The guest died with the QEMU killed: this host shows it bound.
    Lost(usize),
}

type Row = BTreeMap<String, String>;

fn row(lab: &Lab, i: usize) -> Option<Row> {
    domains(lab.host(i)).remove(NAME)
}

/// The FLAGS column's last character: `s`ource or `t`arget of a migration
/// in progress, `e`rror, or `-`.
fn mark(r: &Row) -> char {
    r["flags"].chars().last().unwrap_or('-')
}

fn in_progress(r: &Option<Row>) -> bool {
    r.as_ref().is_some_and(|r| matches!(mark(r), 's' | 't'))
}

fn running(r: &Option<Row>) -> bool {
    r.as_ref()
        .is_some_and(|r| r["state"] == "active" && mark(r) != 'e')
}

fn describe(lab: &Lab) -> String {
    (0..2)
        .map(|i| {
            let h = lab.host(i);
            format!(
                "host {i}: `ldm list`:\n{}QEMUs: {:?}\nldmd log tail:\n{}\n",
                h.ldm(&["list"]).stdout,
                h.qemu_pids(),
                tail_lines(&h.log(), 15)
            )
        })
        .collect()
}

/// Whether host `i` shows no migration of the domain in progress.
pub fn settled(lab: &Lab, i: usize) -> bool {
    !in_progress(&row(lab, i))
}

/// Asserts host `i`, up through a fault that outlasted every deadline,
/// had settled by the end of it.
pub fn assert_settled_in_outage(lab: &Lab, fault: Fault, i: usize, settled: bool) {
    assert!(
        settled,
        "host {i} still showed the migration in progress after {:?} of {fault:?}, longer than every deadline ({} s):\n{}",
        crate::cell::OUTAGE,
        crate::cell::DEADLINE_SECS,
        describe(lab)
    );
}

/// Waits until neither host shows the migration in progress, each host
/// listing the domain running has its QEMU, and the source is not waiting
/// in `e` for the target's answer (it asks by itself); reads the outcome;
/// never two running copies on the way. A source still in `e` after
/// [`SETTLE`] (its target never answered) is the `Waits` outcome.
fn settle(lab: &Lab) -> Outcome {
    let rows = |done: &dyn Fn(&Option<Row>, &Option<Row>) -> bool| {
        let (a, b) = (row(lab, A), row(lab, B));
        assert!(
            !(running(&a) && running(&b)),
            "two running copies:\n{}",
            describe(lab)
        );
        done(&a, &b).then_some((a, b))
    };
    // A host that lists the domain running must have its QEMU: ldmd may
    // take a moment to notice one that died.
    let truthful = |i: usize, r: &Option<Row>| !running(r) || !lab.host(i).qemu_pids().is_empty();
    let quiet = |a: &Option<Row>, b: &Option<Row>| {
        !in_progress(a) && !in_progress(b) && truthful(A, a) && truthful(B, b)
    };
    let waiting = |r: &Option<Row>| r.as_ref().is_some_and(|r| mark(r) == 'e');
    let (a, b) = poll(SETTLE, Duration::from_millis(250), || {
        rows(&|a, b| quiet(a, b) && !waiting(a))
    })
    .or_else(|| rows(&|a, b| quiet(a, b)))
    .unwrap_or_else(|| {
        panic!(
            "within {SETTLE:?}, the migration did not settle or a host kept listing the domain active without a QEMU:\n{}",
            describe(lab)
        )
    });
    let state = |r: &Option<Row>| r.as_ref().map(|r| (r["state"].clone(), mark(r)));
    match (state(&a), state(&b)) {
        (Some((s, '-')), None) if s == "active" => Outcome::Runs(A),
        (None, Some((s, '-'))) if s == "active" => Outcome::Runs(B),
        (Some((s, 'e')), b) if s == "suspended" => Outcome::Waits {
            target_runs: match b {
                None => false,
                Some((s, '-')) if s == "active" => true,
                _ => panic!("the target keeps a stale copy:\n{}", describe(lab)),
            },
        },
        (Some((s, '-')), None) if s == "bound" => Outcome::Lost(A),
        (None, Some((s, '-'))) if s == "bound" => Outcome::Lost(B),
        _ => panic!("unexpected outcome:\n{}", describe(lab)),
    }
}

/// The host whose guest may die with this fault: the one whose QEMU was
/// killed while it held the only copy that could run.
fn may_lose(phase: Phase, fault: Fault) -> Option<usize> {
    match (fault, phase) {
        (Fault::KillQemu(Side::Source), Phase::Checks | Phase::Prepare | Phase::Copy) => Some(A),
        (Fault::KillQemu(Side::Target), Phase::Committed) => Some(B),
        _ => None,
    }
}

/// Asserts the guest runs on `host` past `after`, its verifier happy.
fn assert_runs(host: &Host, after: &MemworkLine) -> MemworkLine {
    let line = wait_for_memwork(host, NAME, after.seq + 2, Duration::from_secs(60));
    assert_eq!((line.errors, line.status.as_str()), (0, "OK"), "{line:?}");
    assert!(
        line.gen >= after.gen,
        "memwork went back: {after:?} -> {line:?}"
    );
    line
}

/// Asserts the host has neither the domain nor a QEMU.
fn assert_empty(lab: &Lab, i: usize) {
    assert!(row(lab, i).is_none(), "stale copy:\n{}", describe(lab));
    let gone = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        lab.host(i).qemu_pids().is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "a QEMU survives on host {i}:\n{}",
        describe(lab)
    );
}

/// Settles, checks the invariant, applies the documented recovery where
/// needed; returns the host where the domain runs in the end.
pub fn settle_and_check(lab: &Lab, phase: Phase, fault: Fault, before: &MemworkLine) -> usize {
    let outcome = settle(lab);
    eprintln!("cell {phase:?} x {fault:?}: outcome {outcome:?}");
    if fault == Fault::Cancel {
        assert_eq!(
            outcome,
            Outcome::Runs(A),
            "a cancel before the point of no return must leave the domain at the source:\n{}",
            describe(lab)
        );
    }
    match outcome {
        Outcome::Runs(i) => {
            assert_empty(lab, 1 - i);
            assert_runs(lab.host(i), before);
            i
        }
        Outcome::Waits { target_runs } => {
            assert!(
                phase.final_state_may_be_sent(),
                "the source waits in `e` though it never sent its final state:\n{}",
                describe(lab)
            );
            assert_paused(lab.host(A));
            recover(lab, target_runs, before)
        }
        Outcome::Lost(i) => {
            assert_eq!(
                may_lose(phase, fault),
                Some(i),
                "the guest is lost though a copy could survive:\n{}",
                describe(lab)
            );
            assert_empty(lab, 1 - i);
            // The domain starts again where it is bound.
            let h = lab.host(i);
            let last = last_memwork(&console_dump(h, NAME)).unwrap_or_else(|| before.clone());
            h.ldm(&["start-domain", NAME]).ok();
            let line = wait_for_next_boot(h, NAME, &last, FIRST_LINE_TIMEOUT);
            assert_eq!((line.errors, line.status.as_str()), (0, "OK"), "{line:?}");
            i
        }
    }
}

/// A source in `e` is paused: its guest's counter does not move.
fn assert_paused(host: &Host) {
    let first = last_memwork(&console_dump(host, NAME));
    std::thread::sleep(Duration::from_secs(3));
    let later = last_memwork(&console_dump(host, NAME));
    assert_eq!(
        first.map(|l| l.seq),
        later.map(|l| l.seq),
        "the source in `e` runs its guest"
    );
}

/// README's recovery of a source in `e`: if the target runs the domain,
/// remove the source copy; otherwise `cancel-operation` resumes it.
fn recover(lab: &Lab, target_runs: bool, before: &MemworkLine) -> usize {
    let a = lab.host(A);
    let long = a.ldm(&["list", "-l", NAME]).ok().stdout.clone();
    assert!(long.contains("cancel-operation migration"), "{long}");
    if target_runs {
        assert_runs(lab.host(B), before);
        a.ldm(&["stop-domain", "-f", NAME]).ok();
        a.ldm(&["unbind-domain", NAME]).ok();
        a.ldm(&["remove-domain", NAME]).ok();
        assert_empty(lab, A);
        B
    } else {
        a.ldm(&["cancel-operation", "migration", NAME]).ok();
        let r = row(lab, A).expect("the source copy");
        assert_eq!(
            (r["state"].as_str(), r["flags"].as_str()),
            ("active", "-n----")
        );
        assert_runs(a, before);
        assert_empty(lab, B);
        A
    }
}

/// A fresh migration from where the domain runs to the other host works
/// (restarting the domain first if ldm says its QEMU cannot migrate again,
/// as README documents).
pub fn fresh_migration(lab: &Lab, from: usize) {
    let to = 1 - from;
    let h = lab.host(from);
    let last = last_memwork(&console_dump(h, NAME)).expect("a memwork line");
    let mut out = lab.migrate(from, to, NAME, &[]);
    if !out.success() && out.stderr.contains("cannot migrate again") {
        h.ldm(&["stop-domain", NAME]).ok();
        h.ldm(&["start-domain", NAME]).ok();
        wait_for_next_boot(h, NAME, &last, FIRST_LINE_TIMEOUT);
        out = lab.migrate(from, to, NAME, &[]);
    }
    out.ok();
    assert_empty(lab, from);
    let line = wait_for_memwork(lab.host(to), NAME, 1, Duration::from_secs(60));
    let later = assert_runs(lab.host(to), &line);
    assert_eq!(later.errors, 0);
}

//! Figures for docs/benchmarks.md: the time `ldm evacuate` takes to empty
//! a host of six running guests onto three targets, with 1, 2 and 3
//! migrations at once: the whole command, its plan (each guest dry-run
//! against each target) and its moves (first start to last end, as the
//! command prints them). It prints them and asserts only what must hold
//! (every guest moved, its memwork OK on its new host), never a time.
//! Ignored by default; run it on purpose (it holds the guest lock):
//!
//! ```text
//! cargo build --workspace
//! cargo test -p ldm-e2e --test evacuate_figures -- --ignored --nocapture
//! ```
//!
//! `LDM_EVAC_RUNS=N` repeats each setting N times (default 1).

use ldm_e2e::fleet::{parse_table, Fleet};
use ldm_e2e::*;
use std::time::{Duration, Instant};

const GUESTS: usize = 6;
const MEMORY: &str = "256M";
const MEMWORK: &str = "32,4";

/// One evacuation's figures, seconds and milliseconds.
struct Figures {
    parallel: usize,
    plan_s: f64,
    moves_s: f64,
    total_s: f64,
    move_s: Vec<f64>,
    downtime_ms: Vec<u64>,
}

fn seconds(s: &str) -> f64 {
    s.trim_end_matches('s').parse().expect("TIME like 1.2s")
}

fn millis(s: &str) -> u64 {
    s.trim_end_matches("ms")
        .parse()
        .expect("DOWNTIME like 12ms")
}

fn one_run(parallel: usize) -> Figures {
    let target = || HostOpts::default().vcpus(8).memory("2G");
    let f = Fleet::start(
        HostOpts::default().vcpus(8).memory("2G"),
        vec![target(), target(), target()],
    );
    let names: Vec<String> = (1..=GUESTS).map(|i| format!("g{i}")).collect();
    for n in &names {
        boot_domain(&f.src, n, 1, MEMORY, MEMWORK);
    }
    let before: Vec<MemworkLine> = names
        .iter()
        .map(|n| wait_for_memwork(&f.src, n, 3, Duration::from_secs(180)))
        .collect();
    let t0 = Instant::now();
    let out = f.evacuate(&["--max-parallel", &parallel.to_string()]);
    let total_s = t0.elapsed().as_secs_f64();
    out.ok();
    let rows = parse_table(&out.stdout);
    // plan: X s; moves, first start to last end: Y s
    let timing = out
        .stdout
        .lines()
        .find(|l| l.starts_with("plan: "))
        .unwrap_or_else(|| panic!("no timing line:\n{}", out.stdout));
    let figure = |after: &str| -> f64 {
        let rest = &timing[timing.find(after).expect(after) + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let (plan_s, moves_s) = (figure("plan: "), figure("last end: "));
    assert_eq!(rows.len(), GUESTS, "{}", out.stdout);
    for (n, b) in names.iter().zip(&before) {
        let t = f.holder(n).unwrap_or_else(|| panic!("{n} is on no target"));
        let line = wait_for_memwork(&f.targets[t], n, b.seq + 2, Duration::from_secs(90));
        assert_eq!((line.errors, line.status.as_str()), (0, "OK"), "{line:?}");
    }
    Figures {
        parallel,
        plan_s,
        moves_s,
        total_s,
        move_s: rows.iter().map(|r| seconds(&r.time)).collect(),
        downtime_ms: rows.iter().map(|r| millis(&r.downtime)).collect(),
    }
}

fn median<T: Copy + PartialOrd>(v: &[T]) -> T {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
#[ignore = "a benchmark: prints figures; run it on purpose"]
fn guest_evacuation_figures() {
    let _lock = guest_lock();
    let runs: usize = std::env::var("LDM_EVAC_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut all = Vec::new();
    for parallel in [1, 2, 3] {
        for _ in 0..runs {
            let fig = one_run(parallel);
            eprintln!(
                "max-parallel {}: evacuate {:.1} s: plan {:.1} s, moves {:.1} s",
                fig.parallel, fig.total_s, fig.plan_s, fig.moves_s
            );
            all.push(fig);
        }
    }
    println!(
        "{GUESTS} guests of {MEMORY}, memwork={MEMWORK}, 1 vCPU each, TCG; 3 targets on loopback"
    );
    println!(
        "{:>12} {:>10} {:>8} {:>8} {:>12} {:>10} {:>14} {:>12}",
        "MAX-PARALLEL",
        "EVACUATE",
        "PLAN",
        "MOVES",
        "MOVE-MEDIAN",
        "MOVE-MAX",
        "DOWNTIME-MED",
        "DOWNTIME-MAX"
    );
    for f in &all {
        println!(
            "{:>12} {:>9.1}s {:>7.1}s {:>7.1}s {:>11.1}s {:>9.1}s {:>12}ms {:>10}ms",
            f.parallel,
            f.total_s,
            f.plan_s,
            f.moves_s,
            median(&f.move_s),
            f.move_s.iter().cloned().fold(0.0, f64::max),
            median(&f.downtime_ms),
            f.downtime_ms.iter().max().unwrap()
        );
    }
}

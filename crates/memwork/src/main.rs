//! memwork: an in-guest workload for live-migration tests.
//!
//! It fills a working set of 4 KiB pages with contents derived from (page
//! index, generation), rewrites pages at a configured rate (verifying each
//! one before bumping its generation) and continuously sweep-verifies the
//! whole set in the background. Once per second it prints a status line; a
//! `seq` that keeps counting across a migration shows the guest kept running
//! and `errors=0` shows its memory arrived intact. See `report` for the
//! output format and `args` for configuration.
//!
//! `memwork --echo` is the guest's echo service instead (see `echo`).

mod args;
mod echo;
mod pacing;
mod pattern;
mod report;
mod sysinfo;
mod workload;

use std::io;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use args::Config;
use pacing::Credit;
use pattern::PAGE_SIZE;
use report::{Reporter, Status};
use workload::Workload;

const MIB: u64 = 1024 * 1024;
/// Scheduling granularity: work is done in slices, sleeping in between.
const TICK: Duration = Duration::from_millis(20);
/// Pages processed between clock checks.
const CHUNK_PAGES: usize = 32;
/// The background sweep aims to verify the whole working set this often...
const SWEEP_PERIOD_SECS: u64 = 5;
/// ...but never faster than this, to leave a TCG vCPU mostly idle.
const MAX_SWEEP_MIB_S: u64 = 32;
/// And never slower than this, so small working sets are re-checked often.
const MIN_SWEEP_MIB_S: u64 = 4;

fn config() -> (Config, Option<String>) {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let parsed = args::parse_argv(&argv).unwrap_or_else(|| {
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        args::parse_cmdline(&cmdline)
    });
    (parsed.config, parsed.warning)
}

fn sweep_bytes_per_sec(working_set_mib: u64) -> f64 {
    let mib_s = (working_set_mib as f64 / SWEEP_PERIOD_SECS as f64)
        .clamp(MIN_SWEEP_MIB_S as f64, MAX_SWEEP_MIB_S as f64);
    mib_s * MIB as f64
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--echo") {
        return match echo::serve(echo::PORT) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo: cannot listen on port {}: {e}", echo::PORT);
                ExitCode::FAILURE
            }
        };
    }
    let start = Instant::now();
    let (config, warning) = config();
    let mut out = Reporter::new(io::stdout().lock());
    if let Some(w) = warning {
        eprintln!("memwork warning: {w}");
    }
    out.line(&report::start_line(
        sysinfo::online_cpus(),
        sysinfo::mem_total_kib(),
        &config,
    ));

    let pages = match usize::try_from(config.working_set_mib * MIB / PAGE_SIZE as u64) {
        Ok(p) => p,
        Err(_) => {
            eprintln!("memwork: working set too large for this machine");
            return ExitCode::FAILURE;
        }
    };
    let mut work = match Workload::new(pages) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("memwork: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut rewrite = Credit::new((config.rate_mib_s * MIB) as f64);
    let mut sweep = Credit::new(sweep_bytes_per_sec(config.working_set_mib));
    let mut seq = 0u64;
    let mut last = Instant::now();
    let mut next_report = last + Duration::from_secs(1);

    loop {
        let now = Instant::now();
        let dt = now.saturating_duration_since(last);
        last = now;
        rewrite.accrue(dt);
        sweep.accrue(dt);

        // Work through the available credit in chunks, alternating between
        // rewriting and sweeping, until it is spent or the slice is over.
        let slice_end = now + TICK;
        loop {
            let r = rewrite.pages().min(CHUNK_PAGES);
            let s = sweep.pages().min(CHUNK_PAGES);
            if r == 0 && s == 0 {
                break;
            }
            work.rewrite_random(r);
            rewrite.spend(r);
            work.sweep(s);
            sweep.spend(s);
            out.errors(&work.drain_errors());
            let t = Instant::now();
            if t >= slice_end || t >= next_report {
                break;
            }
        }

        let now = Instant::now();
        if now >= next_report {
            seq += 1;
            let uptime = sysinfo::uptime().unwrap_or_else(|| start.elapsed().as_secs_f64());
            out.status(&Status {
                seq,
                rewrites: work.rewrites(),
                errors: work.errors(),
                uptime_secs: uptime,
                cpus: sysinfo::online_cpus(),
                mem_total_kib: sysinfo::mem_total_kib(),
            });
            next_report += Duration::from_secs(1);
            if next_report <= now {
                // We were stalled for more than a second: print one line, not
                // a burst of them, and resume the one-per-second cadence.
                next_report = now + Duration::from_secs(1);
            }
        }

        let wake = slice_end.min(next_report);
        let now = Instant::now();
        if wake > now {
            thread::sleep(wake - now);
        }
    }
}

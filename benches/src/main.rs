//! `ldm-bench`: live migration through ldm against plain QEMU (tuned as an
//! expert would, in clear and with its own TLS, and with its defaults),
//! between two hosts of a network lab, for a few guest workloads, with the
//! downtime the guest's clients saw and this host's memory write rates.

mod console;
mod daemon_usage;
mod floor;
mod host_rates;
mod ldm_side;
mod network;
mod prediction;
mod procs;
mod qemu_side;
mod qemu_tls;
mod relay_rate;
mod report;
mod scenario;
mod setup;
mod split;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use report::Kind;
use scenario::{Env, Scenario, SCENARIOS};
use serde_json::json;

/// Benchmark live migration: ldm against plain QEMU, tuned and default.
///
/// Each scenario boots a 1 vCPU TCG guest running memwork and migrates it
/// through two ldmd hosts (ldm), and between two bare QEMUs tuned as ldm
/// is (multifd with ldm's channel count, no bandwidth cap, ldm's downtime
/// target, auto-converge) in clear and with QEMU's own TLS, and with
/// QEMU's defaults; the sides take turns, N runs each. It checks the
/// guest's own memory verifier and prints a table of medians and worst
/// runs, headed by this host's memory write rates. Both sides run in a
/// network lab (hosts in network namespaces on one bridge, needs root):
/// the guest has a virtio NIC on its host's bridge to the wire, and from a
/// client namespace a UDP probe (one datagram per ms to the guest's echo
/// port) measures the guest-observed downtime while a TCP connection to
/// the guest is held. Exits 0 even when goals are missed; non-zero if a
/// migration failed, a held connection broke or a guest reported bad
/// memory.
#[derive(Parser, Debug)]
#[command(version, about, long_about, verbatim_doc_comment)]
struct Args {
    /// Scenario to run (repeatable; default all): a = 1 GiB, memwork=64,1;
    /// b = 1 GiB, memwork=256,100; c = 2 GiB, memwork=1024,200; d = 2 GiB,
    /// memwork=1024,1000 (faster than any copy here: ldm ends it in
    /// post-copy).
    #[arg(long = "scenario", value_name = "a|b|c|d", value_parser = ["a", "b", "c", "d"])]
    scenarios: Vec<String>,
    /// Runs per scenario and side; the table shows medians and worst.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Side to run (repeatable; default all): ldm; tuned = QEMU tuned in
    /// clear; tuned-tls = QEMU tuned with its own TLS; defaults = QEMU's
    /// defaults.
    #[arg(long = "side", value_name = "SIDE", value_parser = ["ldm", "tuned", "tuned-tls", "defaults"])]
    sides: Vec<String>,
    /// Only measure this host's memory write rates (first touch and warm)
    /// and a quick relay rate (see --relay-rate; one run of 512 MiB) and
    /// exit; no guests.
    #[arg(long)]
    host_rates: bool,
    /// Only measure how fast ldmd's migration relays carry bytes on this
    /// host and exit; no guests: both relays in this process, TLS 1.3 over
    /// 127.0.0.1, 3 channels (main + 2 multifd), 2 GiB in 512 KiB writes,
    /// 3 runs; MiB/s and the process's CPU s/GiB (both relays and the
    /// stand-in QEMUs' socket copies), median and worst.
    #[arg(long)]
    relay_rate: bool,
    /// Directory holding ldm and ldmd (default: target/release of the workspace, built if missing).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Print JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    json: bool,
    /// Guest kernel (default: from guest/build).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// Guest initramfs (default: from guest/build).
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Give up on a migration (any side; ldm's is cancelled, or left to
    /// finish if it is in post-copy) after this many seconds: "did not
    /// finish".
    #[arg(long, value_name = "S", default_value_t = 120)]
    qemu_timeout: u64,
    /// Pass `--postcopy=MODE` to ldm's moves and dry runs (default: ldm's
    /// own default, auto), e.g. `never` to measure its multifd copy.
    #[arg(long, value_name = "MODE", value_parser = ["auto", "never", "always"])]
    postcopy: Option<String>,
    /// Instead of migrations, measure the pause floor: boot each
    /// scenario's guest with plain QEMU in the lab and pause it (QMP stop,
    /// --floor-pause-ms, cont) --runs times (at least 3), splitting the
    /// probe's gap at QEMU's STOP and RESUME events like a migration's.
    #[arg(long)]
    pause_floor: bool,
    /// With --pause-floor: pause the guest on the target of a plain QEMU
    /// move (tuned), 3 s after it, instead of where it booted.
    #[arg(long, requires = "pause_floor")]
    floor_after_move: bool,
    /// How long the pause floor's pauses last, ms (about ldm's pause).
    #[arg(long, value_name = "MS", default_value_t = 15)]
    floor_pause_ms: u64,
}

async fn bench(args: Args) -> anyhow::Result<bool> {
    // Guests run one at a time on this machine, the tests' included.
    let _guests = ldm_e2e::guest_lock();
    let rates = host_rates::measure().context("measuring the host's memory write rates")?;
    let (kernel, initrd) = setup::guest(args.kernel.clone(), args.initrd.clone())?;
    let qemu = ldm_qemu::QemuBinary::probe(None).context("finding QEMU")?;
    let env = Env {
        qemu,
        kernel,
        initrd,
        qemu_timeout: Duration::from_secs(args.qemu_timeout),
        ldm_postcopy: args.postcopy.clone(),
    };
    let mut wanted: Vec<Scenario> = args
        .scenarios
        .iter()
        .filter_map(|s| Scenario::by_id(s))
        .collect();
    if wanted.is_empty() {
        wanted = SCENARIOS.to_vec();
    }
    wanted.dedup();
    let mut kinds: Vec<Kind> = args.sides.iter().filter_map(|s| Kind::by_id(s)).collect();
    if kinds.is_empty() {
        kinds = Kind::ALL.to_vec();
    }
    kinds.dedup();

    if args.pause_floor {
        return pause_floor(&env, &wanted, &args, &rates.to_string()).await;
    }
    let mut results = Vec::new();
    for sc in wanted {
        results.push(scenario::run(&env, sc, args.runs, &kinds).await);
    }
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let header = format!(
        "ldm-bench: QEMU {} (TCG, pc-i440fx-10.0, cpu max, 1 vCPU), lab hosts in network namespaces on one bridge, {cpus} host CPUs, {} run(s) per side\n{rates} (before the runs); load average {}",
        env.qemu.version,
        args.runs,
        load_average()
    );
    let table = report::render(&header, &results, args.runs, args.postcopy.as_deref());
    if args.json {
        eprintln!("\n{table}");
        let env_json = json!({
            "qemu_version": env.qemu.version.to_string(),
            "host_cpus": cpus,
            "runs": args.runs,
            "qemu_timeout_s": args.qemu_timeout,
            "ldm_postcopy": args.postcopy.as_deref().unwrap_or("auto (default)"),
            "first_touch_4k_mib_s": rates.first_touch_4k,
            "first_touch_thp_mib_s": rates.first_touch_thp,
            "warm_write_mib_s": rates.warm,
            "free_page_reporting_order": rates.reporting_order,
            "load_average": load_average(),
        });
        println!("{:#}", report::to_json(env_json, &results));
    } else {
        println!("\n{table}");
    }
    Ok(!results.iter().any(report::ScenarioResult::broken))
}

/// The pause floor of every wanted scenario, printed (or as JSON).
async fn pause_floor(
    env: &Env,
    wanted: &[Scenario],
    args: &Args,
    rates: &str,
) -> anyhow::Result<bool> {
    let n = args.runs.max(3);
    let pause = Duration::from_millis(args.floor_pause_ms);
    let mut floors = Vec::new();
    for sc in wanted {
        floors.push(floor::run(env, *sc, n, pause, args.floor_after_move).await);
    }
    let header = format!(
        "ldm-bench pause floor: QEMU {} (TCG, 1 vCPU), {n} pauses of {} ms per scenario\n{rates} (before the runs); load average {}",
        env.qemu.version,
        args.floor_pause_ms,
        load_average()
    );
    let mut blocks = vec![header];
    blocks.extend(floors.iter().map(floor::Floor::render));
    let text = blocks.join("\n\n");
    if args.json {
        eprintln!("\n{text}");
        let all: Vec<_> = floors.iter().map(floor::Floor::to_json).collect();
        println!(
            "{:#}",
            json!({ "pause_floor": all, "load_average": load_average() })
        );
    } else {
        println!("\n{text}");
    }
    Ok(floors.iter().all(|f| f.pauses.is_ok()))
}

/// The host's load averages (1, 5, 15 minutes), as /proc/loadavg has them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// `--relay-rate`: 2 GiB, [`relay_rate::RUNS`] runs.
fn relay_rate_only() -> ExitCode {
    match relay_rate::measure(2 << 30, relay_rate::RUNS) {
        Ok(r) => {
            println!("{r}; load average {}", load_average());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ldm-bench: cannot measure the relay rate: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--host-rates`: the memory write rates and a quick relay rate (one run
/// of 512 MiB).
fn host_rates_only() -> ExitCode {
    let rates = match host_rates::measure() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ldm-bench: cannot measure the memory write rates: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{rates}");
    match relay_rate::measure(512 << 20, 1) {
        Ok(r) => println!("{r}"),
        Err(e) => eprintln!("ldm-bench: cannot measure the relay rate: {e:#}"),
    }
    println!("load average {}", load_average());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.relay_rate {
        return relay_rate_only();
    }
    if args.host_rates {
        return host_rates_only();
    }
    let (_, ldmd) = match setup::binaries(args.bin_dir.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ldm-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    // The lab's hosts run the same ldm and ldmd. Set while this process
    // has one thread.
    if let Some(dir) = ldmd.parent() {
        std::env::set_var("LDM_BIN_DIR", dir);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ldm-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // Dropping the benchmark future on a signal runs every guard's Drop:
    // ldmds are stopped, QEMUs killed, temporary directories removed.
    let code = rt.block_on(async {
        tokio::select! {
            r = bench(args) => match r {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!("ldm-bench: something broke (a migration failed or a guest reported bad memory)");
                    ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("ldm-bench: {e:#}");
                    ExitCode::from(2)
                }
            },
            _ = interrupted() => {
                eprintln!("ldm-bench: interrupted; cleaning up");
                ExitCode::from(130)
            }
        }
    });
    drop(rt);
    code
}

//! `ldm-bench`: live migration through ldm against plain QEMU with its
//! default settings, on loopback, for a few guest workloads.

mod console;
mod ldm_side;
mod procs;
mod qemu_side;
mod report;
mod scenario;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use scenario::{Env, Scenario, SCENARIOS};
use serde_json::json;

/// Benchmark live migration: ldm against plain QEMU (default settings).
///
/// Each scenario boots a 1 vCPU TCG guest running memwork, migrates it over
/// loopback once through two ldmd hosts (127.0.0.1 -> 127.0.0.2) and once
/// between two bare QEMUs, checks the guest's own memory verifier, and
/// prints a table. Exits 0 even when goals are missed; non-zero if a
/// migration failed or a guest reported bad memory.
#[derive(Parser, Debug)]
#[command(version, about, long_about, verbatim_doc_comment)]
struct Args {
    /// Scenario to run (repeatable; default all): a = 1 GiB, memwork=64,1;
    /// b = 1 GiB, memwork=256,100; c = 2 GiB, memwork=1024,200.
    #[arg(long = "scenario", value_name = "a|b|c", value_parser = ["a", "b", "c"])]
    scenarios: Vec<String>,
    /// Runs per scenario and side; the table shows medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
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
    /// ldmd peer port, on 127.0.0.1 and 127.0.0.2.
    #[arg(long, default_value_t = ldm_api::DEFAULT_PEER_PORT)]
    peer_port: u16,
    /// Give up on a plain QEMU migration after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 120)]
    qemu_timeout: u64,
}

async fn bench(args: Args) -> anyhow::Result<bool> {
    let (ldm, ldmd) = setup::binaries(args.bin_dir.as_deref())?;
    let (kernel, initrd) = setup::guest(args.kernel, args.initrd)?;
    let qemu = ldm_qemu::QemuBinary::probe(None).context("finding QEMU")?;
    let env = Env {
        ldm,
        ldmd,
        qemu,
        kernel,
        initrd,
        peer_port: args.peer_port,
        qemu_timeout: Duration::from_secs(args.qemu_timeout),
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

    let mut results = Vec::new();
    for sc in wanted {
        results.push(scenario::run(&env, sc, args.runs).await);
    }
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let header = format!(
        "ldm-bench: QEMU {} (TCG, pc-i440fx-10.0, cpu max, 1 vCPU), loopback, {cpus} host CPUs, {} run(s) per side",
        env.qemu.version, args.runs
    );
    let table = report::render(&header, &results, args.runs);
    if args.json {
        eprintln!("\n{table}");
        let env_json = json!({
            "qemu_version": env.qemu.version.to_string(),
            "host_cpus": cpus,
            "runs": args.runs,
            "qemu_timeout_s": args.qemu_timeout,
        });
        println!("{:#}", report::to_json(env_json, &results));
    } else {
        println!("\n{table}");
    }
    Ok(!results.iter().any(report::ScenarioResult::broken))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
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

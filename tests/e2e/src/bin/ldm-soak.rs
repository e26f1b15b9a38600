//! `ldm-soak`: migrates one domain back and forth between two lab hosts
//! many times, checking the guest's verifier after each move, and prints a
//! summary (see `scripts/soak`).

use anyhow::bail;
use clap::Parser;
use ldm_e2e::soak::{run, SoakOpts};

/// Live-migrate a domain back and forth between two hosts in network
/// namespaces (needs root), checking memwork after each move.
#[derive(Parser, Debug)]
#[command(about, long_about = None)]
struct Args {
    /// How many moves.
    #[arg(long, default_value_t = 100)]
    moves: u32,
    /// The domain's memory.
    #[arg(long, default_value = "512M")]
    memory: String,
    /// memwork's working set and rate (boot argument `memwork=`).
    #[arg(long, default_value = "128,16")]
    memwork: String,
    /// Print one line per move as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let report = run(&SoakOpts {
        moves: a.moves,
        memory: a.memory,
        memwork: a.memwork,
        json: a.json,
    });
    println!("{}", report.summary());
    if report.failures > 0 || report.moves < a.moves {
        bail!(
            "{} of {} moves failed ({} attempted)",
            report.failures,
            a.moves,
            report.moves
        );
    }
    Ok(())
}

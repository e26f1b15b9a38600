//! `ldm-dist man DIR | completions DIR | unit SBINDIR`: writes the man
//! pages, the shell completions or ldmd's systemd unit (used by
//! `scripts/install`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Generates what an installation ships besides the binaries.
#[derive(Parser)]
#[command(name = "ldm-dist", version, about)]
struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Man pages into DIR/man1 and DIR/man8 (e.g. /usr/local/share/man).
    Man {
        /// Man directory.
        dir: PathBuf,
    },
    /// Bash, zsh and fish completions under DIR (e.g. /usr/local/share).
    Completions {
        /// Data directory.
        dir: PathBuf,
    },
    /// The systemd unit of ldmd, on standard output.
    Unit {
        /// Directory ldmd is installed in (e.g. /usr/local/sbin).
        sbindir: String,
    },
}

fn main() -> anyhow::Result<()> {
    let files = match Args::parse().what {
        What::Man { dir } => ldm_dist::man::write_all(&dir).context("man pages")?,
        What::Completions { dir } => {
            ldm_dist::completions::write_all(&dir).context("completions")?
        }
        What::Unit { sbindir } => {
            print!("{}", ldm_dist::unit::render(&sbindir));
            return Ok(());
        }
    };
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

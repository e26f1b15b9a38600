//! `ldm-dist man DIR | completions DIR`: writes the man pages or the shell
//! completions of ldm and ldmd (used by `scripts/install`).

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
}

fn main() -> anyhow::Result<()> {
    let files = match Args::parse().what {
        What::Man { dir } => ldm_dist::man::write_all(&dir).context("man pages")?,
        What::Completions { dir } => {
            ldm_dist::completions::write_all(&dir).context("completions")?
        }
    };
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}

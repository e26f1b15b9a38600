//! The `ldm` command as a library: parse the command line, send the request
//! to the local ldmd, print the answer. `main` only calls [`main_with_args`].

mod accounts;
pub mod cli;
pub mod client;
mod commands;
pub mod console;
pub mod constraints;
pub mod evacuate;
pub mod forecast;
pub mod format;
pub mod lifecycle;
pub mod migrate;
pub mod network;
pub mod prompt;
pub mod props;
pub mod spconfig;
pub mod storage;
pub mod version;

use clap::Parser;
use cli::Cli;
use std::ffi::OsString;

/// Runs the command; returns the process exit code.
pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ldm: cannot start: {e}");
            return 1;
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{msg}");
            1
        }
    }
}

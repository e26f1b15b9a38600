//! End-to-end test harness for `ldm` and `ldmd`.
//!
//! The tests of this package drive the real programs, as an administrator
//! would: each [`Host`] is an `ldmd` *process* with its own temporary root
//! directory, and [`Host::ldm`] runs the `ldm` command against it. Domains
//! boot the real test guest (`guest/build`) under QEMU.
//!
//! Build the binaries first (`cargo build --workspace`): this package cannot
//! ask cargo for the executables of other packages, so it finds them in
//! `target/debug` (or in `LDM_BIN_DIR`).
//!
//! Tests that boot guests must run one at a time (the machine has 2 cores and
//! TCG keeps one busy per guest). Name them `guest_…` (nextest puts them in the
//! `guest` test group, see `.config/nextest.toml`) **and** take
//! [`guest_lock`] first, which serialises them under `cargo test` too, even
//! across test binaries.
//!
//! ```no_run
//! use ldm_e2e::*;
//! use std::time::Duration;
//! let _lock = guest_lock();
//! let host = Host::start(HostOpts::default());
//! boot_domain(&host, "ldg1", 2, "512M", "64,8");
//! let line = wait_for_memwork(&host, "ldg1", 1, Duration::from_secs(60));
//! assert_eq!(line.status, "OK");
//! ```

pub mod bins;
pub mod checks;
pub mod console;
pub mod disks;
pub mod failure;
pub mod fleet;
pub mod guest;
pub mod host;
pub mod lab;
pub mod listing;
pub mod memwork;
pub mod netns;
pub mod output;
pub mod pair;
pub mod ports;
pub mod procs;
pub mod soak;

pub use bins::{bin_dir, ldm_bin, ldmd_bin, workspace_root};
pub use checks::{assert_refused, assert_survives_restarts};
pub use console::ConsoleClient;
pub use guest::{
    boot_domain, console_dump, define_domain, fake_image, guest_image, guest_lock,
    lines_of_next_boot, wait_for_memwork, wait_for_memwork_after, wait_for_next_boot, GuestLock,
    FIRST_LINE_TIMEOUT,
};
pub use host::{ldm_at, Host, HostOpts};
pub use lab::{Lab, LabOpts};
pub use listing::{
    domain, domains, long_listing, parse_parseable, parse_table, qemu_pid, snapshot, TableRow,
};
pub use memwork::{last_memwork, memwork_lines, memwork_start, MemworkLine, MemworkStart};
pub use output::Output;
pub use pair::Pair;
pub use procs::{pid_alive, vm_rss_kib};

use std::time::{Duration, Instant};

/// Polls `f` every `every` until it returns `Some`, or `None` after `timeout`.
pub fn poll<T>(timeout: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

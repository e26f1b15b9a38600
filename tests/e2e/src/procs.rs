//! Looking at and ending processes by pid (ldm-qemu's process helpers,
//! plus what only the tests need).

use std::path::Path;
use std::time::Duration;

pub use ldm_qemu::{pid_alive, rss_kib as vm_rss_kib};

/// The command line of `pid`, arguments joined by spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Sends `sig` to `pid`; whether it was delivered.
pub fn signal(pid: u32, sig: i32) -> bool {
    ldm_qemu::kill(pid, sig).is_ok()
}

/// Waits until `pid` is gone; false on timeout.
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
    crate::poll(limit, Duration::from_millis(20), || {
        (!pid_alive(pid)).then_some(())
    })
    .is_some()
}

/// Pids of the processes whose command line mentions `root` (the QEMUs and
/// the ldmd of one test host: their paths are under its unique temporary
/// root), except this process.
pub fn pids_mentioning(root: &Path) -> Vec<u32> {
    let needle = root.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me && pid_alive(p))
        .filter(|&p| cmdline(p).is_some_and(|c| c.contains(&needle)))
        .collect()
}

/// The parent pid of `pid`.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …; comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Kills what an earlier test process left behind when it was killed
/// before its hosts' `Drop` ran (a nextest timeout, Ctrl-C): every QEMU
/// whose command line names a test host root under `prefix`, and every
/// ldmd of such a root whose test process is gone. Only for the holder of
/// the guest lock: no other test's guests can be running then.
pub fn sweep_orphans(prefix: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let orphans: Vec<u32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me)
        .filter(|&p| {
            let Some(c) = cmdline(p) else { return false };
            if !c.contains(prefix) {
                return false;
            }
            let exe = c.split(' ').next().unwrap_or("");
            let name = exe.rsplit('/').next().unwrap_or("");
            name.starts_with("qemu-system-")
                || (name == "ldmd" && parent(p).is_none_or(|pp| pp <= 1 || !pid_alive(pp)))
        })
        .collect();
    for &p in &orphans {
        signal(p, libc::SIGKILL);
    }
    for &p in &orphans {
        wait_gone(p, Duration::from_secs(5));
    }
    orphans
}

//! Looking at and ending processes by pid.

use std::path::Path;
use std::time::Duration;

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(false),
        Err(_) => false,
    }
}

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

/// VmRSS of `pid` in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) with a positive pid has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
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

//! Inspecting and signalling QEMU processes through /proc and kill(2).

use std::path::Path;
use std::time::Duration;

use uuid::Uuid;

use crate::error::{Error, Result};

/// True if a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid_t) = checked_pid(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the
    // process exists and may be signalled. `pid_t` is > 1.
    let rc = unsafe { libc::kill(pid_t, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && proc_state(pid) != Some('Z')
}

/// Reads a pid from a QEMU pidfile; `None` if missing or malformed.
pub fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 1)
}

/// True if `pid` is a live QEMU process started for the domain `uuid`
/// (its command line has `-uuid <uuid>`), so a recycled pid is not
/// mistaken for the domain.
pub fn process_matches(pid: u32, uuid: &Uuid) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let wanted = uuid.hyphenated().to_string();
    let mut args = cmdline.split(|&b| b == 0);
    while let Some(arg) = args.next() {
        if arg == b"-uuid" {
            return args
                .next()
                .map(|v| String::from_utf8_lossy(v).eq_ignore_ascii_case(&wanted))
                .unwrap_or(false);
        }
    }
    false
}

/// Sends `signal` (e.g. `libc::SIGTERM`) to `pid`.
///
/// Refuses pids 0 and 1 and values that do not fit a `pid_t`, which kill(2)
/// would interpret as process groups or "every process".
pub fn kill(pid: u32, signal: i32) -> Result<()> {
    let pid_t = checked_pid(pid).ok_or(Error::InvalidPid(pid))?;
    // SAFETY: plain kill(2) on a single positive pid (> 1, checked above);
    // no memory is shared with the callee.
    let rc = unsafe { libc::kill(pid_t, signal) };
    if rc != 0 {
        return Err(Error::io(
            format!("cannot send signal {signal} to process {pid}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Waits up to `timeout` for `pid` to exit; true if it did.
pub async fn wait_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !pid_alive(pid) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL if needed.
/// Returns once the process is gone (or after a further second).
pub async fn terminate(pid: u32, grace: Duration) -> Result<()> {
    if !pid_alive(pid) {
        return Ok(());
    }
    kill(pid, libc::SIGTERM)?;
    if wait_exit(pid, grace).await {
        return Ok(());
    }
    tracing::warn!(pid, ?grace, "QEMU ignored SIGTERM; sending SIGKILL");
    match kill(pid, libc::SIGKILL) {
        Ok(()) => {}
        Err(_) if !pid_alive(pid) => return Ok(()),
        Err(e) => return Err(e),
    }
    wait_exit(pid, Duration::from_secs(1)).await;
    Ok(())
}

/// CPU time used by `pid` so far (user + system), in clock ticks
/// (see [`clock_ticks_per_second`]), from /proc/PID/stat.
pub fn cpu_time_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat)
}

/// Clock ticks per second used by /proc/PID/stat (usually 100).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// Resident memory of `pid` in KiB (VmRSS from /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, "VmRSS")
}

/// Resident memory of the guest's RAM in QEMU `pid`, KiB: the `Rss` of
/// the private read-write mapping that holds `ram_kib` (the smallest such
/// mapping at least that large; QEMU's other large mappings, such as
/// TCG's code buffer, are executable or smaller). `None` when /proc
/// cannot be read or no mapping fits.
pub fn guest_ram_rss_kib(pid: u32, ram_kib: u64) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    parse_guest_ram_rss_kib(&smaps, ram_kib)
}

/// [`guest_ram_rss_kib`] from the text of /proc/PID/smaps.
pub fn parse_guest_ram_rss_kib(smaps: &str, ram_kib: u64) -> Option<u64> {
    // (size, rss) of each private read-write mapping.
    let mut maps: Vec<(u64, u64)> = Vec::new();
    let mut current: Option<(u64, u64)> = None;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            maps.extend(current.take());
            if words.next() == Some("rw-p") {
                current = Some((0, 0));
            }
            continue;
        }
        let Some(m) = current.as_mut() else { continue };
        let value = || words.clone().next().and_then(|v| v.parse::<u64>().ok());
        match first {
            "Size:" => m.0 = value().unwrap_or(0),
            "Rss:" => m.1 = value().unwrap_or(0),
            _ => {}
        }
    }
    maps.extend(current);
    maps.into_iter()
        .filter(|(size, _)| *size >= ram_kib)
        .min_by_key(|(size, _)| *size)
        .map(|(_, rss)| rss.min(ram_kib))
}

/// utime + stime from the text of /proc/PID/stat.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces,
    // so count fields after the last ')': state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A "Key:   123 kB" value from the text of /proc/PID/status.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn checked_pid(pid: u32) -> Option<libc::pid_t> {
    libc::pid_t::try_from(pid).ok().filter(|&p| p > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_ram_is_the_smallest_writable_mapping_that_holds_it() {
        let smaps = "\
55d0a0000000-55d0a0001000 r--p 00000000 08:01 123 /usr/bin/qemu-system-x86_64
Size:                  4 kB
Rss:                   4 kB
7f0000000000-7f0040000000 rwxp 00000000 00:00 0
Size:            1048576 kB
Rss:              204800 kB
7f1000000000-7f1040200000 rw-p 00000000 00:00 0
Size:            1050624 kB
Rss:              317440 kB
AnonHugePages:    286720 kB
7f2000000000-7f2000100000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                1024 kB
";
        assert_eq!(parse_guest_ram_rss_kib(smaps, 1 << 20), Some(317440));
        assert_eq!(parse_guest_ram_rss_kib(smaps, 2 << 20), None);
    }

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let stat = "1234 (qemu-system-x86 a)) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 5 0 12345 1000000 5000 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tqemu\nVmPeak:\t  900 kB\nVmRSS:\t   81234 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(81234));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn own_process() {
        let me = std::process::id();
        assert!(pid_alive(me));
        assert!(cpu_time_ticks(me).is_some());
        assert!(rss_kib(me).unwrap() > 0);
        assert!(!process_matches(me, &Uuid::new_v4()));
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn refuses_dangerous_pids() {
        assert!(matches!(kill(0, 0), Err(Error::InvalidPid(0))));
        assert!(matches!(kill(1, 0), Err(Error::InvalidPid(1))));
        assert!(matches!(kill(u32::MAX, 0), Err(Error::InvalidPid(_))));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn pidfile() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(read_pidfile(&p), None);
        std::fs::write(&p, "4321\n").unwrap();
        assert_eq!(read_pidfile(&p), Some(4321));
        std::fs::write(&p, "nope").unwrap();
        assert_eq!(read_pidfile(&p), None);
    }
}

//! Small readers for /proc and /sys.

use std::fs;

/// Counts CPUs in a list such as `0-3,5,7-8` (format of
/// /sys/devices/system/cpu/online).
pub fn count_cpu_list(list: &str) -> Option<usize> {
    let mut n = 0usize;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                n += b.checked_sub(a)? + 1;
            }
            None => {
                part.parse::<usize>().ok()?;
                n += 1;
            }
        }
    }
    (n > 0).then_some(n)
}

/// Online CPUs, from sysfs, falling back to the scheduler's view.
pub fn online_cpus() -> usize {
    fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| count_cpu_list(&s))
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// Extracts `MemTotal` (KiB) from /proc/meminfo contents.
pub fn parse_mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// MemTotal in KiB, 0 when unknown.
pub fn mem_total_kib() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| parse_mem_total_kib(&s))
        .unwrap_or(0)
}

/// First field of /proc/uptime contents.
pub fn parse_uptime(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

/// System uptime in seconds, if /proc/uptime is readable.
pub fn uptime() -> Option<f64> {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| parse_uptime(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(count_cpu_list("0\n"), Some(1));
        assert_eq!(count_cpu_list("0-1\n"), Some(2));
        assert_eq!(count_cpu_list("0-3,5,7-8"), Some(7));
        assert_eq!(count_cpu_list(""), None);
        assert_eq!(count_cpu_list("x"), None);
        assert_eq!(count_cpu_list("3-1"), None);
    }

    #[test]
    fn meminfo_and_uptime() {
        let mi = "MemTotal:         492012 kB\nMemFree:          400000 kB\n";
        assert_eq!(parse_mem_total_kib(mi), Some(492_012));
        assert_eq!(parse_mem_total_kib("MemFree: 1 kB\n"), None);
        assert_eq!(parse_uptime("12.34 20.00\n"), Some(12.34));
        assert_eq!(parse_uptime(""), None);
    }
}

//! The ranges of every count, size and rate ldm accepts, and their checks.
//! The CLI checks them before sending a request; the daemon checks them
//! again (it trusts neither the CLI nor a peer). `docs/security.md` lists
//! them.

/// Most vCPUs a domain may have (QEMU's `-smp` limit for the machine).
pub const MAX_VCPUS: u32 = 255;
/// Least memory a domain may have, MiB.
pub const MIN_MEMORY_MIB: u64 = 128;
/// Most memory a domain may have, MiB (16 TiB).
pub const MAX_MEMORY_MIB: u64 = 16 << 20;
/// Longest migration downtime target, ms (QEMU's `downtime-limit` limit).
pub const MAX_DOWNTIME_MS: u64 = 2_000_000;
/// Highest migration bandwidth cap, MiB/s (1 TiB/s; in bytes per second it
/// stays far below 2^63).
pub const MAX_BANDWIDTH_MIB: u64 = 1 << 20;
/// Longest boot-args, bytes.
pub const MAX_BOOT_ARGS_LEN: usize = 4096;
/// Longest boot file path, bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// Longest `stop-domain -t`, seconds (an hour).
pub const MAX_STOP_TIMEOUT_SECS: u64 = 3600;

/// Checks a `stop-domain -t` timeout.
pub fn check_stop_timeout_secs(s: u64) -> Result<u64, String> {
    if (1..=MAX_STOP_TIMEOUT_SECS).contains(&s) {
        Ok(s)
    } else {
        Err(format!(
            "-t {s}: give 1 to {MAX_STOP_TIMEOUT_SECS} seconds to wait for the guest"
        ))
    }
}

/// Checks a vCPU count.
pub fn check_vcpus(n: u32) -> Result<u32, String> {
    if (1..=MAX_VCPUS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} vCPUs is out of range: a domain has 1 to {MAX_VCPUS} vCPUs"
        ))
    }
}

/// Checks a memory size in MiB.
pub fn check_memory_mib(mib: u64) -> Result<u64, String> {
    if mib < MIN_MEMORY_MIB {
        Err(format!(
            "a domain needs at least {} of memory",
            crate::format_mib(MIN_MEMORY_MIB)
        ))
    } else if mib > MAX_MEMORY_MIB {
        Err(format!(
            "{} of memory is out of range: a domain has at most {}",
            crate::format_mib(mib),
            crate::format_mib(MAX_MEMORY_MIB)
        ))
    } else {
        Ok(mib)
    }
}

/// Checks a migration downtime target, ms (0 clears it where allowed).
pub fn check_downtime_ms(ms: u64) -> Result<u64, String> {
    if ms <= MAX_DOWNTIME_MS {
        Ok(ms)
    } else {
        Err(format!(
            "a downtime target of {ms} ms is out of range: use at most {MAX_DOWNTIME_MS} ms"
        ))
    }
}

/// Checks a migration bandwidth cap, MiB/s (0 means no cap).
pub fn check_bandwidth_mib(mib: u64) -> Result<u64, String> {
    if mib <= MAX_BANDWIDTH_MIB {
        Ok(mib)
    } else {
        Err(format!(
            "a bandwidth cap of {mib} MiB/s is out of range: use at most {MAX_BANDWIDTH_MIB} MiB/s"
        ))
    }
}

/// Checks text that is printed in listings as is: no control characters
/// (a newline would forge a line of `ldm list -p`), at most `max` bytes.
pub fn check_printable(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{what} contains a control character (a newline, a tab…): remove it"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_at_their_edges() {
        assert!(check_vcpus(0).is_err());
        assert_eq!(check_vcpus(1), Ok(1));
        assert_eq!(check_vcpus(MAX_VCPUS), Ok(MAX_VCPUS));
        assert!(check_vcpus(MAX_VCPUS + 1).is_err());
        assert!(check_memory_mib(MIN_MEMORY_MIB - 1).is_err());
        assert!(check_memory_mib(MAX_MEMORY_MIB).is_ok());
        assert!(check_memory_mib(u64::MAX).is_err());
        assert!(check_downtime_ms(u64::MAX).is_err());
        assert!(check_downtime_ms(0).is_ok());
        assert!(check_bandwidth_mib(1 << 44).is_err());
        assert!(check_bandwidth_mib(u64::MAX).is_err());
        // The largest cap, in bytes per second, does not overflow.
        assert!(MAX_BANDWIDTH_MIB.checked_mul(1 << 20).is_some());
    }

    #[test]
    fn printable_text_has_no_control_characters() {
        assert!(check_printable("x", "console=ttyS0 quiet", 64).is_ok());
        assert!(check_printable("x", "a\nldg9|active", 64).is_err());
        assert!(check_printable("x", "a\tb", 64).is_err());
        assert!(check_printable("x", &"a".repeat(65), 64).is_err());
    }
}

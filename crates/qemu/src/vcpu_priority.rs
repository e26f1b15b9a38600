//! The CPU priority of a QEMU's vCPU threads, for moves that put the
//! guest first (`migrate-domain --guest-first`).
//!
//! ldm starts QEMU with `-name guest=…,debug-threads=on`, so each vCPU
//! thread is named `CPU <n>/<ACCEL>` (`CPU 0/TCG`, `CPU 1/KVM`) in
//! `/proc/PID/task/TID/comm`. Raising those threads' priority above the
//! copy's threads (QEMU's migration threads, the TLS relays, the target's
//! receive threads) keeps the guest responsive on a busy host; the copy
//! gets less CPU and takes longer.

use std::io;

/// The nice value of a QEMU's vCPU threads during a guest-first move.
///
/// Under CFS a nice -5 thread weighs about 3 times a nice-0 thread
/// (3121 against 1024), so a vCPU keeps most of its core against one copy
/// thread competing for it, without starving the copy altogether.
pub const GUEST_FIRST_NICE: i32 = -5;

/// The nice value of a vCPU thread outside a guest-first move.
pub const NORMAL_NICE: i32 = 0;

/// True if `comm` is the name QEMU gives a vCPU thread with
/// `debug-threads=on`: `CPU <n>/<ACCEL>`, `<n>` decimal digits and
/// `<ACCEL>` a non-empty upper-case accelerator name (`TCG`, `KVM`).
pub fn is_vcpu_thread_name(comm: &str) -> bool {
    let comm = comm.strip_suffix('\n').unwrap_or(comm);
    let Some(rest) = comm.strip_prefix("CPU ") else {
        return false;
    };
    let Some((index, accel)) = rest.split_once('/') else {
        return false;
    };
    !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
        && !accel.is_empty()
        && accel.bytes().all(|b| b.is_ascii_uppercase())
}

/// The thread ids of the vCPU threads of the QEMU process `pid`.
pub fn vcpu_threads(pid: u32) -> io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread may exit between the listing and the read.
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if is_vcpu_thread_name(&comm) {
            tids.push(tid);
        }
    }
    tids.sort_unstable();
    Ok(tids)
}

/// Sets the nice value of the thread `tid`.
pub fn set_nice(tid: i32, nice: i32) -> io::Result<()> {
    let Ok(id) = libc::id_t::try_from(tid) else {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    };
    if id == 0 {
        // 0 would mean the calling thread.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: setpriority only reads its integer arguments; with
    // PRIO_PROCESS and a non-zero id it changes that one thread's nice
    // value (Linux treats a thread id as a process id here).
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, id, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The nice value of the thread `tid`, from `/proc/TID/stat`.
pub fn nice_of(tid: i32) -> io::Result<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{tid}/stat"))?;
    parse_stat_nice(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no nice value in /proc/{tid}/stat"),
        )
    })
}

/// Field 19 (counting the pid as 1) of a `/proc/…/stat` line. The command
/// name (field 2) is in parentheses and may itself hold spaces and
/// parentheses, so fields are counted after the last `)`.
fn parse_stat_nice(stat: &str) -> Option<i32> {
    let (_, after) = stat.rsplit_once(')')?;
    // After the name comes field 3 (state); nice is 16 fields further.
    after.split_whitespace().nth(16)?.parse().ok()
}

/// The vCPU threads of one QEMU at [`GUEST_FIRST_NICE`] for a move; back
/// at [`NORMAL_NICE`] on [`VcpuBoost::restore`] or drop.
///
/// Failures are logged and otherwise ignored: a move must not fail
/// because its guest could not be put first.
#[derive(Debug, Default)]
pub struct VcpuBoost {
    pid: u32,
    tids: Vec<i32>,
}

impl VcpuBoost {
    /// Puts the vCPU threads of QEMU `pid` at [`GUEST_FIRST_NICE`].
    pub fn apply(pid: u32) -> VcpuBoost {
        let found = match vcpu_threads(pid) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("guest first: cannot list the threads of QEMU {pid}: {e}");
                Vec::new()
            }
        };
        let mut tids = Vec::with_capacity(found.len());
        for tid in found {
            match set_nice(tid, GUEST_FIRST_NICE) {
                Ok(()) => tids.push(tid),
                Err(e) => tracing::warn!(
                    "guest first: cannot set nice {GUEST_FIRST_NICE} on thread {tid} of QEMU {pid}: {e}"
                ),
            }
        }
        tracing::info!(
            "guest first: {} vCPU threads of QEMU {pid} at nice {GUEST_FIRST_NICE} for the move",
            tids.len()
        );
        VcpuBoost { pid, tids }
    }

    /// Puts the vCPU threads of QEMU `pid` back at [`NORMAL_NICE`],
    /// whoever changed them (after an ldmd restart no guard is left).
    pub fn reset(pid: u32) {
        let tids = vcpu_threads(pid).unwrap_or_default();
        VcpuBoost { pid, tids }.restore();
    }

    /// The thread ids this guard changed.
    pub fn threads(&self) -> &[i32] {
        &self.tids
    }

    /// Puts the changed threads back at [`NORMAL_NICE`]; a thread that has
    /// exited (its QEMU was destroyed) is skipped quietly, and so is a
    /// thread id no longer in that QEMU.
    pub fn restore(&mut self) {
        for tid in std::mem::take(&mut self.tids) {
            let task = format!("/proc/{}/task/{tid}", self.pid);
            if !std::path::Path::new(&task).exists() {
                continue;
            }
            match set_nice(tid, NORMAL_NICE) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => tracing::warn!(
                    "guest first: cannot set nice {NORMAL_NICE} on thread {tid} of QEMU {}: {e}",
                    self.pid
                ),
            }
        }
    }
}

impl Drop for VcpuBoost {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpu_thread_names() {
        let cases = [
            ("CPU 0/TCG", true),
            ("CPU 0/TCG\n", true),
            ("CPU 1/KVM", true),
            ("CPU 15/KVM", true),
            ("CPU /KVM", false),
            ("CPU 0/", false),
            ("CPU 0", false),
            ("CPU x/KVM", false),
            ("cpu 0/KVM", false),
            ("CPU 0/kvm", false),
            ("CPU 0/KVM extra", false),
            (" CPU 0/KVM", false),
            ("qemu-system-x86", false),
            ("migration", false),
            ("live_migration", false),
            ("multifdsend_0", false),
            ("IO mon_iothread", false),
            ("worker", false),
            ("", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_vcpu_thread_name(name), want, "{name:?}");
        }
    }

    #[test]
    fn nice_is_read_after_the_last_parenthesis() {
        let plain = "1234 (CPU 0/TCG) S 1 1234 1234 0 -1 4194368 10 0 0 0 5 6 0 0 20 0 3 0 100 0";
        assert_eq!(parse_stat_nice(plain), Some(0));
        let odd = "1234 (a) b (c) S 1 1234 1234 0 -1 4194368 10 0 0 0 5 6 0 0 15 -5 3 0 100 0";
        assert_eq!(parse_stat_nice(odd), Some(-5));
        assert_eq!(parse_stat_nice("1234 (x) S 1"), None);
    }

    #[test]
    fn own_thread_nice_is_read() {
        let tid = std::process::id() as i32;
        // SAFETY: getpriority only reads its integer arguments.
        let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
        assert_eq!(nice_of(tid).expect("read own stat"), current);
    }
}

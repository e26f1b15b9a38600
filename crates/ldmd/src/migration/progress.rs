//! Turning QEMU's migration statistics into what administrators see.

use ldm_api::migration::{Phase, Progress};
use ldm_qemu::{MigrationInfo, MigrationStatus};

/// Percent done: the share of guest memory no longer waiting to be sent,
/// held below 100 until QEMU reports completion.
pub fn percent(info: &MigrationInfo) -> u8 {
    if info.status == MigrationStatus::Completed {
        return 100;
    }
    match &info.ram {
        Some(r) if r.total > 0 => {
            let done = r.total.saturating_sub(r.remaining) as f64 / r.total as f64;
            (done * 99.0).clamp(0.0, 99.0) as u8
        }
        _ => 0,
    }
}

/// A percent that never goes backwards: when QEMU's remaining bytes grow
/// (the guest dirtied memory faster than it was sent), the percent holds
/// and the pass number and rate tell the story.
#[derive(Debug, Default, Clone, Copy)]
pub struct Monotonic(u8);

impl Monotonic {
    /// The percent to show for a new sample.
    pub fn next(&mut self, sample: u8) -> u8 {
        self.0 = self.0.max(sample);
        self.0
    }
}

/// The phase a QEMU status belongs to.
pub fn phase(status: MigrationStatus) -> Phase {
    match status {
        MigrationStatus::Device | MigrationStatus::PreSwitchover => Phase::Suspend,
        MigrationStatus::Completed => Phase::Handoff,
        MigrationStatus::PostcopyActive
        | MigrationStatus::PostcopyPaused
        | MigrationStatus::PostcopyRecover
        | MigrationStatus::PostcopyRecoverSetup => Phase::Postcopy,
        MigrationStatus::None | MigrationStatus::Setup => Phase::Prepare,
        _ => Phase::Precopy,
    }
}

/// Throughput in MiB/s from QEMU's megabits per second.
pub fn rate_mib_s(info: &MigrationInfo) -> f64 {
    info.ram
        .as_ref()
        .map(|r| r.mbps * 1e6 / 8.0 / 1_048_576.0)
        .unwrap_or(0.0)
}

/// The progress event for a statistics sample.
pub fn progress(info: &MigrationInfo) -> Progress {
    let ram = info.ram.clone().unwrap_or_default();
    Progress {
        phase: phase(info.status),
        percent: percent(info),
        transferred_bytes: ram.transferred,
        remaining_bytes: ram.remaining,
        rate_mib_s: rate_mib_s(info),
        passes: ram.dirty_sync_count,
        dirty_rate_mib_s: (ram.dirty_pages_rate > 0)
            .then(|| (ram.dirty_pages_rate * ram.page_size.max(4096)) as f64 / 1_048_576.0),
        memory_bytes: (ram.total > 0).then_some(ram.total),
        downtime_limit_ms: None,
    }
}

/// Whether a migration makes no headway: over the last samples (oldest
/// first) of remaining bytes, none fell below the first. Used to give up on
/// a migration that cannot converge instead of running forever.
pub fn stalled(remaining: &[u64]) -> bool {
    match remaining.split_first() {
        Some((first, rest)) if rest.len() >= 2 => rest.iter().all(|r| r >= first),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_qemu::RamStats;

    fn info(status: MigrationStatus, total: u64, remaining: u64) -> MigrationInfo {
        MigrationInfo {
            status,
            ram: Some(RamStats {
                total,
                remaining,
                mbps: 8.0 * 1.048576,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn percent_follows_remaining_memory() {
        assert_eq!(percent(&info(MigrationStatus::Active, 100, 100)), 0);
        assert_eq!(percent(&info(MigrationStatus::Active, 100, 50)), 49);
        assert_eq!(percent(&info(MigrationStatus::Active, 100, 0)), 99);
        assert_eq!(percent(&info(MigrationStatus::Completed, 100, 0)), 100);
        assert_eq!(percent(&MigrationInfo::default()), 0);
    }

    #[test]
    fn rate_and_phase() {
        let i = info(MigrationStatus::Active, 1, 1);
        assert!((rate_mib_s(&i) - 1.0).abs() < 1e-9);
        assert_eq!(phase(MigrationStatus::Device), Phase::Suspend);
        assert_eq!(phase(MigrationStatus::PostcopyActive), Phase::Postcopy);
        assert_eq!(phase(MigrationStatus::Active), Phase::Precopy);
    }

    #[test]
    fn shown_percent_never_falls() {
        let mut m = Monotonic::default();
        let shown: Vec<u8> = [10, 91, 76, 95, 100].iter().map(|p| m.next(*p)).collect();
        assert_eq!(shown, [10, 91, 91, 95, 100]);
    }

    #[test]
    fn stall_detection() {
        assert!(!stalled(&[10, 9, 8]));
        assert!(stalled(&[10, 10, 12]));
        assert!(!stalled(&[10, 12]));
    }
}

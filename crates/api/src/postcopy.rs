//! When a live move leaves pre-copy for post-copy: one pure rule, used by
//! the source ldmd during the copy ([`switch_now`]) and by the dry run to
//! say what ldm will do ([`planned_after_ms`]).
//!
//! The ladder ldm climbs with its default settings (`--postcopy=auto`):
//!
//! 1. Pre-copy: passes over memory while the guest runs.
//! 2. Throttle: QEMU's auto-converge (always on) slows the guest's vCPUs
//!    when it dirties memory faster than it is sent.
//! 3. Post-copy: when that has had its chance (the first pass is over,
//!    what is left does not fit the downtime target, and the throttle
//!    reached [`AUTO_THROTTLE_PERCENT`] or pre-copy ran
//!    [`AUTO_PRECOPY_MS`]), QEMU stops the source, sends the device
//!    state, and the guest runs on the target while the rest of its
//!    memory follows; a page it touches first is fetched on demand over
//!    the return path. Post-copy always finishes: every page crosses once
//!    more at most.
//!
//! `--postcopy=always` switches as soon as the first pass is over;
//! `--postcopy=never` keeps pre-copy alone (which ldm gives up, the source
//! running on, when it stops shrinking).

use crate::migration::PostcopyMode;

/// Longest pre-copy `auto` waits for convergence, ms.
pub const AUTO_PRECOPY_MS: u64 = 20_000;
/// The auto-converge throttle at which `auto` stops waiting, percent.
pub const AUTO_THROTTLE_PERCENT: u64 = 60;

/// What QEMU reports about a pre-copy under way.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Precopy {
    /// Since `migrate`, ms.
    pub elapsed_ms: u64,
    /// QEMU's `dirty-sync-count`: 1 during the first pass, then one more
    /// after each pass.
    pub dirty_syncs: u64,
    /// Dirty memory still to send, bytes.
    pub remaining_bytes: u64,
    /// The rate memory crosses, bytes/s (QEMU's `mbps`).
    pub rate_bytes_s: f64,
    /// auto-converge's current throttle, percent.
    pub throttle_percent: u64,
}

/// Whether the source should switch to post-copy now.
pub fn switch_now(mode: PostcopyMode, p: &Precopy, downtime_limit_ms: u64) -> bool {
    let first_pass_done = p.dirty_syncs >= 2;
    match mode {
        PostcopyMode::Never => false,
        PostcopyMode::Always => first_pass_done,
        PostcopyMode::Auto => {
            // What QEMU would send paused anyway is no reason to switch.
            let fits = p.remaining_bytes as f64 <= p.rate_bytes_s * downtime_limit_ms as f64 / 1e3;
            first_pass_done
                && !fits
                && (p.throttle_percent >= AUTO_THROTTLE_PERCENT || p.elapsed_ms >= AUTO_PRECOPY_MS)
        }
    }
}

/// For the dry run: after how much pre-copy ldm would switch, ms, given
/// the model's prediction of pre-copy alone (`None`: it would not).
/// `first_pass_ms` is the predicted time of the first pass.
pub fn planned_after_ms(
    mode: PostcopyMode,
    precopy: &crate::predict::Outcome,
    fixed_ms: u64,
    first_pass_ms: u64,
) -> Option<u64> {
    match mode {
        PostcopyMode::Never => None,
        PostcopyMode::Always => Some(first_pass_ms),
        PostcopyMode::Auto => {
            let copy_ms = precopy.total_ms.saturating_sub(fixed_ms);
            let slow = !precopy.finishes
                || copy_ms > AUTO_PRECOPY_MS
                || u64::from(precopy.throttle_percent) >= AUTO_THROTTLE_PERCENT;
            slow.then_some(AUTO_PRECOPY_MS.max(first_pass_ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::Outcome;

    const GIB: u64 = 1 << 30;

    fn busy(elapsed_ms: u64, dirty_syncs: u64, throttle_percent: u64) -> Precopy {
        Precopy {
            elapsed_ms,
            dirty_syncs,
            remaining_bytes: GIB,
            rate_bytes_s: 300.0 * 1048576.0,
            throttle_percent,
        }
    }

    #[test]
    fn never_never_switches() {
        assert!(!switch_now(PostcopyMode::Never, &busy(600_000, 50, 99), 30));
    }

    #[test]
    fn always_switches_once_the_first_pass_is_over() {
        assert!(!switch_now(PostcopyMode::Always, &busy(5_000, 1, 0), 30));
        assert!(switch_now(PostcopyMode::Always, &busy(5_000, 2, 0), 30));
        // Even with little left: that is what `always` asks for.
        let mut p = busy(5_000, 2, 0);
        p.remaining_bytes = 0;
        assert!(switch_now(PostcopyMode::Always, &p, 30));
    }

    #[test]
    fn auto_waits_for_the_throttle_or_the_time() {
        let m = PostcopyMode::Auto;
        // Converging, or still throttling within its time: wait.
        assert!(!switch_now(m, &busy(19_999, 6, 50), 30));
        assert!(
            !switch_now(m, &busy(60_000, 1, 99), 30),
            "first pass not over"
        );
        // The throttle had its chance, or the time is up.
        assert!(switch_now(m, &busy(8_000, 4, 60), 30));
        assert!(switch_now(m, &busy(20_000, 4, 0), 30));
        // What is left fits the downtime target: QEMU finishes by itself.
        let mut p = busy(30_000, 9, 99);
        p.remaining_bytes = 9 << 20;
        assert!(!switch_now(m, &p, 30));
        p.remaining_bytes = 9 << 20 | 1 << 22;
        assert!(switch_now(m, &p, 30));
    }

    fn outcome(total_ms: u64, throttle_percent: u8, finishes: bool) -> Outcome {
        Outcome {
            total_ms,
            pause_ms: 10,
            precopy_passes: 3,
            bytes: GIB,
            converges: throttle_percent == 0,
            throttle_percent,
            finishes,
        }
    }

    #[test]
    fn the_dry_run_says_when() {
        let fast = outcome(5_000, 0, true);
        assert_eq!(
            planned_after_ms(PostcopyMode::Auto, &fast, 1_000, 3_000),
            None
        );
        assert_eq!(
            planned_after_ms(PostcopyMode::Never, &fast, 1_000, 3_000),
            None
        );
        assert_eq!(
            planned_after_ms(PostcopyMode::Always, &fast, 1_000, 3_000),
            Some(3_000)
        );
        let never = outcome(u64::MAX, 99, false);
        assert_eq!(
            planned_after_ms(PostcopyMode::Auto, &never, 1_000, 3_000),
            Some(AUTO_PRECOPY_MS)
        );
        assert_eq!(
            planned_after_ms(PostcopyMode::Never, &never, 1_000, 3_000),
            None
        );
        let slow = outcome(1_000 + AUTO_PRECOPY_MS + 1, 30, true);
        assert!(planned_after_ms(PostcopyMode::Auto, &slow, 1_000, 3_000).is_some());
        let throttled = outcome(9_000, 60, true);
        assert!(planned_after_ms(PostcopyMode::Auto, &throttled, 1_000, 3_000).is_some());
        // A first pass longer than the wait: the switch comes after it.
        assert_eq!(
            planned_after_ms(PostcopyMode::Auto, &never, 1_000, 30_000),
            Some(30_000)
        );
    }
}

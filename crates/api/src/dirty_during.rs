//! How much the guest dirties during a live move, measured by each move
//! and kept on the host: the prediction ([`crate::predict`]) of the same
//! domain's next move from the host takes it instead of the sample.
//!
//! Where the copy's threads share the CPU with the guest's vCPUs (TCG, few
//! cores) the guest dirties at another rate during the copy than at rest,
//! and the sampled rate alone mispredicts the passes. During the copy QEMU
//! reports `dirty-pages-rate`: the pages newly dirtied over its last
//! period of at least a second, the same measure (distinct pages per
//! second) as its sampling before the move, so the two compare like with
//! like. Each pass's figure is read once; a figure from a throttled pass
//! is divided by what auto-converge left the vCPUs (the model throttles
//! the rate itself), and the median of the figures is the rate the guest
//! kept. QEMU updates its figure at a sync at least a second after the
//! last update and reports none once completed, so the statistics must be
//! read soon after the first pass ends: a move whose later passes take
//! less than a second leaves no other chance. Bytes sent after the first pass over the copy's time would mix in
//! the pause's bytes and a first pass the statistics do not show.

/// Below this sampled rate, MiB/s, the guest is close to idle: its rate
/// during the copy is not worth reading for.
pub const MIN_SAMPLED_MIB_S: u64 = 4;
/// Passes under a heavier throttle than this, percent, say too little
/// of the guest's own rate.
const MAX_THROTTLE_PERCENT: u8 = 80;

/// The figures QEMU reported during a pre-copy, one per pass.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DuringCopy {
    /// The guest's rate in each pass read so far, unthrottled, bytes/s.
    rates: Vec<f64>,
    /// QEMU's dirty-memory syncs at the last reading.
    last_sync: u64,
    /// QEMU's last figure taken, pages/s.
    last_pages_s: u64,
    /// auto-converge's throttle at the last statistics, percent.
    throttle: u8,
}

impl DuringCopy {
    /// One reading of QEMU's statistics: its syncs so far, the pages
    /// dirtied per second over its last period, the page size and the
    /// vCPU throttle now. A figure is taken at the first reading after
    /// a sync that changed it (QEMU keeps it over syncs less than a
    /// second apart), with the throttle the previous reading showed (the
    /// one the passes ran under). The figures before the first pass
    /// ended (the first sync is at the start) and zeros (QEMU had no
    /// period of a second yet) are not figures of the guest.
    pub fn observe(&mut self, syncs: u64, pages_s: u64, page_size: u64, throttle: u8) {
        let ran_under = self.throttle;
        self.throttle = throttle;
        if syncs <= self.last_sync.max(1) {
            return;
        }
        self.last_sync = syncs;
        if pages_s == 0 || pages_s == self.last_pages_s {
            return;
        }
        self.last_pages_s = pages_s;
        if ran_under > MAX_THROTTLE_PERCENT {
            return;
        }
        let bytes_s = pages_s as f64 * page_size.max(4096) as f64;
        self.rates
            .push(bytes_s / (1.0 - f64::from(ran_under) / 100.0));
    }

    /// A figure was taken.
    pub fn has_figure(&self) -> bool {
        !self.rates.is_empty()
    }

    /// The rate the guest kept during the copy, MiB/s: the median of the
    /// passes' figures (`None`: no pass ended with one).
    pub fn rate_mib_s(&self) -> Option<f64> {
        let mut r = self.rates.clone();
        if r.is_empty() {
            return None;
        }
        r.sort_by(f64::total_cmp);
        let mid = r.len() / 2;
        let median = if r.len() % 2 == 1 {
            r[mid]
        } else {
            (r[mid - 1] + r[mid]) / 2.0
        };
        Some(median / 1048576.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB_PAGES: u64 = 256;

    /// Readings (syncs, MiB/s as 4 KiB pages, throttle).
    type Readings = &'static [(u64, u64, u8)];

    /// Readings → the rate kept.
    #[test]
    fn the_rate_kept_during_the_copy() {
        #[rustfmt::skip]
        let rows: &[(Readings, Option<f64>)] = &[
            // Nothing read, or only during the first pass.
            (&[], None),
            (&[(1, 0, 0), (1, 0, 0)], None),
            // QEMU had no period of a second yet.
            (&[(1, 0, 0), (2, 0, 0)], None),
            // One pass ended: its figure.
            (&[(1, 0, 0), (2, 150, 0)], Some(150.0)),
            // Read again in the same pass: once.
            (&[(1, 0, 0), (2, 150, 0), (2, 150, 0), (3, 90, 0)], Some(120.0)),
            // A sync that did not change QEMU's figure (less than a
            // second after the last update): once.
            (&[(2, 150, 0), (3, 150, 0), (4, 150, 0), (5, 90, 0), (6, 90, 0)], Some(120.0)),
            // The median, not the mean: one odd pass does not move it.
            (&[(2, 100, 0), (3, 110, 0), (4, 900, 0)], Some(110.0)),
            // A pass run under 50 % throttle: its figure doubled. The
            // throttle read with the figure is the next pass's.
            (&[(1, 0, 0), (2, 100, 50), (3, 50, 50)], Some(100.0)),
            // Under a heavier throttle than 80 %: left out.
            (&[(2, 100, 90), (3, 5, 90), (4, 6, 0)], Some(100.0)),
        ];
        for (readings, want) in rows {
            let mut d = DuringCopy::default();
            for (syncs, mib, throttle) in *readings {
                d.observe(*syncs, mib * MIB_PAGES, 4096, *throttle);
            }
            assert_eq!(d.rate_mib_s(), *want, "{readings:?}");
        }
    }

    #[test]
    fn the_page_size_is_qemus() {
        let mut d = DuringCopy::default();
        d.observe(2, 100, 65536, 0);
        assert_eq!(d.rate_mib_s(), Some(100.0 * 65536.0 / 1048576.0));
        // A QEMU that reports no page size: 4 KiB.
        let mut d = DuringCopy::default();
        d.observe(2, 256, 0, 0);
        assert_eq!(d.rate_mib_s(), Some(1.0));
    }
}

//! Rate limiting with a bounded catch-up: credit accrues with monotonic time
//! but never exceeds one second's worth, so after a long stall (e.g. a
//! migration downtime or a paused VM) the workload does at most one extra
//! second of work instead of a huge burst.

use std::time::Duration;

use crate::pattern::PAGE_SIZE;

/// Byte credit for one activity (rewriting or sweeping).
#[derive(Debug, Clone)]
pub struct Credit {
    bytes_per_sec: f64,
    credit: f64,
}

impl Credit {
    pub fn new(bytes_per_sec: f64) -> Self {
        Credit {
            bytes_per_sec,
            credit: 0.0,
        }
    }

    /// Adds credit for `dt` of elapsed time, capped at one second's worth.
    pub fn accrue(&mut self, dt: Duration) {
        self.credit = (self.credit + self.bytes_per_sec * dt.as_secs_f64()).min(self.bytes_per_sec);
    }

    /// Whole pages currently affordable.
    pub fn pages(&self) -> usize {
        (self.credit / PAGE_SIZE as f64) as usize
    }

    /// Consumes credit for `n` pages.
    pub fn spend(&mut self, n: usize) {
        self.credit -= (n * PAGE_SIZE) as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    #[test]
    fn accrues_at_rate() {
        let mut c = Credit::new(8.0 * MIB);
        c.accrue(Duration::from_millis(100));
        // 0.8 MiB = 204.8 pages
        assert_eq!(c.pages(), 204);
        c.spend(200);
        assert_eq!(c.pages(), 4);
    }

    #[test]
    fn catch_up_capped_to_one_second() {
        let mut c = Credit::new(100.0 * MIB);
        c.accrue(Duration::from_secs(30));
        assert_eq!(c.pages(), 100 * 256);
    }

    #[test]
    fn zero_rate_never_accrues() {
        let mut c = Credit::new(0.0);
        c.accrue(Duration::from_secs(5));
        assert_eq!(c.pages(), 0);
    }
}

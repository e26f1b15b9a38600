//! Rate-limited logging: a flood of the same event (failed logins, accept
//! errors, refused connections) must not fill the disk.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// Allows `burst` log lines per `window`; the next line allowed after a
/// quiet spell says how many were left out.
#[derive(Debug)]
pub struct LogLimit {
    burst: u32,
    window: Duration,
    state: Mutex<Window>,
}

impl LogLimit {
    /// At most `burst` lines per `window`.
    pub const fn new(burst: u32, window: Duration) -> Self {
        LogLimit {
            burst,
            window,
            state: Mutex::new(Window {
                start: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether to log one more line now; `Some(n)` when allowed, `n` being
    /// the lines left out since the last allowed one.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    /// Like [`LogLimit::allow`], at `now`.
    pub fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = w
            .start
            .is_none_or(|s| now.saturating_duration_since(s) >= self.window);
        if fresh {
            w.start = Some(now);
            w.logged = 0;
        }
        if w.logged >= self.burst {
            w.suppressed = w.suppressed.saturating_add(1);
            return None;
        }
        w.logged += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_a_burst_per_window_and_counts_the_rest() {
        let l = LogLimit::new(3, Duration::from_secs(10));
        let t = Instant::now();
        let allowed: Vec<Option<u64>> = (0..1000).map(|_| l.allow_at(t)).collect();
        assert_eq!(&allowed[..4], &[Some(0), Some(0), Some(0), None]);
        assert_eq!(allowed.iter().filter(|a| a.is_some()).count(), 3);
        assert_eq!(l.allow_at(t + Duration::from_secs(10)), Some(997));
    }
}

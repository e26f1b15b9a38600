//! Exponential back-off for a loop that keeps failing (an accept loop out
//! of file descriptors must not spin a core).

use std::time::Duration;

/// The first pause after a failure.
pub const FIRST: Duration = Duration::from_millis(10);
/// The longest pause.
pub const LONGEST: Duration = Duration::from_secs(1);

/// Pauses that double after each failure, from [`FIRST`] to [`LONGEST`],
/// and start over after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// A back-off that has seen no failure.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pause owed after one more failure.
    pub fn failed(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(LONGEST);
        now
    }

    /// Starts over after a success.
    pub fn succeeded(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::new();
        let pauses: Vec<u128> = (0..9).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), FIRST);
    }
}

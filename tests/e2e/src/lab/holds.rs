//! Waiting for and releasing ldmd's hold points (`LDMD_TEST_HOLD`, see
//! ldmd's `testhook`): ldmd writes `held-POINT` in the host's hold
//! directory and goes on once the file is removed.

use super::Lab;
use std::path::PathBuf;
use std::time::Duration;

impl Lab {
    fn held_file(&self, i: usize, point: &str) -> PathBuf {
        self.hold_dir(i).join(format!("held-{point}"))
    }

    /// Whether host `i`'s ldmd is holding at `point`.
    pub fn is_held(&self, i: usize, point: &str) -> bool {
        self.held_file(i, point).exists()
    }

    /// Waits until host `i`'s ldmd holds at `point`; panics with its log
    /// after `timeout`.
    #[track_caller]
    pub fn wait_held(&self, i: usize, point: &str, timeout: Duration) {
        if crate::poll(timeout, Duration::from_millis(20), || {
            self.is_held(i, point).then_some(())
        })
        .is_none()
        {
            panic!(
                "host {i}'s ldmd did not reach hold point {point} within {timeout:?}; its log:\n{}",
                crate::tail_lines(&self.hosts[i].log(), 40)
            );
        }
    }

    /// Lets host `i`'s ldmd go on from `point`.
    pub fn release(&self, i: usize, point: &str) {
        let _ = std::fs::remove_file(self.held_file(i, point));
    }

    /// Releases every hold of host `i` and disarms the others: without
    /// its directory, ldmd no longer holds (also after a restart).
    pub fn disarm_holds(&self, i: usize) {
        let _ = std::fs::remove_dir_all(self.hold_dir(i));
    }
}

//! Waiting for and releasing ldmd's hold points (`LDMD_TEST_HOLD`, see
//! ldmd's `testhook`): ldmd writes `held-POINT` in the host's hold
//! directory and goes on once the file is removed.

use super::Lab;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

/// The link's rate during pre-copy in the tests that switch to post-copy
/// at a hold, kbit/s: the guest's working set crosses in seconds.
pub const PRECOPY_LINK_KBIT: u32 = 200_000;

impl Lab {
    /// Starts `--postcopy=always` of `ldg1` from host 0 to host 1, so that
    /// the pre-copy cannot end on its own while the switch is held. QEMU
    /// goes on copying during the hold; over an unshaped link and with the
    /// default 30 ms pause budget, a guest that dirtied slowly (a loaded
    /// host) let it complete the pre-copy before the switch (once seen
    /// here; the likely cause of a CI failure of the cut-link test). With
    /// a 1 ms budget over [`PRECOPY_LINK_KBIT`], QEMU completes only once
    /// less than about 25 KiB is dirty, far less than the guest dirties
    /// between two passes.
    #[track_caller]
    pub fn spawn_postcopy(&self) -> Child {
        self.slow(1, PRECOPY_LINK_KBIT);
        self.spawn_migrate(
            0,
            1,
            "ldg1",
            &["--postcopy=always", "--downtime-limit", "1"],
        )
    }

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

//! TCP ports for one test host that no other test (thread or process) uses
//! at the same time: slots are claimed with `flock` on files in the temp
//! directory and released when the [`PortSlot`] is dropped or the process ends.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// First port of slot 0.
pub const BASE: u16 = 20000;
/// Ports per slot.
pub const STRIDE: u16 = 25;
/// Console ports per slot (the default vcc range of the host).
pub const CONSOLE_PORTS: u16 = 10;
/// How many slots exist (20000..29999).
pub const SLOTS: u16 = 400;

/// A claimed block of ports.
#[derive(Debug)]
pub struct PortSlot {
    index: u16,
    _lock: File,
}

fn lock_dir() -> PathBuf {
    let d = std::env::temp_dir().join("ldm-e2e-ports");
    let _ = std::fs::create_dir_all(&d);
    d
}

impl PortSlot {
    /// Claims a free slot; panics if all are taken.
    pub fn claim() -> PortSlot {
        let dir = lock_dir();
        // Start at a point that depends on the process, so parallel test
        // processes mostly try different slots first.
        let start = std::process::id() as u16 % SLOTS;
        for k in 0..SLOTS {
            let index = (start + k) % SLOTS;
            let Ok(f) = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!("slot-{index}.lock")))
            else {
                continue;
            };
            // SAFETY: flock on an open descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return PortSlot { index, _lock: f };
            }
        }
        panic!("all {SLOTS} port slots in {} are taken", dir.display());
    }

    /// First port of the slot.
    pub fn base(&self) -> u16 {
        BASE + self.index * STRIDE
    }

    /// The console port range: `(first, last)`.
    pub fn console_range(&self) -> (u16, u16) {
        (self.base(), self.base() + CONSOLE_PORTS - 1)
    }

    /// A port for the peer (migration) listener.
    pub fn peer_port(&self) -> u16 {
        self.base() + STRIDE - 1
    }

    /// Spare ports of the slot (for an extra vcc in a test).
    pub fn spare_range(&self) -> (u16, u16) {
        (self.base() + CONSOLE_PORTS, self.base() + STRIDE - 2)
    }
}

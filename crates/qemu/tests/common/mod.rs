//! Helpers shared by the integration tests: real QEMU processes that are
//! killed when the test ends, in temporary directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use ldm_qemu::{launch, process, MachineConfig, QemuBinary, Qmp, SharedQmp};
use tempfile::TempDir;
use uuid::Uuid;

/// The installed QEMU, checked to be supported.
pub fn qemu() -> QemuBinary {
    let bin =
        QemuBinary::probe(None).expect("qemu-system-x86_64 must be installed for these tests");
    bin.ensure_supported().expect("QEMU 10 or newer is needed");
    bin
}

/// A small machine definition (64 MiB, 1 vCPU, TCG, no kernel) whose
/// runtime files live in `dir`.
pub fn small_config(name: &str, dir: &Path) -> MachineConfig {
    let mut cfg = MachineConfig::new(name, Uuid::new_v4(), dir);
    cfg.memory_mib = 64;
    cfg
}

/// A QEMU process started by a test; SIGKILLed on drop.
pub struct TestVm {
    pub cfg: MachineConfig,
    pub pid: u32,
}

impl TestVm {
    /// Launches `cfg` (with `-incoming defer` if `incoming`).
    pub async fn launch(cfg: MachineConfig, incoming: bool) -> TestVm {
        let pid = launch(&qemu(), &cfg, incoming).await.expect("launch QEMU");
        TestVm { cfg, pid }
    }

    /// A QMP connection wrapped for sharing.
    pub async fn qmp(&self) -> SharedQmp {
        Qmp::connect(&self.cfg.qmp_socket)
            .await
            .expect("connect to QMP")
            .into_shared()
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        if process::process_matches(self.pid, &self.cfg.uuid) {
            let _ = process::kill(self.pid, libc::SIGKILL);
        }
    }
}

/// A temporary directory for a test's runtime files.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("ldmq")
        .tempdir()
        .expect("create temp dir")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Writes a 64 KiB firmware image that prints "ldm-ok\n" on the first
/// serial port and halts, for checking the console plumbing without a
/// kernel.
pub fn tiny_bios(dir: &Path) -> PathBuf {
    let mut image = vec![0xf4u8; 64 * 1024]; // hlt
    let mut code = vec![0xba, 0xf8, 0x03]; // mov dx, 0x3f8
    for b in b"ldm-ok\n" {
        code.extend([0xb0, *b, 0xee]); // mov al, b; out dx, al
    }
    code.extend([0xf4, 0xeb, 0xfd]); // hlt; jmp back to hlt
                                     // The reset vector is 16 bytes below 4 GiB, i.e. at offset 0xfff0 of
                                     // the image; jump from there to the code at the start of the image's
                                     // last 4 KiB (0xf000:0xf000 in real mode).
    image[0xf000..0xf000 + code.len()].copy_from_slice(&code);
    image[0xfff0..0xfff5].copy_from_slice(&[0xea, 0x00, 0xf0, 0x00, 0xf0]); // jmp f000:f000
    let path = dir.join("tiny-bios.bin");
    std::fs::write(&path, image).expect("write tiny BIOS");
    path
}

/// Waits for `pred` to hold, polling, for up to `timeout`.
pub async fn eventually(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if pred() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pred()
}

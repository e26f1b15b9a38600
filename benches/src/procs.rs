//! Cleanup guards: temporary directories whose QEMUs die with them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

const SIGKILL: i32 = 9;

/// A temporary directory. Dropping it SIGKILLs every QEMU whose pidfile
/// lies below it, then removes it.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/ldm-bench-PID-TAG-N`.
    pub fn new(tag: &str) -> anyhow::Result<TempDir> {
        let base = std::env::temp_dir();
        for n in 0..1000 {
            let path = base.join(format!("ldm-bench-{}-{tag}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        anyhow::bail!(
            "cannot find a free temporary directory name in {}",
            base.display()
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        kill_pidfiles(&self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// SIGKILLs the process of every `*.pid` file below `dir`, if that process
/// still names the pidfile on its command line (so a recycled pid is safe).
pub fn kill_pidfiles(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            kill_pidfiles(&path);
        } else if path.extension().is_some_and(|e| e == "pid") {
            if let Some(pid) = ldm_qemu::read_pidfile(&path) {
                if names(pid, &path) {
                    let _ = ldm_qemu::kill(pid, SIGKILL);
                    wait_gone(pid, Duration::from_secs(2));
                }
            }
        }
    }
}

/// True if live process `pid` has `path` in its command line.
fn names(pid: u32, path: &Path) -> bool {
    if !ldm_qemu::pid_alive(pid) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let wanted = path.as_os_str().as_encoded_bytes();
    cmdline.split(|&b| b == 0).any(|arg| arg == wanted)
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while ldm_qemu::pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

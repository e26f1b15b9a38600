//! Starting a domain's QEMU process.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::cmdline::INCOMING_DEFER;
use crate::config::MachineConfig;
use crate::error::{Error, Result};
use crate::process::{pid_alive, process_matches, read_pidfile};
use crate::version::QemuBinary;

/// How long QEMU may take to initialise before `launch` gives up.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes of QEMU's log quoted in a launch error.
const MAX_MESSAGE: usize = 4096;

/// Starts the QEMU process for `cfg` and returns its pid.
///
/// With `incoming`, QEMU starts with `-incoming defer` and waits for QMP
/// `migrate-incoming`. Stale sockets and pidfile are removed first (but a
/// live QEMU of the same domain is an [`Error::AlreadyRunning`]), the
/// previous QEMU log is kept as `LOG.old`, and missing runtime directories
/// are created.
///
/// QEMU runs with `-daemonize`: the launcher process returns once the
/// machine is initialised (QMP socket listening), and the machine itself
/// runs in its own session with stdio on /dev/null, so it survives the
/// caller. If QEMU fails to start, its error message (from stderr and the
/// log file) is in the returned [`Error::LaunchFailed`].
///
/// With [`MachineConfig::transparent_hugepages`] off, QEMU runs with
/// transparent huge pages disabled (`PR_SET_THP_DISABLE`, kept across
/// `exec`). That is for incoming migrations: the receiving QEMU writes
/// each arriving 4 KiB page into memory it never touched, and with huge
/// pages every first write makes the kernel clear a whole 2 MiB page. On
/// hosts whose fresh memory is expensive to fault in (nested
/// virtualisation), that clearing took most of the copy time: a 1 GiB
/// guest copied at about 0.45 GiB/s with huge pages and 0.9 GiB/s without.
pub async fn launch(bin: &QemuBinary, cfg: &MachineConfig, incoming: bool) -> Result<u32> {
    cfg.validate()?;
    for (what, path) in [("kernel", &cfg.kernel), ("initrd", &cfg.initrd)] {
        if let Some(path) = path {
            if !path.is_file() {
                return Err(Error::InvalidConfig {
                    name: cfg.name.clone(),
                    reason: format!(
                        "{what} file {} does not exist; check the domain's {what} path",
                        path.display()
                    ),
                });
            }
        }
    }
    if let Some(pid) = read_pidfile(&cfg.pidfile) {
        if process_matches(pid, &cfg.uuid) {
            return Err(Error::AlreadyRunning {
                name: cfg.name.clone(),
                pid,
            });
        }
    }
    prepare_runtime_files(cfg)?;

    let args = cfg.args(incoming.then_some(INCOMING_DEFER));
    tracing::info!(
        domain = %cfg.name,
        qemu = %bin.path.display(),
        incoming,
        args = %args.join(" "),
        "starting QEMU"
    );
    let mut cmd = Command::new(&bin.path);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C aimed at the daemon's terminal
        // must not reach QEMU while it is starting.
        .process_group(0)
        .kill_on_drop(false);
    if !cfg.transparent_hugepages {
        // SAFETY: the closure runs in the forked child before exec and only
        // makes the prctl system call, which is async-signal-safe; it
        // touches no memory shared with the parent.
        unsafe {
            cmd.pre_exec(|| {
                // Best effort: a kernel without the option (before 3.15)
                // runs QEMU with huge pages, slower to receive but correct.
                libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
                Ok(())
            });
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("cannot run {}", bin.path.display()), e))?;

    // The daemonized QEMU may keep the stderr pipe open, so read it in the
    // background and don't wait for end-of-file once the launcher exits.
    let mut stderr = child.stderr.take();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.take(64 * 1024).read_to_end(&mut buf).await;
        }
        buf
    });

    let status = match tokio::time::timeout(LAUNCH_TIMEOUT, child.wait()).await {
        Ok(status) => status.map_err(|e| Error::io("waiting for the QEMU launcher", e))?,
        Err(_) => {
            let _ = child.start_kill();
            reader.abort();
            return Err(Error::LaunchFailed {
                name: cfg.name.clone(),
                status: format!("no answer in {LAUNCH_TIMEOUT:?}"),
                message: format!(
                    "QEMU did not finish initialising; see {}",
                    cfg.log_file.display()
                ),
            });
        }
    };
    let stderr = match tokio::time::timeout(Duration::from_millis(500), reader).await {
        Ok(Ok(buf)) => String::from_utf8_lossy(&buf).trim().to_string(),
        _ => String::new(),
    };

    if !status.success() {
        let log = read_log_tail(&cfg.log_file);
        let message = [stderr.as_str(), log.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let message = if message.is_empty() {
            format!("no error message; see {}", cfg.log_file.display())
        } else {
            message
        };
        tracing::warn!(domain = %cfg.name, %status, %message, "QEMU failed to start");
        return Err(Error::LaunchFailed {
            name: cfg.name.clone(),
            status: status.to_string(),
            message,
        });
    }
    if !stderr.is_empty() {
        tracing::warn!(domain = %cfg.name, %stderr, "QEMU printed warnings while starting");
    }

    // QEMU writes the pidfile before the launcher exits; allow for slow
    // filesystems anyway.
    for _ in 0..50 {
        if let Some(pid) = read_pidfile(&cfg.pidfile) {
            if pid_alive(pid) {
                tracing::info!(domain = %cfg.name, pid, "QEMU started");
                return Ok(pid);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Error::NoPid {
        name: cfg.name.clone(),
        pidfile: cfg.pidfile.clone(),
    })
}

/// Where [`launch`] keeps the log of the previous run of a domain.
pub fn previous_log_path(cfg: &MachineConfig) -> PathBuf {
    let mut name = cfg.log_file.clone().into_os_string();
    name.push(".old");
    PathBuf::from(name)
}

/// Creates runtime directories, removes stale sockets and the pidfile,
/// and moves the previous log aside.
fn prepare_runtime_files(cfg: &MachineConfig) -> Result<()> {
    let mut paths = vec![
        &cfg.qmp_socket,
        &cfg.console_socket,
        &cfg.pidfile,
        &cfg.log_file,
    ];
    if let Some(log) = &cfg.console_log {
        paths.push(log);
    }
    for path in &paths {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create directory {}", dir.display()), e))?;
        }
    }
    for stale in [&cfg.qmp_socket, &cfg.console_socket, &cfg.pidfile] {
        remove_if_exists(stale)?;
    }
    match std::fs::metadata(&cfg.log_file) {
        Ok(m) if m.len() > 0 => {
            let old = previous_log_path(cfg);
            std::fs::rename(&cfg.log_file, &old).map_err(|e| {
                Error::io(format!("cannot move old QEMU log to {}", old.display()), e)
            })?;
        }
        _ => {}
    }
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "removed stale file");
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(
            format!("cannot remove stale {}", path.display()),
            e,
        )),
    }
}

/// The last few KiB of a log file, trimmed; empty if unreadable.
fn read_log_tail(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = bytes.len().saturating_sub(MAX_MESSAGE);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

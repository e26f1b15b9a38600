//! The target's back ends of a storage migration: made ready before the
//! copy, served to the source over NBD, and undone if the migration does not
//! commit.
//!
//! What ldmd creates or fills is listed in `made.json` in the migration's
//! 0700 directory *before* it touches the file, so a rollback, also one
//! after a restart of ldmd, deletes every back end file this migration
//! created and empties every empty one it filled, and nothing else. A back
//! end that held data and was overwritten (`--overwrite-storage`) cannot be
//! given back its data: the administrator chose that.
//!
//! A live migration's incoming QEMU exports its own disk nodes
//! (`nbd-server-start` on `nbd.sock` in that directory). A cold one (a bound
//! or inactive domain) has no QEMU: a `qemu-storage-daemon` opens the back
//! ends and exports them on the same socket, and is stopped cleanly (its
//! caches written) before the hand-off completes.

use super::super::copy_volumes::CopyFact;
use crate::error::{refuse, Error, Result};
use ldm_api::storage::ImageFormat;
use ldm_api::ErrorKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MADE: &str = "made.json";
/// The NBD server's socket in the migration directory.
pub const NBD_SOCKET: &str = "nbd.sock";

/// One back end this migration made ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// Its path.
    pub path: String,
    /// Created by this migration (deleted on rollback); otherwise it was
    /// empty and is emptied again.
    pub created: bool,
    /// Format.
    pub format: ImageFormat,
    /// Size, bytes.
    pub size_bytes: u64,
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::io(format!("storage copy: {what}"), e)
}

fn record(dir: &Path, made: &[Made]) -> Result<()> {
    let text = serde_json::to_vec(made).map_err(|e| refuse(ErrorKind::Internal, e.to_string()))?;
    let tmp = dir.join("made.json.tmp");
    std::fs::write(&tmp, text).map_err(|e| io("record", e))?;
    std::fs::rename(&tmp, dir.join(MADE)).map_err(|e| io("record", e))
}

/// Makes each volume's back end ready for the copy: creates the missing
/// ones (sparse, the source's size and format). `dir` is the migration's
/// private directory (created here).
pub fn prepare(
    dir: &Path,
    offered: &[super::super::volumes::VolumeOffer],
    facts: &[CopyFact],
) -> Result<Vec<Made>> {
    crate::rootdir::private_dir(dir).map_err(|e| io("directory", e))?;
    let mut made = Vec::new();
    for (v, f) in offered.iter().zip(facts) {
        let (path, created) = match f {
            CopyFact::Create { path } => (path, true),
            CopyFact::Fill { path, .. } => (path, false),
            _ => continue,
        };
        made.push(Made {
            path: path.clone(),
            created,
            format: v.format,
            size_bytes: v.size_bytes,
        });
        record(dir, &made)?;
        if created {
            crate::imagetool::create(path, v.format, v.size_bytes)
                .map_err(|m| refuse(ErrorKind::Migration, m))?;
            tracing::info!(backend = %path, "created a back end for a storage copy");
        }
    }
    Ok(made)
}

/// Undoes what `prepare` listed in `dir`: deletes the created back ends,
/// empties the filled ones. Call once nothing has them open for writing.
pub fn undo(dir: &Path) {
    let Ok(text) = std::fs::read(dir.join(MADE)) else {
        return;
    };
    let made: Vec<Made> = serde_json::from_slice(&text).unwrap_or_default();
    for m in made {
        let r = if m.created {
            match std::fs::remove_file(&m.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                _ => Ok(()),
            }
        } else {
            crate::imagetool::empty(&m.path, m.format, m.size_bytes)
        };
        match r {
            Ok(()) => tracing::info!(backend = %m.path, created = m.created, "storage copy undone"),
            Err(e) => tracing::error!(backend = %m.path, "cannot undo the storage copy: {e}"),
        }
    }
    let _ = std::fs::remove_file(dir.join(MADE));
}

/// A `qemu-storage-daemon` exporting a cold domain's back ends on
/// `dir/nbd.sock`, as `vd0`, `vd1`, … (the node names of a running domain).
pub struct Helper {
    child: tokio::process::Child,
}

/// Whether `path` is a block device (a back end QEMU opens as
/// `host_device`).
fn is_block_device(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// The node of disk `i` in QEMU and its export name.
pub fn node(i: usize) -> String {
    ldm_qemu::disks::node_name(i)
}

impl Helper {
    /// Starts the helper on the back ends `paths` (in the disks' order).
    pub async fn start(dir: &Path, disks: &[(String, ImageFormat)]) -> Result<Helper> {
        let socket = dir.join(NBD_SOCKET);
        let _ = std::fs::remove_file(&socket);
        let mut cmd = tokio::process::Command::new("qemu-storage-daemon");
        for (i, (path, format)) in disks.iter().enumerate() {
            let n = node(i);
            // QEMU opens a block device only through `host_device`.
            let driver = if is_block_device(path) {
                "host_device"
            } else {
                "file"
            };
            let path = ldm_qemu::escape_opt(path);
            cmd.arg("--blockdev").arg(format!(
                "driver={driver},node-name={n}-file,filename={path},cache.direct=off"
            ));
            cmd.arg("--blockdev").arg(format!(
                "driver={},node-name={n},file={n}-file",
                format.as_str()
            ));
        }
        cmd.arg("--nbd-server").arg(format!(
            "addr.type=unix,addr.path={}",
            ldm_qemu::escape_opt(&socket.to_string_lossy())
        ));
        for i in 0..disks.len() {
            let n = node(i);
            cmd.arg("--export").arg(format!(
                "type=nbd,id={n},node-name={n},name={n},writable=on"
            ));
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            refuse(
                ErrorKind::Hypervisor,
                format!("cannot start qemu-storage-daemon ({e}): install qemu-system-common"),
            )
        })?;
        // Ready once its socket exists.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(refuse(
                    ErrorKind::Hypervisor,
                    format!("qemu-storage-daemon for the copy exited ({st})"),
                ));
            }
            if std::time::Instant::now() > until {
                return Err(refuse(
                    ErrorKind::Hypervisor,
                    "qemu-storage-daemon for the copy did not start in 10 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Helper { child })
    }

    /// Kills the helper and waits for it to be gone (a rollback).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops the helper cleanly (SIGTERM: it flushes and closes its
    /// images); true if it exited cleanly in time.
    pub async fn stop(mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = ldm_qemu::kill(pid, libc::SIGTERM);
        }
        matches!(
            tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await,
            Ok(Ok(st)) if st.success()
        )
    }
}

/// The socket path of a migration directory's NBD server.
pub fn nbd_socket(dir: &Path) -> PathBuf {
    dir.join(NBD_SOCKET)
}

//! Layout of the daemon's root directory.

use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Where everything of one ldmd lives.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The root directory (`--root`).
    pub root: PathBuf,
}

impl Paths {
    /// Paths under `root`.
    pub fn new(root: impl AsRef<Path>) -> Self {
        Paths {
            root: root.as_ref().to_path_buf(),
        }
    }
    /// The local API socket.
    pub fn socket(&self) -> PathBuf {
        self.root.join(ldm_api::SOCKET_NAME)
    }
    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.root.join("ldm.db")
    }
    /// Runtime files of domains (QMP and console sockets, pid files).
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    /// Logs (QEMU logs, console logs).
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }
    /// The host's TLS identity.
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }
    /// Per-migration credentials. Files of a domain are keyed by its typed
    /// UUID, never by a string a peer sent.
    pub fn migration_dir(&self, id: &Uuid) -> PathBuf {
        self.run_dir().join(format!("mig-{id}"))
    }
    /// A domain's QMP socket. Keyed by UUID so a renamed migration never
    /// collides with a domain of the same name.
    pub fn qmp_socket(&self, uuid: &Uuid) -> PathBuf {
        self.run_dir().join(format!("{uuid}.qmp"))
    }
    /// A domain's serial console socket.
    pub fn console_socket(&self, uuid: &Uuid) -> PathBuf {
        self.run_dir().join(format!("{uuid}.console"))
    }
    /// A domain's QEMU pid file.
    pub fn pidfile(&self, uuid: &Uuid) -> PathBuf {
        self.run_dir().join(format!("{uuid}.pid"))
    }
    /// A domain's QEMU log.
    pub fn qemu_log(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.qemu.log"))
    }
    /// A domain's console log (what the console printed).
    pub fn console_log(&self, uuid: &Uuid) -> PathBuf {
        self.log_dir().join(format!("{uuid}.console.log"))
    }
    /// Creates the root (see [`crate::rootdir`]) and the directories in
    /// it, each 0700.
    pub fn create(&self) -> std::io::Result<()> {
        crate::rootdir::prepare(&self.root)?;
        for d in [self.run_dir(), self.log_dir(), self.tls_dir()] {
            crate::rootdir::private_dir(&d)?;
        }
        Ok(())
    }
}

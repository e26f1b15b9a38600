//! How one ldmd is configured (from its command line).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Configuration of one daemon.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root directory: database, sockets, logs, runtime files.
    pub root: PathBuf,
    /// Peer listener address (`--listen`), if any.
    pub listen: Option<SocketAddr>,
    /// Address the domain consoles listen on.
    pub console_addr: IpAddr,
    /// Console port range for the default vcc, created on first start.
    pub default_vcc: (u16, u16),
    /// vCPUs the host may give to domains (default: the host's CPUs).
    pub vcpus: Option<u32>,
    /// Memory the host may give to domains, MiB (default: host memory less 1 GiB).
    pub memory_mib: Option<u64>,
    /// Accelerator override (`kvm` or `tcg`).
    pub accel: Option<String>,
    /// QEMU binary override.
    pub qemu: Option<PathBuf>,
    /// Host name shown to peers and in listings.
    pub hostname: Option<String>,
    /// Where to serve Prometheus metrics (`--metrics`), if anywhere.
    pub metrics: Option<SocketAddr>,
    /// The network namespace (a file such as `/run/netns/NAME`) in which
    /// ldmd makes its bridges and taps; its own when absent. For running
    /// several daemons in one process (QEMU opens taps in ldmd's own
    /// namespace, so a daemon that runs domains leaves it unset).
    pub netns: Option<PathBuf>,
    /// The QEMU CPU model this host offers as `cpu-arch=native`
    /// (`--native-cpu`; default `host` under KVM, `max` under TCG).
    pub native_cpu: Option<String>,
    /// The QEMU CPU model of `cpu-arch=migration-class1` (`--migration-class1`).
    pub migration_class1: String,
    /// This boot's id (`--boot-id`); the kernel's when absent. A change
    /// since the previous start means the host booted.
    pub boot_id: Option<String>,
}

/// The default model of `cpu-arch=migration-class1`: an x86-64-v2 class
/// CPU (SSE4.2, POPCNT) that QEMU offers under KVM and TCG alike.
pub const DEFAULT_MIGRATION_CLASS1: &str = "Nehalem-v1";

impl Config {
    /// A configuration with defaults for everything but the root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            root: root.into(),
            listen: None,
            console_addr: IpAddr::from([127, 0, 0, 1]),
            default_vcc: (5000, 5099),
            vcpus: None,
            memory_mib: None,
            accel: None,
            qemu: None,
            hostname: None,
            metrics: None,
            netns: None,
            native_cpu: None,
            migration_class1: DEFAULT_MIGRATION_CLASS1.into(),
            boot_id: None,
        }
    }
}

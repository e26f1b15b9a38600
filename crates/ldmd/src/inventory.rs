//! What this host has to give to domains, and its hypervisor.

use crate::config::Config;
use crate::error::{refuse, Result};
use ldm_api::ErrorKind;
use ldm_qemu::{Accel, QemuBinary};

/// The QEMU CPU model of `cpu-arch=generic`: QEMU's portable x86-64
/// baseline. Not `qemu64`, which has AMD's `svm` and so is no subset of
/// Intel models (QEMU's own expansion under TCG says so).
pub const GENERIC_CPU: &str = "kvm64";

/// Facts about the host, gathered at start.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// Host name.
    pub hostname: String,
    /// vCPUs for domains.
    pub vcpus: u32,
    /// Memory for domains, MiB.
    pub memory_mib: u64,
    /// The host's CPUs.
    pub host_cpus: u32,
    /// Host CPU model name.
    pub cpu_model: String,
    /// Accelerator for domains.
    pub accel: Accel,
    /// QEMU, or why it can't be used.
    pub qemu: std::result::Result<QemuBinary, String>,
    /// The machine types and CPU models that QEMU offers (empty without
    /// QEMU): the only ones a peer may ask for.
    pub offered: ldm_qemu::Offered,
    /// The CPU model of `cpu-arch=native` here (`--native-cpu`), if declared.
    pub native_cpu: Option<String>,
    /// The CPU model of `cpu-arch=migration-class1`.
    pub migration_class1: String,
}

/// The host's memory (MemTotal), MiB.
pub fn host_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(1024)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Inventory {
    /// Gathers the facts, applying the configuration's overrides.
    pub fn gather(cfg: &Config) -> Result<Inventory> {
        let host_cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let accel = match cfg.accel.as_deref() {
            None | Some("auto") => ldm_qemu::detect_accel(),
            Some(a) => a.parse().map_err(|_| {
                refuse(
                    ErrorKind::BadRequest,
                    format!("accelerator '{a}' is not known: use kvm, tcg or auto"),
                )
            })?,
        };
        let qemu = QemuBinary::probe(cfg.qemu.as_deref())
            .and_then(|q| q.ensure_supported().map(|_| q))
            .map_err(|e| e.to_string());
        if let Err(e) = &qemu {
            tracing::warn!("QEMU cannot be used: {e}");
        }
        let offered = match &qemu {
            Ok(q) => q.offered().unwrap_or_else(|e| {
                tracing::warn!("cannot list QEMU's machine types and CPU models: {e}");
                Default::default()
            }),
            Err(_) => Default::default(),
        };
        Ok(Inventory {
            hostname: cfg.hostname.clone().unwrap_or_else(hostname),
            vcpus: cfg.vcpus.unwrap_or(host_cpus),
            memory_mib: cfg
                .memory_mib
                .unwrap_or_else(|| host_memory_mib().saturating_sub(1024).max(512)),
            host_cpus,
            cpu_model: ldm_qemu::host_cpu_model(),
            accel,
            qemu,
            offered,
            native_cpu: cfg.native_cpu.clone(),
            migration_class1: cfg.migration_class1.clone(),
        })
    }

    /// The QEMU binary, or an error telling how to get one.
    pub fn qemu(&self) -> Result<&QemuBinary> {
        self.qemu
            .as_ref()
            .map_err(|e| refuse(ErrorKind::Hypervisor, e.clone()))
    }

    /// The QEMU CPU model for a CPU class on this host.
    pub fn cpu_model_for(&self, arch: ldm_api::CpuArch) -> String {
        use ldm_api::CpuArch;
        match (arch, self.accel, &self.native_cpu) {
            (CpuArch::Native, _, Some(declared)) => declared.clone(),
            (CpuArch::Native, Accel::Kvm, None) => "host".into(),
            (CpuArch::Native, Accel::Tcg, None) => "max".into(),
            (CpuArch::Generic, _, _) => GENERIC_CPU.into(),
            (CpuArch::MigrationClass1, _, _) => self.migration_class1.clone(),
        }
    }

    /// The CPU model that stands for this host's own CPU in comparisons:
    /// the declared native model, else the host's model name.
    pub fn native_cpu_name(&self) -> String {
        self.native_cpu
            .clone()
            .unwrap_or_else(|| self.cpu_model.clone())
    }
}

//! Domain definitions and the views `ldm list` prints.

use crate::flags::Flags;
use crate::migration::OperationView;
use crate::network::{VnetSpec, VnetView};
use crate::state::DomainState;
use crate::storage::{DiskView, VdiskSpec};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The CPU model a domain's guest sees (`cpu-arch` in Oracle's ldm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CpuArch {
    /// The host's own CPU model (KVM) or QEMU's richest model (TCG); can only
    /// migrate to a host with the same CPU model and accelerator.
    #[default]
    Native,
    /// A portable baseline that migrates between any hosts.
    Generic,
    /// A model a site chooses as the common denominator of its hosts
    /// (ldmd's `--migration-class1`).
    #[serde(rename = "migration-class1")]
    MigrationClass1,
}

impl CpuArch {
    /// Name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuArch::Native => "native",
            CpuArch::Generic => "generic",
            CpuArch::MigrationClass1 => "migration-class1",
        }
    }
}

impl fmt::Display for CpuArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CpuArch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(CpuArch::Native),
            "generic" => Ok(CpuArch::Generic),
            "migration-class1" => Ok(CpuArch::MigrationClass1),
            other => Err(format!(
                "cpu-arch '{other}' is not known: use cpu-arch=native, generic or migration-class1"
            )),
        }
    }
}

/// A domain's boot variables (OpenBoot variables on SPARC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BootVars {
    /// Path of the kernel image on the host.
    pub kernel: Option<String>,
    /// Path of the initramfs on the host.
    pub initrd: Option<String>,
    /// The kernel command line.
    pub boot_args: Option<String>,
}

impl BootVars {
    /// Names accepted by `ldm set-var`.
    pub const NAMES: [&'static str; 3] = ["kernel", "initrd", "boot-args"];

    /// Sets one variable; an empty value clears it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = if value.is_empty() {
            None
        } else {
            Some(value.to_string())
        };
        match key {
            "kernel" => self.kernel = v,
            "initrd" => self.initrd = v,
            "boot-args" => self.boot_args = v,
            other => {
                return Err(format!(
                    "'{other}' is not a variable ldm knows: use one of {}",
                    Self::NAMES.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// `(name, value)` pairs of the variables that are set.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut v = Vec::new();
        if let Some(k) = &self.kernel {
            v.push(("kernel", k.as_str()));
        }
        if let Some(i) = &self.initrd {
            v.push(("initrd", i.as_str()));
        }
        if let Some(b) = &self.boot_args {
            v.push(("boot-args", b.as_str()));
        }
        v
    }
}

/// Per-domain migration preferences (`ldm set-domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MigrationPrefs {
    /// Longest pause the final phase may take, in ms.
    pub downtime_ms: Option<u64>,
    /// Bandwidth cap in MiB/s.
    pub bandwidth_mib: Option<u64>,
}

/// What an administrator defined for a domain: everything another host needs
/// to recreate exactly the same machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainSpec {
    /// Domain name.
    pub name: String,
    /// Stable identity, kept across migrations. Typed, so a malformed one
    /// (from a peer or a damaged database) is refused where it is decoded,
    /// and files keyed by it can never name another directory.
    pub uuid: uuid::Uuid,
    /// CPU model class.
    pub cpu_arch: CpuArch,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// The most vCPUs the domain may have while it runs (`max-vcpus`):
    /// the machine's CPU slots, fixed while it runs. Absent in domains
    /// defined before vCPUs could change live; those keep `-smp N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    /// Memory in MiB (while running: boot memory plus what was added live).
    pub memory_mib: u64,
    /// The most memory the domain may have while it runs (`max-memory`),
    /// MiB; without it memory changes only while it is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mib: Option<u64>,
    /// While it runs with `max-memory`: the memory it booted with, MiB.
    /// What it has beyond that is hot-plugged (virtio-mem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_memory_mib: Option<u64>,
    /// Boot variables.
    pub vars: BootVars,
    /// Migration preferences.
    #[serde(default)]
    pub migration: MigrationPrefs,
    /// Virtual disks, in the guest's device order.
    #[serde(default)]
    pub disks: Vec<VdiskSpec>,
    /// Network devices, in the guest's device order (absent when none, so
    /// a definition without them reads as before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<VnetSpec>,
}

/// Checks a domain name: letters, digits, `-`, `_`, `.`, at most 64
/// characters, starting with a letter or digit.
pub fn check_domain_name(name: &str) -> Result<(), String> {
    check_label("domain", name, 64)?;
    if name == "primary" {
        return Err("'primary' is the control domain's name: choose another".into());
    }
    Ok(())
}

/// Checks the name of a domain, service, volume, disk, switch or vnet
/// (`what`): letters, digits, `-`, `_`, `.`, at most `max` characters,
/// starting with a letter or digit.
pub fn check_label(what: &str, name: &str, max: usize) -> Result<(), String> {
    let ok = name.len() <= max
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid {what} name: use up to {max} letters, digits, '-', '_' or '.', starting with a letter or digit"
        ))
    }
}

/// One row of `ldm list`, with the details of `ldm list -l`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainView {
    /// Domain name.
    pub name: String,
    /// State.
    pub state: DomainState,
    /// Flags.
    pub flags: Flags,
    /// Console: a TCP port, `UART` for the primary, none when unbound.
    pub cons: Option<String>,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// CPU utilisation in percent of the domain's vCPUs, when running.
    pub util: Option<f64>,
    /// NORM: UTIL normalised to the host's CPUs (`util × vcpus ÷ host
    /// CPUs`), when running; for the primary, the host's load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<f64>,
    /// Seconds since the domain was started (continues across migrations).
    pub uptime_secs: Option<u64>,
    /// UUID.
    pub uuid: String,
    /// CPU model class.
    pub cpu_arch: CpuArch,
    /// Boot variables.
    pub vars: BootVars,
    /// The machine QEMU emulates for the domain, once bound.
    pub machine: Option<MachineView>,
    /// An operation in progress (migration).
    pub operation: Option<OperationView>,
    /// What the administrator must know or do (after a failed migration).
    pub note: Option<String>,
    /// Virtual disks, in the guest's device order.
    #[serde(default)]
    pub disks: Vec<DiskView>,
    /// Network devices, in the guest's device order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<VnetView>,
    /// The most vCPUs the domain may have while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    /// The most memory the domain may have while it runs, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mib: Option<u64>,
    /// Changes waiting for the next start (delayed reconfiguration), as
    /// `property=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// The hypervisor-level facts of a bound or running domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineView {
    /// QEMU machine type.
    pub machine_type: String,
    /// QEMU CPU model.
    pub cpu_model: String,
    /// Accelerator.
    pub accel: String,
    /// QEMU process id when running.
    pub pid: Option<u32>,
}

/// The host as `ldm list-devices` and the primary domain describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    /// Host name.
    pub hostname: String,
    /// vCPUs the host may give to domains.
    pub vcpus_total: u32,
    /// vCPUs not bound to a domain.
    pub vcpus_free: u32,
    /// Memory the host may give to domains, MiB.
    pub memory_total_mib: u64,
    /// Memory not bound to a domain, MiB.
    pub memory_free_mib: u64,
    /// The primary domain's vCPUs (they run migrations).
    pub primary_vcpus: u32,
    /// Accelerator used for domains.
    pub accel: String,
    /// Host CPU model name.
    pub cpu_model: String,
    /// QEMU binary path, if found.
    pub qemu_path: Option<String>,
    /// QEMU version, if found.
    pub qemu_version: Option<String>,
    /// Why QEMU can't be used, if it can't.
    pub qemu_problem: Option<String>,
    /// Peer listener address, if listening.
    pub listen: Option<String>,
    /// Fingerprint of this host's certificate.
    pub fingerprint: Option<String>,
    /// Seconds since ldmd started.
    pub uptime_secs: u64,
    /// Version of ldmd.
    pub version: String,
    /// The local API version ldmd speaks (absent from ldmd before it was
    /// reported).
    #[serde(default)]
    pub api_version: Option<u32>,
    /// The peer (migration) protocol version ldmd speaks.
    #[serde(default)]
    pub peer_protocol: Option<u32>,
}

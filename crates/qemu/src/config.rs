//! The definition of a domain's virtual machine.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accel::Accel;
use crate::error::{Error, Result};

/// The machine type used when a configuration does not name one.
///
/// A versioned type keeps the guest ABI fixed across QEMU upgrades, so a
/// domain can migrate between hosts running different QEMU releases.
pub const DEFAULT_MACHINE_TYPE: &str = "pc-i440fx-10.0";

/// The CPU model used when a configuration does not name one.
pub const DEFAULT_CPU_MODEL: &str = "max";

/// Longest path a Unix socket address can hold (`sun_path` minus the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Everything that defines one domain's QEMU process.
///
/// The command line built from it ([`MachineConfig::args`]) depends only on
/// these fields, so the same configuration on a migration target yields
/// exactly the same virtual machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineConfig {
    /// Domain name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Domain UUID, passed to `-uuid` and used to recognise the process.
    pub uuid: Uuid,
    /// Number of virtual CPUs (`-smp`).
    pub vcpus: u32,
    /// The most vCPUs the machine can hold. With it, the machine boots one
    /// CPU (`-smp 1,maxcpus=M`) and has the others as hot-pluggable CPU
    /// devices ([`crate::cpu_slot_device`]), so they can be added and
    /// removed while it runs and a migration target, given the same
    /// configuration, recreates the same devices. Without it, `-smp N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    /// Guest RAM in MiB (`-m`).
    pub memory_mib: u64,
    /// QEMU machine type (`-machine`), [`DEFAULT_MACHINE_TYPE`] by default.
    #[serde(default = "default_machine_type")]
    pub machine_type: String,
    /// CPU model passed verbatim to `-cpu`, e.g. "max", "host", "qemu64".
    #[serde(default = "default_cpu_model")]
    pub cpu_model: String,
    /// Accelerator.
    pub accel: Accel,
    /// Linux kernel image (`-kernel`). Without one the guest runs the
    /// firmware only, which is useful for tests.
    #[serde(default)]
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk (`-initrd`); needs a kernel.
    #[serde(default)]
    pub initrd: Option<PathBuf>,
    /// Kernel command line (`-append`); ignored when empty, needs a kernel.
    #[serde(default)]
    pub append: String,
    /// QMP control socket (absolute path).
    pub qmp_socket: PathBuf,
    /// Serial console socket (absolute path); connect to it to see and
    /// type on the guest's ttyS0. Output is dropped while no client is
    /// connected, unless [`MachineConfig::console_log`] is set.
    pub console_socket: PathBuf,
    /// File that receives a copy of all console output, appended across
    /// restarts, even while no client is connected.
    #[serde(default)]
    pub console_log: Option<PathBuf>,
    /// Where QEMU writes its pid (absolute path).
    pub pidfile: PathBuf,
    /// QEMU's own log file (`-D`); after `-daemonize` QEMU's error
    /// messages go here. Truncated by QEMU at each start.
    pub log_file: PathBuf,
    /// Start with the CPUs stopped (`-S`); resume with QMP `cont`.
    ///
    /// For an incoming migration, leaving this off lets QEMU resume the
    /// guest by itself as soon as migration completes, if the guest was
    /// running on the source; with it on the guest stays `paused` until
    /// `cont`.
    #[serde(default)]
    pub start_paused: bool,
    /// Disks, in the guest's device order.
    #[serde(default)]
    pub disks: Vec<crate::disks::DiskConfig>,
    /// Network interfaces, in the guest's device order (after the disks).
    #[serde(default)]
    pub nics: Vec<crate::nics::NicConfig>,
    /// Memory that can be added and removed while the machine runs (a
    /// virtio-mem device after the NICs), beside `memory_mib` of boot
    /// memory. Without it the machine's memory is fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotmem: Option<crate::hotmem::HotMemConfig>,
    /// Extra arguments appended verbatim before `-incoming` (devices etc.).
    /// They are part of the machine definition and must be the same on a
    /// migration target.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Whether the kernel may back guest RAM with transparent huge pages
    /// (QEMU asks for them). Off, the process runs with
    /// `PR_SET_THP_DISABLE` and its RAM is made of 4 KiB pages. See
    /// [`crate::launch`] for when that pays.
    #[serde(default = "yes")]
    pub transparent_hugepages: bool,
}

fn yes() -> bool {
    true
}

fn default_machine_type() -> String {
    DEFAULT_MACHINE_TYPE.to_string()
}

fn default_cpu_model() -> String {
    DEFAULT_CPU_MODEL.to_string()
}

impl MachineConfig {
    /// A configuration with defaults (1 vCPU, 256 MiB, TCG, default machine
    /// type and CPU model, no kernel) whose runtime files live in `run_dir`
    /// as `NAME.qmp`, `NAME.console`, `NAME.pid` and `NAME.log`.
    pub fn new(name: &str, uuid: Uuid, run_dir: &Path) -> MachineConfig {
        MachineConfig {
            name: name.to_string(),
            uuid,
            vcpus: 1,
            max_vcpus: None,
            memory_mib: 256,
            machine_type: default_machine_type(),
            cpu_model: default_cpu_model(),
            accel: Accel::Tcg,
            kernel: None,
            initrd: None,
            append: String::new(),
            qmp_socket: run_dir.join(format!("{name}.qmp")),
            console_socket: run_dir.join(format!("{name}.console")),
            console_log: None,
            pidfile: run_dir.join(format!("{name}.pid")),
            log_file: run_dir.join(format!("{name}.log")),
            start_paused: false,
            disks: Vec::new(),
            nics: Vec::new(),
            hotmem: None,
            extra_args: Vec::new(),
            transparent_hugepages: true,
        }
    }

    /// Checks the configuration can be started, without touching the
    /// filesystem.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::InvalidConfig {
            name: self.name.clone(),
            reason,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "the name must be non-empty and use only letters, digits, '-', '_' and '.'".into(),
            ));
        }
        if !(1..=255).contains(&self.vcpus) {
            return Err(invalid(format!("vcpus is {}; use 1 to 255", self.vcpus)));
        }
        if let Some(max) = self.max_vcpus {
            if !(self.vcpus..=255).contains(&max) {
                return Err(invalid(format!(
                    "max_vcpus is {max}; use {} (vcpus) to 255",
                    self.vcpus
                )));
            }
        }
        if let Some(p) = self.hotmem.as_ref().and_then(|h| h.problem()) {
            return Err(invalid(p));
        }
        if self.memory_mib < 16 {
            return Err(invalid(format!(
                "memory is {} MiB; give the guest at least 16 MiB",
                self.memory_mib
            )));
        }
        for (what, value) in [
            ("machine_type", &self.machine_type),
            ("cpu_model", &self.cpu_model),
        ] {
            if !crate::offered::is_model_name(value) {
                return Err(invalid(format!(
                    "{what} {value:?} is not a model name: use letters, digits, '-', '_' and '.' \
                     (at most {} bytes)",
                    crate::offered::MAX_MODEL_NAME
                )));
            }
        }
        if self.kernel.is_none() && (self.initrd.is_some() || !self.append.is_empty()) {
            return Err(invalid(
                "an initrd or kernel command line needs a kernel; set kernel".into(),
            ));
        }
        let runtime = [
            ("qmp_socket", Some(&self.qmp_socket)),
            ("console_socket", Some(&self.console_socket)),
            ("console_log", self.console_log.as_ref()),
            ("pidfile", Some(&self.pidfile)),
            ("log_file", Some(&self.log_file)),
            ("kernel", self.kernel.as_ref()),
            ("initrd", self.initrd.as_ref()),
        ];
        for (what, path) in runtime {
            if let Some(path) = path {
                if path.to_str().is_none() {
                    return Err(invalid(format!(
                        "{what} {} is not valid UTF-8; rename it",
                        path.display()
                    )));
                }
                if !path.is_absolute() {
                    return Err(invalid(format!(
                        "{what} {} is relative; QEMU changes to / when it daemonizes, \
                         so use an absolute path",
                        path.display()
                    )));
                }
            }
        }
        for d in &self.disks {
            let p = d.path.to_str().unwrap_or("");
            if !p.starts_with('/') {
                return Err(invalid(format!(
                    "disk {} has back end {}: use an absolute, UTF-8 path",
                    d.serial,
                    d.path.display()
                )));
            }
            if d.serial.is_empty()
                || d.serial.len() > 20
                || d.serial.chars().any(|c| c.is_control())
            {
                return Err(invalid(format!(
                    "disk serial {:?} must be 1 to 20 printable bytes",
                    d.serial
                )));
            }
        }
        if let Some(reason) = self.nics.iter().find_map(crate::nics::nic_problem) {
            return Err(invalid(reason));
        }
        for (what, path) in [
            ("qmp_socket", &self.qmp_socket),
            ("console_socket", &self.console_socket),
        ] {
            if path.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(invalid(format!(
                    "{what} {} is longer than {MAX_SOCKET_PATH} bytes, the limit for Unix \
                     sockets; use a shorter run directory",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

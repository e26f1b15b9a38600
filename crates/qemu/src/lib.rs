//! The hypervisor layer of ldm: one QEMU process per domain.
//!
//! - [`QemuBinary`] finds `qemu-system-x86_64` and checks its version.
//! - [`detect_accel`] picks KVM or TCG; [`host_cpu_model`] names the CPU.
//! - [`MachineConfig`] defines a domain's machine; [`MachineConfig::args`]
//!   turns it into a deterministic command line.
//! - [`launch`] starts a daemonized QEMU; [`process`] functions inspect
//!   and signal it through /proc.
//! - [`Qmp`] talks to a running QEMU; typed helpers cover run state and
//!   migration ([`MigrationInfo`], [`wait_migration`], [`wait_incoming`]).
//! - [`first_touch`] measures how fast the host writes fresh memory (a
//!   migration target's incoming QEMU receives into fresh memory).
//! - [`MigrationTuning`] sets migration capabilities and parameters on
//!   both ends; [`tls_creds_psk_object`] and [`write_psk_keys`] set up
//!   TLS-PSK encryption of the migration stream.

mod accel;
mod blockcopy;
mod cmdline;
mod commands;
mod config;
mod cpufeatures;
mod dirtyrate;
pub mod disks;
mod error;
pub mod first_touch;
mod hotmem;
mod launch;
mod leftover;
mod migration;
pub mod nics;
mod offered;
pub mod process;
mod qmp;
mod ramblock;
mod tls;
mod tuning;
mod version;

pub use accel::{cpuinfo_has_virt_flags, cpuinfo_model_name, detect_accel, host_cpu_model, Accel};
pub use blockcopy::{BlockJob, JobInfo};
pub use cmdline::{
    cpu_device_type, cpu_slot_device, cpu_slot_id, cpu_slot_props, escape_opt, hotplug_topology,
    CONSOLE_CHARDEV, INCOMING_DEFER, QMP_CHARDEV,
};
pub use commands::{AnnounceSelf, HotpluggableCpu, RunState, VmStatus};
pub use config::{MachineConfig, DEFAULT_CPU_MODEL, DEFAULT_MACHINE_TYPE, MAX_SOCKET_PATH};
pub use cpufeatures::{expansion_features, parse_cpuid_flags, EXPANSION_TIMEOUT};
pub use dirtyrate::{DirtyRate, SAMPLE_PAGES_PER_GIB};
pub use disks::DiskConfig;
pub use error::{Error, Result};
pub use hotmem::{
    HotMemConfig, BOOT_MEMORY_PAD_KIB, FAST_SYNC_KIB, HOTMEM_BACKEND, HOTMEM_BLOCK_MIB,
    HOTMEM_DEVICE, MAX_BOOT_PAD_KIB, RAM_SIZE_STEP_KIB,
};
pub use launch::{launch, previous_log_path, LAUNCH_TIMEOUT};
pub use leftover::{Released, YankInstance};
pub use migration::{wait_incoming, wait_migration, MigrationInfo, MigrationStatus, RamStats};
pub use nics::NicConfig;
pub use offered::{is_model_name, parse_cpu_help, parse_machine_help, Offered, MAX_MODEL_NAME};
pub use process::{
    cpu_time_ticks, guest_ram_rss_kib, kill, pid_alive, process_matches, read_pidfile, rss_kib,
};
pub use qmp::{Qmp, QmpEvent, QmpTimestamp, SharedQmp, DEFAULT_TIMEOUT, EVENT_BUFFER};
pub use ramblock::{parse_ramblocks, RamBlock, BOOT_MEMORY_BACKEND};
pub use tls::{
    generate_psk_key, tls_creds_psk_object, write_psk_keys, TlsEndpoint, PSK_KEYS_FILE, PSK_KEY_LEN,
};
pub use tuning::{
    MigrationTuning, ZeroPageDetection, DEFAULT_DOWNTIME_LIMIT_MS, MAX_DOWNTIME_LIMIT_MS,
};
pub use version::{QemuBinary, QemuVersion, MIN_SUPPORTED_MAJOR, QEMU_BINARY_NAME};

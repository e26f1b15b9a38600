//! What the database keeps for each domain.

use ldm_api::migration::Role;
use ldm_api::{CpuArch, DomainSpec, DomainState};
use serde::{Deserialize, Serialize};

/// Resources and hypervisor facts fixed when a domain is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Console TCP port from a vcc range.
    pub console_port: u16,
    /// QEMU machine type.
    pub machine_type: String,
    /// QEMU CPU model.
    pub cpu_model: String,
    /// Accelerator.
    pub accel: String,
    /// With hot-pluggable memory: what the running machine's boot memory
    /// has beyond its whole MiB, KiB (`ldm_qemu::BOOT_MEMORY_PAD_KIB` from
    /// a start, the source's on a migration target). Absent: none (a
    /// machine started before the pad, or without hot-pluggable memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_pad_kib: Option<u64>,
}

/// A migration this host takes part in, persisted so that a restarted ldmd
/// knows the domain's situation and settles it from the stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationMark {
    /// Source or target.
    pub role: Role,
    /// The other host.
    pub peer: String,
    /// Set when the migration ended in a state the administrator must settle.
    pub error: Option<String>,
    /// The migration's id, shared by both hosts (empty in records written
    /// before ids existed).
    #[serde(default)]
    pub id: String,
    /// Where the migration's state machine is (absent in older records).
    #[serde(default)]
    pub state: Option<MachineState>,
    /// The secret that lets the source ask the target for the outcome of
    /// this migration (kept on both hosts).
    #[serde(default)]
    pub secret: Option<String>,
    /// The domain's name on the peer when the move renames it
    /// (`migrate-domain … NEW-NAME`): a restarted source names the copy
    /// there correctly. Absent when the name stays, and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_name: Option<String>,
}

impl MigrationMark {
    /// A mark for a new migration `id` with `peer`.
    pub fn new(role: Role, peer: impl Into<String>, id: impl Into<String>) -> Self {
        MigrationMark {
            role,
            peer: peer.into(),
            error: None,
            id: id.into(),
            state: None,
            secret: None,
            peer_name: None,
        }
    }
}

/// The state of either side's migration machine, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "side", content = "at", rename_all = "kebab-case")]
pub enum MachineState {
    /// `migration::source::machine::State`.
    Source(crate::migration::source::machine::State),
    /// `migration::target::machine::State`.
    Target(crate::migration::target::machine::State),
}

/// Changes of a running domain that wait for its next start (a delayed
/// reconfiguration): they cannot take effect while QEMU runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// A new CPU class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_arch: Option<CpuArch>,
    /// A new number of CPU slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    /// A new `max-memory`, MiB (0 clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mib: Option<u64>,
}

impl Pending {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        *self == Pending::default()
    }

    /// Each change as `property=value`, as `ldm list -l` shows it.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(a) = self.cpu_arch {
            v.push(format!("cpu-arch={a}"));
        }
        if let Some(m) = self.max_vcpus {
            v.push(format!("max-vcpus={m}"));
        }
        if let Some(m) = self.max_memory_mib {
            v.push(format!("max-memory={}", ldm_api::format_mib(m)));
        }
        v
    }

    /// Applies the changes to a definition.
    pub fn apply(&self, spec: &mut DomainSpec) {
        if let Some(a) = self.cpu_arch {
            spec.cpu_arch = a;
        }
        if let Some(m) = self.max_vcpus {
            spec.max_vcpus = Some(m.max(spec.vcpus));
        }
        if let Some(m) = self.max_memory_mib {
            spec.max_memory_mib = (m > 0).then_some(m);
        }
    }
}

/// One domain as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// Definition.
    pub spec: DomainSpec,
    /// Persistent state (what the domain should be).
    pub state: DomainState,
    /// Binding, when bound or running.
    pub binding: Option<Binding>,
    /// Unix time (seconds) the domain was started: the origin of UPTIME,
    /// carried across migrations.
    pub started_at: Option<u64>,
    /// Migration in progress or unsettled.
    #[serde(default)]
    pub migration: Option<MigrationMark>,
    /// Changes waiting for the next start (delayed reconfiguration).
    #[serde(default, skip_serializing_if = "Pending::is_empty")]
    pub pending: Pending,
}

impl DomainRecord {
    /// A new inactive domain.
    pub fn new(spec: DomainSpec) -> Self {
        DomainRecord {
            spec,
            state: DomainState::Inactive,
            binding: None,
            started_at: None,
            migration: None,
            pending: Pending::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_changes_describe_and_apply_themselves() {
        let p = Pending {
            cpu_arch: Some(CpuArch::Generic),
            max_vcpus: Some(2),
            max_memory_mib: None,
        };
        assert_eq!(p.describe(), ["cpu-arch=generic", "max-vcpus=2"]);
        let mut spec: DomainSpec = serde_json::from_value(serde_json::json!({
            "name": "ldg1", "uuid": "6f1c0a4e-2b7d-4c1e-9a53-0d8f7e6b5a41",
            "cpu_arch": "native", "vcpus": 3, "memory_mib": 512, "vars": {}
        }))
        .unwrap();
        p.apply(&mut spec);
        assert_eq!(spec.cpu_arch, CpuArch::Generic);
        // Never fewer slots than vCPUs.
        assert_eq!(spec.max_vcpus, Some(3));
        assert!(Pending::default().is_empty() && !p.is_empty());
        // A record without pending changes is stored as before.
        let rec = DomainRecord::new(spec);
        let json = serde_json::to_value(&rec).unwrap();
        assert!(json.get("pending").is_none());
    }
}

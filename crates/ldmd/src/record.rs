//! What the database keeps for each domain.

use ldm_api::migration::Role;
use ldm_api::{DomainSpec, DomainState};
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
        }
    }
}

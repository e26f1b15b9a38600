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
/// knows the domain's situation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationMark {
    /// Source or target.
    pub role: Role,
    /// The other host.
    pub peer: String,
    /// Set when the migration ended in a state the administrator must settle.
    pub error: Option<String>,
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

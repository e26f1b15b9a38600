//! What a saved configuration holds: every domain's definition (with its
//! delayed reconfiguration applied: disks, vnets, vCPU slots, CPU class)
//! and whether it was inactive, bound or active, and every service with
//! what it exports: console concentrators, disk services, virtual switches. Services are a tagged list, so a new kind of service is one
//! more variant and older snapshots still read.

use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use ldm_api::network::Mac;
use ldm_api::{DomainSpec, DomainState, ErrorKind};
use serde::{Deserialize, Serialize};

/// Whether a domain held resources or ran when the configuration was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SavedState {
    /// Defined only.
    Inactive,
    /// Bound: bound again when the configuration is applied.
    Bound,
    /// Running (or paused by a migration): bound and started again.
    Active,
}

/// One domain of a saved configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDomain {
    /// Its whole definition (constraints, variables, disks).
    pub spec: DomainSpec,
    /// What it was.
    pub state: SavedState,
}

/// One volume a virtual disk service exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedVolume {
    /// Volume name.
    pub volume: String,
    /// Back end path.
    pub backend: String,
    /// `options=ro`.
    pub readonly: bool,
}

/// One service of the primary domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SavedService {
    /// A console concentrator.
    Vcc {
        /// Name.
        name: String,
        /// First port.
        port_lo: u16,
        /// Last port.
        port_hi: u16,
    },
    /// A virtual disk service with its volumes.
    Vds {
        /// Name.
        name: String,
        /// Exported volumes.
        volumes: Vec<SavedVolume>,
    },
    /// A virtual switch (its bridge is made again when applied).
    Vsw {
        /// Name.
        name: String,
        /// Uplink interface.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        net_dev: Option<String>,
        /// MTU.
        mtu: u32,
        /// The bridge's MAC address, if one was given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mac: Option<Mac>,
    },
}

/// A whole host configuration, as `add-spconfig` saves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConfig {
    /// Services first: domains' disks and consoles refer to them.
    pub services: Vec<SavedService>,
    /// Domains by name.
    pub domains: Vec<SavedDomain>,
}

impl HostConfig {
    /// The host's configuration now. Refused while a migration holds or
    /// marks a domain: which host owns it is not settled.
    pub fn capture(d: &Daemon) -> Result<HostConfig> {
        let mut services: Vec<SavedService> =
            d.db.vccs()?
                .into_iter()
                .map(|v| SavedService::Vcc {
                    name: v.name,
                    port_lo: v.port_lo,
                    port_hi: v.port_hi,
                })
                .collect();
        let vols = d.db.vdsdevs()?;
        for name in d.db.vdss()? {
            let volumes = vols
                .iter()
                .filter(|v| v.service == name)
                .map(|v| SavedVolume {
                    volume: v.volume.clone(),
                    backend: v.backend.clone(),
                    readonly: v.readonly,
                })
                .collect();
            services.push(SavedService::Vds { name, volumes });
        }
        for v in d.db.vsws()? {
            services.push(SavedService::Vsw {
                name: v.name,
                net_dev: v.net_dev,
                mtu: v.mtu,
                mac: v.mac,
            });
        }
        let t = d.table();
        let mut domains = Vec::new();
        for dom in t.values() {
            if dom.migration().is_some() || dom.rec.migration.is_some() {
                return Err(refuse(
                    ErrorKind::Busy,
                    format!(
                        "domain {} is in a migration: save the configuration once it has ended",
                        dom.rec.spec.name
                    ),
                ));
            }
            let state = match dom.rec.state {
                DomainState::Inactive => SavedState::Inactive,
                DomainState::Bound => SavedState::Bound,
                DomainState::Active | DomainState::Suspended => SavedState::Active,
            };
            // A delayed reconfiguration is what the domain is meant to be:
            // the next start would apply it, and so does a power-on.
            let mut spec = dom.rec.spec.clone();
            dom.rec.pending.apply(&mut spec);
            domains.push(SavedDomain { spec, state });
        }
        Ok(HostConfig { services, domains })
    }
}

//! What links this host should have: a bridge for each vsw, a tap for
//! each vnet of each bound domain (bound, active, migrating or suspended:
//! like its console port, a vnet's tap is part of the binding). Pure, from
//! the database's switches and the table of domains.

use super::names::{tap_mac, Owner};
use crate::daemon::Table;
use crate::db_network::VswRow;
use ldm_api::network::{Mac, VnetSpec};

/// A bridge that should exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeWant {
    /// The vsw.
    pub vsw: String,
    /// Interface name.
    pub ifname: String,
    /// Alias (owner and purpose).
    pub alias: String,
    /// MTU.
    pub mtu: u32,
    /// Address, if the vsw has one.
    pub mac: Option<Mac>,
    /// Uplink to enslave.
    pub net_dev: Option<String>,
}

/// A tap that should exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapWant {
    /// Domain.
    pub domain: String,
    /// Vnet.
    pub vnet: String,
    /// Interface name.
    pub ifname: String,
    /// Alias.
    pub alias: String,
    /// Its switch.
    pub vsw: String,
    /// The switch's bridge, if the switch exists.
    pub bridge: Option<String>,
    /// MTU.
    pub mtu: u32,
    /// The host side's address (not the guest's).
    pub mac: Mac,
}

/// Everything that should exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Bridges, by vsw name.
    pub bridges: Vec<BridgeWant>,
    /// Taps, by domain then device order.
    pub taps: Vec<TapWant>,
}

impl Plan {
    /// Whether a link named `ifname` is planned.
    pub fn wants(&self, ifname: &str) -> bool {
        self.bridges.iter().any(|b| b.ifname == ifname)
            || self.taps.iter().any(|t| t.ifname == ifname)
    }
}

/// The MTU a vnet gets: its own, else its switch's.
pub fn vnet_mtu(v: &VnetSpec, vsws: &[VswRow]) -> u32 {
    v.mtu.unwrap_or_else(|| {
        vsws.iter()
            .find(|s| s.name == v.switch)
            .map(|s| s.mtu)
            .unwrap_or(ldm_api::network::MTU_DEFAULT)
    })
}

/// The plan for `vsws` and the domains of `t`.
pub fn plan(owner: &Owner, vsws: &[VswRow], t: &Table) -> Plan {
    let bridges = vsws
        .iter()
        .map(|s| BridgeWant {
            vsw: s.name.clone(),
            ifname: owner.bridge(&s.name),
            alias: owner.bridge_alias(&s.name),
            mtu: s.mtu,
            mac: s.mac,
            net_dev: s.net_dev.clone(),
        })
        .collect();
    let taps = t
        .values()
        .filter(|d| d.rec.state.holds_resources() && d.rec.binding.is_some())
        .flat_map(|d| {
            let spec = &d.rec.spec;
            spec.networks.iter().map(move |v| TapWant {
                domain: spec.name.clone(),
                vnet: v.name.clone(),
                ifname: owner.tap(&spec.uuid, &v.name),
                alias: owner.tap_alias(&spec.name, &v.name),
                vsw: v.switch.clone(),
                bridge: vsws
                    .iter()
                    .any(|s| s.name == v.switch)
                    .then(|| owner.bridge(&v.switch)),
                mtu: vnet_mtu(v, vsws),
                mac: tap_mac(v.mac),
            })
        })
        .collect();
    Plan { bridges, taps }
}

//! A domain's network devices: add-vnet, set-vnet, remove-vnet, and what
//! `ldm list -o network` shows. Like disks, vnets change while a domain is
//! inactive or bound (no hot-plug); a bound domain's tap follows at once.
//! MACs are unique on the host: among every domain's vnets and every
//! interface of the host.

use super::vsw::no_vsw;
use crate::daemon::{commit, get_mut_idle, Daemon, Domain, Table};
use crate::db_network::VswRow;
use crate::error::{refuse, Error, Result};
use crate::net::{self, names::Owner, plan::vnet_mtu};
use crate::record::DomainRecord;
use ldm_api::network::{check_mtu, check_net_name, Mac, VnetSpec, VnetView, MAX_VNETS};
use ldm_api::{DomainState, ErrorKind};

fn bad(m: String) -> Error {
    refuse(ErrorKind::BadRequest, m)
}

fn editable(name: &str, state: DomainState) -> Result<()> {
    match state {
        DomainState::Inactive | DomainState::Bound => Ok(()),
        s => Err(refuse(
            ErrorKind::State,
            format!("domain {name} is {s}: vnets are added, changed and removed while a domain is bound or inactive; stop it first with `ldm stop-domain {name}`"),
        )),
    }
}

fn no_vnet(vnet: &str, domain: &str) -> Error {
    refuse(
        ErrorKind::NotFound,
        format!(
            "domain {domain} has no vnet {vnet}: `ldm list -o network {domain}` shows its vnets"
        ),
    )
}

/// Who has `mac` on this host besides vnet `except` (`(domain, vnet)`):
/// a vnet of a domain, or an interface.
fn mac_user(t: &Table, host: &[(String, Mac)], mac: Mac, except: (&str, &str)) -> Option<String> {
    for dom in t.values() {
        for v in &dom.rec.spec.networks {
            if v.mac == mac && (dom.rec.spec.name.as_str(), v.name.as_str()) != except {
                return Some(format!("vnet {} of domain {}", v.name, dom.rec.spec.name));
            }
        }
    }
    host.iter()
        .find(|(_, m)| *m == mac)
        .map(|(n, _)| format!("interface {n} of this host"))
}

/// The MACs of this host's interfaces.
pub async fn host_macs(d: &Daemon) -> Result<Vec<(String, Mac)>> {
    let links = d
        .net
        .links()
        .await
        .map_err(|e| refuse(ErrorKind::Internal, e))?;
    Ok(links
        .into_iter()
        .filter_map(|l| l.mac.map(|m| (l.name, m)))
        .collect())
}

/// A MAC in ldm's range that nothing on this host has.
fn assign_mac(t: &Table, host: &[(String, Mac)]) -> Result<Mac> {
    for _ in 0..64 {
        let m = Mac::from_ldm_range(rand::random::<u32>() & 0x00ff_ffff);
        if m.is_unicast() && mac_user(t, host, m, ("", "")).is_none() {
            return Ok(m);
        }
    }
    Err(refuse(
        ErrorKind::Resources,
        "no free MAC address found in ldm's range: give one with mac-addr=",
    ))
}

fn check_mac(t: &Table, host: &[(String, Mac)], mac: Mac, who: (&str, &str)) -> Result<()> {
    if !mac.is_unicast() {
        return Err(bad(format!(
            "{mac} is not a unicast MAC address: a device needs one whose first byte is even, e.g. 02:4c:44:00:00:01"
        )));
    }
    if let Some(u) = mac_user(t, host, mac, who) {
        return Err(refuse(
            ErrorKind::Exists,
            format!("MAC address {mac} is already used by {u}: choose another, or leave mac-addr= out to get one assigned"),
        ));
    }
    Ok(())
}

/// Checks the vnets of a whole definition of `domain` (`add-domain -i`,
/// `set-domain -i`) as add-vnet checks each: names, count, MTUs, switches
/// that exist, unicast MACs no other domain's vnet or host interface has.
pub(crate) fn check_specs(
    d: &Daemon,
    t: &Table,
    host: &[(String, Mac)],
    domain: &str,
    vnets: &[VnetSpec],
) -> Result<()> {
    if vnets.len() > MAX_VNETS {
        return Err(refuse(
            ErrorKind::Resources,
            format!(
                "{} vnets: a domain may have at most {MAX_VNETS}",
                vnets.len()
            ),
        ));
    }
    for (i, v) in vnets.iter().enumerate() {
        check_net_name("vnet", &v.name).map_err(bad)?;
        if vnets[..i].iter().any(|o| o.name == v.name) {
            return Err(bad(format!("the vnet name {} appears twice", v.name)));
        }
        if vnets[..i].iter().any(|o| o.mac == v.mac) {
            return Err(bad(format!("the MAC address {} appears twice", v.mac)));
        }
        if let Some(m) = v.mtu {
            check_mtu(m).map_err(bad)?;
        }
        if d.db.vsw(&v.switch)?.is_none() {
            return Err(no_vsw(&v.switch));
        }
        check_mac(t, host, v.mac, (domain, &v.name))?;
    }
    Ok(())
}

/// Commits `rec` for `domain`; when the domain is bound, syncs its taps
/// and, if they cannot be made, puts the record back.
async fn commit_and_sync(
    d: &Daemon,
    domain: &str,
    rec: DomainRecord,
    before: DomainRecord,
) -> Result<()> {
    let bound = rec.state != DomainState::Inactive;
    let switches: Vec<String> = rec.spec.networks.iter().map(|v| v.switch.clone()).collect();
    {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, domain)?;
        if dom.rec != before {
            return Err(refuse(
                ErrorKind::Busy,
                format!("domain {domain} changed meanwhile: try again"),
            ));
        }
        commit(&d.db, dom, rec)?;
    }
    if !bound {
        return Ok(());
    }
    let switches: Vec<&str> = switches.iter().map(String::as_str).collect();
    let Some(p) = net::sync(d).await.of_domain(domain, &switches) else {
        return Ok(());
    };
    {
        let mut t = d.table();
        if let Some(dom) = t.get_mut(domain) {
            commit(&d.db, dom, before)?;
        }
    }
    net::sync(d).await;
    Err(refuse(
        ErrorKind::State,
        format!("domain {domain}: {p}; nothing was changed"),
    ))
}

/// `add-vnet [mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN`
pub async fn add(
    d: &Daemon,
    name: &str,
    switch: &str,
    domain: &str,
    mac: Option<Mac>,
    mtu: Option<u32>,
) -> Result<()> {
    check_net_name("vnet", name).map_err(bad)?;
    if let Some(m) = mtu {
        check_mtu(m).map_err(bad)?;
    }
    let host = host_macs(d).await?;
    let (rec, before) = {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, domain)?;
        editable(domain, dom.rec.state)?;
        if dom.rec.spec.networks.iter().any(|v| v.name == name) {
            return Err(refuse(
                ErrorKind::Exists,
                format!("domain {domain} already has a vnet {name}: choose another name"),
            ));
        }
        if dom.rec.spec.networks.len() >= MAX_VNETS {
            return Err(refuse(
                ErrorKind::Resources,
                format!("domain {domain} has {MAX_VNETS} vnets, the most a domain may have"),
            ));
        }
        let before = dom.rec.clone();
        if d.db.vsw(switch)?.is_none() {
            return Err(no_vsw(switch));
        }
        let mac = match mac {
            Some(m) => {
                check_mac(&t, &host, m, (domain, name))?;
                m
            }
            None => assign_mac(&t, &host)?,
        };
        let mut rec = before.clone();
        rec.spec.networks.push(VnetSpec {
            name: name.into(),
            switch: switch.into(),
            mac,
            mtu,
        });
        (rec, before)
    };
    commit_and_sync(d, domain, rec, before).await?;
    tracing::info!(domain, vnet = name, switch, "vnet added");
    Ok(())
}

/// `set-vnet [mac-addr=MAC] [mtu=[N]] [switch=SWITCH] NET DOMAIN`
pub async fn set(
    d: &Daemon,
    name: &str,
    domain: &str,
    switch: Option<String>,
    mac: Option<Mac>,
    mtu: Option<Option<u32>>,
) -> Result<()> {
    if let Some(Some(m)) = mtu {
        check_mtu(m).map_err(bad)?;
    }
    let host = match mac {
        Some(_) => host_macs(d).await?,
        None => Vec::new(),
    };
    let (rec, before) = {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, domain)?;
        editable(domain, dom.rec.state)?;
        let before = dom.rec.clone();
        let mut rec = before.clone();
        let v = rec
            .spec
            .networks
            .iter_mut()
            .find(|v| v.name == name)
            .ok_or_else(|| no_vnet(name, domain))?;
        if let Some(s) = switch {
            if d.db.vsw(&s)?.is_none() {
                return Err(no_vsw(&s));
            }
            v.switch = s;
        }
        if let Some(m) = mac {
            check_mac(&t, &host, m, (domain, name))?;
            v.mac = m;
        }
        if let Some(m) = mtu {
            v.mtu = m;
        }
        (rec, before)
    };
    commit_and_sync(d, domain, rec, before).await
}

/// `remove-vnet NET DOMAIN`
pub async fn remove(d: &Daemon, name: &str, domain: &str) -> Result<()> {
    let bound = {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, domain)?;
        editable(domain, dom.rec.state)?;
        let mut rec = dom.rec.clone();
        let before = rec.spec.networks.len();
        rec.spec.networks.retain(|v| v.name != name);
        if rec.spec.networks.len() == before {
            return Err(no_vnet(name, domain));
        }
        let bound = rec.state != DomainState::Inactive;
        commit(&d.db, dom, rec)?;
        bound
    };
    if bound {
        net::sync(d).await;
    }
    tracing::info!(domain, vnet = name, "vnet removed");
    Ok(())
}

/// A domain's vnets as `ldm list` shows them.
pub fn views(dom: &Domain, vsws: &[VswRow], owner: &Owner) -> Vec<VnetView> {
    let bound = dom.rec.state.holds_resources() && dom.rec.binding.is_some();
    dom.rec
        .spec
        .networks
        .iter()
        .zip(0u32..)
        .map(|(v, id)| VnetView {
            name: v.name.clone(),
            switch: v.switch.clone(),
            mac: v.mac,
            mtu: vnet_mtu(v, vsws),
            id,
            tap: bound.then(|| owner.tap(&dom.rec.spec.uuid, &v.name)),
        })
        .collect()
}

/// QEMU's view of the vnets of `rec` on this host, in the domain's
/// order: a virtio-net device with the vnet's MAC on its tap.
pub fn nic_configs(d: &Daemon, rec: &DomainRecord) -> Result<Vec<ldm_qemu::NicConfig>> {
    let vsws = d.db.vsws()?;
    Ok(rec
        .spec
        .networks
        .iter()
        .map(|v| ldm_qemu::NicConfig {
            ifname: d.net.owner.tap(&rec.spec.uuid, &v.name),
            mac: v.mac.to_string(),
            mtu: Some(vnet_mtu(v, &vsws)),
        })
        .collect())
}

/// Checks, for bind, that each vnet's switch exists on this host.
pub fn check_switches(d: &Daemon, rec: &DomainRecord) -> Result<()> {
    let vsws = d.db.vsws()?;
    for v in &rec.spec.networks {
        if !vsws.iter().any(|s| s.name == v.switch) {
            return Err(refuse(
                ErrorKind::State,
                format!(
                    "vnet {} of domain {} is on virtual switch {}, which does not exist on this host: add it with `ldm add-vsw {} primary`",
                    v.name, rec.spec.name, v.switch, v.switch
                ),
            ));
        }
    }
    Ok(())
}

/// Makes the taps of a bound domain; on failure says which and why.
pub async fn ensure_taps(d: &Daemon, rec: &DomainRecord) -> Result<()> {
    if rec.spec.networks.is_empty() {
        return Ok(());
    }
    let domain = &rec.spec.name;
    let switches: Vec<&str> = rec
        .spec
        .networks
        .iter()
        .map(|v| v.switch.as_str())
        .collect();
    match net::sync(d).await.of_domain(domain, &switches) {
        None => Ok(()),
        Some(p) => Err(refuse(ErrorKind::State, format!("domain {domain}: {p}"))),
    }
}

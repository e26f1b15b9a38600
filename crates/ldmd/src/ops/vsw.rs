//! Virtual switches: add-vsw, set-vsw, remove-vsw, and the VSW part of
//! list-services. A switch is a row of the database and a bridge on the
//! host; a change that the host cannot carry out (an uplink that vanished
//! or belongs to another bridge) is undone, so it changes nothing.

use crate::daemon::{Daemon, Table};
use crate::db_network::VswRow;
use crate::error::{refuse, Error, Result};
use crate::net::{self, links::Link, names::is_ldm_name};
use ldm_api::network::{check_mtu, check_net_name, Mac, VswView, MTU_DEFAULT};
use ldm_api::ErrorKind;

fn bad(m: String) -> Error {
    refuse(ErrorKind::BadRequest, m)
}

/// The error for a switch that does not exist.
pub fn no_vsw(name: &str) -> Error {
    refuse(
        ErrorKind::NotFound,
        format!("virtual switch {name} does not exist: add it with `ldm add-vsw {name} primary` (`ldm list-services` lists the switches)"),
    )
}

/// The vnets plugged into `vsw`: `(domain, vnet)`.
pub fn users(t: &Table, vsw: &str) -> Vec<(String, String)> {
    t.values()
        .flat_map(|dom| {
            dom.rec
                .spec
                .networks
                .iter()
                .filter(|v| v.switch == vsw)
                .map(|v| (dom.rec.spec.name.clone(), v.name.clone()))
        })
        .collect()
}

fn check_mac(m: Option<Mac>) -> Result<()> {
    match m {
        Some(m) if !m.is_unicast() => Err(bad(format!(
            "{m} is not a unicast MAC address: a device needs one whose first byte is even, e.g. 02:4c:44:00:00:01"
        ))),
        _ => Ok(()),
    }
}

/// Checks that `dev` can be the uplink of `vsw`: it exists, is not one of
/// ldm's links, belongs to no bridge and is no other switch's uplink.
async fn check_net_dev(d: &Daemon, vsw: &str, dev: &str) -> Result<()> {
    if let Some(other) =
        d.db.vsws()?
            .into_iter()
            .find(|s| s.name != vsw && s.net_dev.as_deref() == Some(dev))
    {
        return Err(refuse(
            ErrorKind::Exists,
            format!("net-dev {dev} is already the uplink of virtual switch {}: one interface serves one switch", other.name),
        ));
    }
    let links = d
        .net
        .links()
        .await
        .map_err(|e| refuse(ErrorKind::Internal, e))?;
    let find = |n: &str| links.iter().find(|l: &&Link| l.name == n);
    let l = find(dev).ok_or_else(|| {
        refuse(
            ErrorKind::NotFound,
            format!("net-dev {dev} does not exist on this host: `ip link` lists the interfaces"),
        )
    })?;
    if is_ldm_name(dev) || l.kind.as_deref() == Some("bridge") || dev == "lo" {
        return Err(bad(format!(
            "{dev} cannot be an uplink: use a physical interface, a veth or a bond, not a bridge, a tap of ldm or the loopback"
        )));
    }
    let mine = d.net.owner.bridge(vsw);
    if let Some(m) = l.master {
        let master = links.iter().find(|o| o.index == m);
        if master.is_none_or(|o| o.name != mine) {
            let owner = master.map(|o| o.name.clone()).unwrap_or(m.to_string());
            return Err(refuse(
                ErrorKind::Exists,
                format!("net-dev {dev} already belongs to {owner}: take it out there first (`ip link set {dev} nomaster`) or choose another interface"),
            ));
        }
    }
    Ok(())
}

/// Writes `row` (or removes the switch when `None`), syncs the host, and
/// puts `before` back if the host could not carry the switch out.
async fn apply(
    d: &Daemon,
    name: &str,
    row: Option<&VswRow>,
    before: Option<&VswRow>,
) -> Result<()> {
    match row {
        Some(r) => d.db.put_vsw(r)?,
        None => d.db.delete_vsw(name)?,
    }
    let report = net::sync(d).await;
    let problem = report
        .general
        .clone()
        .or_else(|| report.vsw.get(name).cloned());
    let Some(p) = problem.filter(|_| row.is_some()) else {
        return Ok(());
    };
    match before {
        Some(b) => d.db.put_vsw(b)?,
        None => d.db.delete_vsw(name)?,
    }
    net::sync(d).await;
    Err(refuse(
        ErrorKind::State,
        format!("virtual switch {name}: {p}; nothing was changed"),
    ))
}

/// `add-vsw [net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary`
pub async fn add(
    d: &Daemon,
    name: &str,
    net_dev: Option<String>,
    mtu: Option<u32>,
    mac: Option<Mac>,
) -> Result<()> {
    check_net_name("switch", name).map_err(bad)?;
    let mtu = mtu.unwrap_or(MTU_DEFAULT);
    check_mtu(mtu).map_err(bad)?;
    check_mac(mac)?;
    {
        let _t = d.table();
        let taken = d.db.vsw(name)?.is_some()
            || d.db.vdss()?.iter().any(|v| v == name)
            || d.db.vccs()?.iter().any(|v| v.name == name);
        if taken {
            return Err(refuse(
                ErrorKind::Exists,
                format!("a service named {name} already exists: `ldm list-services` shows it; choose another name"),
            ));
        }
    }
    if let Some(dev) = &net_dev {
        check_net_dev(d, name, dev).await?;
    }
    let row = VswRow {
        name: name.into(),
        net_dev,
        mtu,
        mac,
    };
    apply(d, name, Some(&row), None).await?;
    tracing::info!(vsw = name, bridge = %d.net.owner.bridge(name), "virtual switch added");
    Ok(())
}

/// `set-vsw [net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH`
pub async fn set(
    d: &Daemon,
    name: &str,
    net_dev: Option<Option<String>>,
    mtu: Option<u32>,
    mac: Option<Option<Mac>>,
) -> Result<()> {
    let before = d.db.vsw(name)?.ok_or_else(|| no_vsw(name))?;
    if let Some(m) = mtu {
        check_mtu(m).map_err(bad)?;
    }
    check_mac(mac.flatten())?;
    if let Some(Some(dev)) = &net_dev {
        check_net_dev(d, name, dev).await?;
    }
    let row = VswRow {
        name: name.into(),
        net_dev: net_dev.unwrap_or_else(|| before.net_dev.clone()),
        mtu: mtu.unwrap_or(before.mtu),
        mac: mac.unwrap_or(before.mac),
    };
    apply(d, name, Some(&row), Some(&before)).await
}

/// `remove-vsw SWITCH`
pub async fn remove(d: &Daemon, name: &str) -> Result<()> {
    {
        let t = d.table();
        if d.db.vsw(name)?.is_none() {
            return Err(no_vsw(name));
        }
        let u = users(&t, name);
        if !u.is_empty() {
            let list: Vec<String> = u.iter().map(|(dom, v)| format!("{v} of {dom}")).collect();
            return Err(refuse(
                ErrorKind::State,
                format!(
                    "virtual switch {name} is in use by vnet {}: remove them first with `ldm remove-vnet NET DOMAIN`",
                    list.join(", ")
                ),
            ));
        }
        d.db.delete_vsw(name)?;
    }
    net::sync(d).await;
    tracing::info!(vsw = name, "virtual switch removed");
    Ok(())
}

/// The VSW part of `list-services`.
pub async fn list(d: &Daemon) -> Result<Vec<VswView>> {
    let rows = d.db.vsws()?;
    let report = d.net.last_report();
    let t = d.table();
    Ok(rows
        .into_iter()
        .map(|r| VswView {
            bridge: d.net.owner.bridge(&r.name),
            problem: report
                .general
                .clone()
                .or_else(|| report.vsw.get(&r.name).cloned()),
            used_by: users(&t, &r.name),
            name: r.name,
            ldom: "primary".into(),
            net_dev: r.net_dev,
            mtu: r.mtu,
            mac: r.mac,
        })
        .collect())
}

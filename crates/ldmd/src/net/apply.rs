//! Making the namespace's links match a [`Plan`]: missing bridges and taps
//! are made, existing ones corrected (bridge, MTU, address, up), uplinks
//! enslaved or released, and links this ldmd made that the plan no longer
//! has are deleted. Runs on the network thread; each problem is reported
//! against the switch or vnet it concerns and the rest goes on.

use super::links::{self, Change, Link};
use super::names::{is_ldm_name, Owner};
use super::plan::{BridgeWant, Plan, TapWant};
use super::tap;
use rtnetlink::Handle;
use std::collections::BTreeMap;

/// What did not work, per switch and per `(domain, vnet)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems of switches, by name.
    pub vsw: BTreeMap<String, String>,
    /// Problems of vnets, by `(domain, vnet)`.
    pub vnet: BTreeMap<(String, String), String>,
    /// A problem with the network as a whole (netlink unusable).
    pub general: Option<String>,
}

impl Report {
    /// The problems of a domain's vnets and of the switches they are on
    /// (`switches`), if any, as one message.
    pub fn of_domain(&self, domain: &str, switches: &[&str]) -> Option<String> {
        let p: Vec<String> = self
            .general
            .iter()
            .cloned()
            .chain(
                self.vsw
                    .iter()
                    .filter(|(s, _)| switches.contains(&s.as_str()))
                    .map(|(s, m)| format!("virtual switch {s}: {m}")),
            )
            .chain(
                self.vnet
                    .iter()
                    .filter(|((d, _), _)| d == domain)
                    .map(|((_, v), m)| format!("vnet {v}: {m}")),
            )
            .collect();
        (!p.is_empty()).then(|| p.join("; "))
    }
}

fn find<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

/// Makes the links match `plan`.
pub async fn apply(h: &Handle, owner: &Owner, plan: &Plan) -> Report {
    let mut r = Report::default();
    if let Err(e) = apply_all(h, owner, plan, &mut r).await {
        r.general = Some(e);
    }
    r
}

async fn apply_all(h: &Handle, owner: &Owner, plan: &Plan, r: &mut Report) -> Result<(), String> {
    for b in &plan.bridges {
        if let Err(e) = bridge(h, b).await {
            r.vsw.insert(b.vsw.clone(), e);
        }
    }
    for t in &plan.taps {
        if let Err(e) = tap_link(h, t).await {
            r.vnet.insert((t.domain.clone(), t.vnet.clone()), e);
        }
    }
    let links = links::list(h).await?;
    let stale = |tap: bool| {
        links
            .iter()
            .filter(move |l| owner.made(&l.name, l.alias.as_deref()) && !plan.wants(&l.name))
            .filter(move |l| l.name.starts_with(super::names::TAP_PREFIX) == tap)
    };
    // Taps before the bridges they belong to.
    for l in stale(true).chain(stale(false)) {
        match links::delete(h, l).await {
            Ok(()) => tracing::info!(link = %l.name, "stale network link deleted"),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    Ok(())
}

async fn bridge(h: &Handle, b: &BridgeWant) -> Result<(), String> {
    let mut links = links::list(h).await?;
    match find(&links, &b.ifname) {
        None => {
            links::add_bridge(h, &b.ifname, b.mtu, b.mac, &b.alias).await?;
            tracing::info!(bridge = %b.ifname, vsw = %b.vsw, "bridge created");
            links = links::list(h).await?;
        }
        Some(l) => {
            let c = Change {
                mtu: (l.mtu != b.mtu).then_some(b.mtu),
                mac: b.mac.filter(|m| l.mac != Some(*m)),
                alias: (l.alias.as_deref() != Some(&b.alias)).then(|| b.alias.clone()),
                up: !l.up,
                master: None,
            };
            if c.mtu.is_some() || c.mac.is_some() || c.alias.is_some() || c.up {
                links::change(h, l, c).await?;
            }
        }
    }
    let br = find(&links, &b.ifname)
        .ok_or_else(|| format!("bridge {} vanished while it was made", b.ifname))?
        .clone();
    // Ports that are neither ldm's taps nor the uplink leave the bridge
    // (an uplink replaced or removed by set-vsw).
    for l in links.iter().filter(|l| l.master == Some(br.index)) {
        if !is_ldm_name(&l.name) && Some(&l.name) != b.net_dev.as_ref() {
            let c = Change {
                master: Some(None),
                ..Default::default()
            };
            links::change(h, l, c).await?;
        }
    }
    if let Some(dev) = &b.net_dev {
        uplink(h, b, &br, &links, dev).await?;
    }
    // Enslaving a port may lower a bridge's MTU until one is set on it.
    let links = links::list(h).await?;
    if let Some(l) = find(&links, &b.ifname).filter(|l| l.mtu != b.mtu) {
        let c = Change {
            mtu: Some(b.mtu),
            ..Default::default()
        };
        links::change(h, l, c).await?;
    }
    Ok(())
}

async fn uplink(
    h: &Handle,
    b: &BridgeWant,
    br: &Link,
    links: &[Link],
    dev: &str,
) -> Result<(), String> {
    let l = find(links, dev).ok_or_else(|| {
        format!("its net-dev {dev} does not exist on this host: `ip link` lists the interfaces; change it with `ldm set-vsw net-dev=IFACE {}`", b.vsw)
    })?;
    match l.master {
        Some(m) if m != br.index => {
            let owner = links
                .iter()
                .find(|o| o.index == m)
                .map(|o| o.name.clone())
                .unwrap_or_else(|| m.to_string());
            Err(format!("its net-dev {dev} already belongs to {owner}: take it out there first or choose another with `ldm set-vsw net-dev=IFACE {}`", b.vsw))
        }
        Some(_) if l.up => Ok(()),
        _ => {
            let c = Change {
                master: (l.master.is_none()).then_some(Some(br.index)),
                up: true,
                ..Default::default()
            };
            links::change(h, l, c).await
        }
    }
}

async fn tap_link(h: &Handle, t: &TapWant) -> Result<(), String> {
    let Some(bridge) = &t.bridge else {
        return Err(format!(
            "virtual switch {} does not exist: add it with `ldm add-vsw {} primary`",
            t.vsw, t.vsw
        ));
    };
    let mut links = links::list(h).await?;
    if find(&links, &t.ifname).is_none() {
        tap::create(&t.ifname).map_err(|e| format!("cannot create tap {}: {e}", t.ifname))?;
        tracing::info!(tap = %t.ifname, domain = %t.domain, vnet = %t.vnet, "tap created");
        links = links::list(h).await?;
    }
    let br = find(&links, bridge)
        .ok_or_else(|| format!("the bridge {bridge} of switch {} is missing", t.vsw))?;
    let l = find(&links, &t.ifname)
        .ok_or_else(|| format!("tap {} vanished while it was made", t.ifname))?;
    let c = Change {
        master: (l.master != Some(br.index)).then_some(Some(br.index)),
        mtu: (l.mtu != t.mtu).then_some(t.mtu),
        mac: (l.mac != Some(t.mac)).then_some(t.mac),
        alias: (l.alias.as_deref() != Some(&t.alias)).then(|| t.alias.clone()),
        up: !l.up,
    };
    if c.master.is_some() || c.mtu.is_some() || c.mac.is_some() || c.alias.is_some() || c.up {
        links::change(h, l, c).await?;
    }
    Ok(())
}

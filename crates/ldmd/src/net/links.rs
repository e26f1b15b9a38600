//! The links of a network namespace over rtnetlink: listing them, making
//! bridges, and changing a link's bridge, MTU, address, alias and state.

use futures::TryStreamExt;
use ldm_api::network::Mac;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec};

/// One link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Alias, if set.
    pub alias: Option<String>,
    /// Kind (`bridge`, `tun`, `veth`, …), if it has one.
    pub kind: Option<String>,
    /// Index of the bridge (or other controller) it belongs to.
    pub master: Option<u32>,
    /// MTU.
    pub mtu: u32,
    /// Hardware address.
    pub mac: Option<Mac>,
    /// Administratively up.
    pub up: bool,
}

fn from_message(m: LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        alias: None,
        kind: None,
        master: None,
        mtu: 0,
        mac: None,
        up: m.header.flags.contains(LinkFlags::Up),
    };
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n,
            LinkAttribute::IfAlias(a) => l.alias = Some(a),
            LinkAttribute::Controller(i) => l.master = Some(i),
            LinkAttribute::Mtu(m) => l.mtu = m,
            LinkAttribute::Address(b) => l.mac = <[u8; 6]>::try_from(b.as_slice()).ok().map(Mac),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(kind_name(&k));
                    }
                }
            }
            _ => {}
        }
    }
    l
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Tun => "tun".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn err(what: String, e: rtnetlink::Error) -> String {
    format!("{what}: {e}")
}

/// Every link of the namespace.
pub async fn list(h: &Handle) -> Result<Vec<Link>, String> {
    h.link()
        .get()
        .execute()
        .map_ok(from_message)
        .try_collect()
        .await
        .map_err(|e| err("cannot list the network interfaces".into(), e))
}

/// Makes bridge `name`, up, with `mtu`, `alias` and (if given) `mac`.
pub async fn add_bridge(
    h: &Handle,
    name: &str,
    mtu: u32,
    mac: Option<Mac>,
    alias: &str,
) -> Result<(), String> {
    let mut b = LinkBridge::new(name).mtu(mtu).alias(alias);
    if let Some(m) = mac {
        b = b.address(m.0.to_vec());
    }
    h.link()
        .add(b.build())
        .execute()
        .await
        .map_err(|e| err(format!("cannot create bridge {name}"), e))
}

/// What to change on an existing link.
#[derive(Debug, Default, Clone)]
pub struct Change {
    /// Put it into this bridge (`Some(None)`: take it out of any).
    pub master: Option<Option<u32>>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// New address.
    pub mac: Option<Mac>,
    /// New alias.
    pub alias: Option<String>,
    /// Bring it up.
    pub up: bool,
}

/// Applies `c` to link `l`.
pub async fn change(h: &Handle, l: &Link, c: Change) -> Result<(), String> {
    let mut b = LinkUnspec::new_with_index(l.index);
    match c.master {
        Some(Some(i)) => b = b.controller(i),
        Some(None) => b = b.nocontroller(),
        None => {}
    }
    if let Some(m) = c.mtu {
        b = b.mtu(m);
    }
    if let Some(m) = c.mac {
        b = b.address(m.0.to_vec());
    }
    if let Some(a) = c.alias {
        b = b.alias(a);
    }
    if c.up {
        b = b.up();
    }
    h.link()
        .set(b.build())
        .execute()
        .await
        .map_err(|e| err(format!("cannot change {}", l.name), e))
}

/// Deletes link `l`.
pub async fn delete(h: &Handle, l: &Link) -> Result<(), String> {
    h.link()
        .del(l.index)
        .execute()
        .await
        .map_err(|e| err(format!("cannot delete {}", l.name), e))
}

//! Virtual services: console concentrators.

use crate::daemon::Daemon;
use crate::db::VccRow;
use crate::error::{refuse, Result};
use ldm_api::service::VccView;
use ldm_api::ErrorKind;

/// `list-services`
pub async fn list(d: &Daemon) -> Result<Vec<VccView>> {
    let t = d.table();
    let rows = d.db.vccs()?;
    Ok(rows
        .into_iter()
        .map(|v| {
            let in_use = t
                .values()
                .filter_map(|dom| {
                    dom.rec
                        .binding
                        .as_ref()
                        .map(|b| (b.console_port, dom.rec.spec.name.clone()))
                })
                .filter(|(p, _)| (v.port_lo..=v.port_hi).contains(p))
                .collect();
            VccView {
                name: v.name,
                ldom: "primary".into(),
                port_lo: v.port_lo,
                port_hi: v.port_hi,
                address: d.cfg.console_addr.to_string(),
                in_use,
                access: ldm_api::service::VCC_ACCESS_ROLE.into(),
            }
        })
        .collect())
}

/// The lowest console port: those below belong to the system (ssh is 22).
pub const MIN_CONSOLE_PORT: u16 = 1024;

/// Checks a vcc's name and port range: a name like a domain's, ports from
/// [`MIN_CONSOLE_PORT`], and never ldmd's own peer port.
fn check_vcc(d: &Daemon, name: &str, lo: u16, hi: u16) -> Result<()> {
    ldm_api::domain::check_label("service", name, 64)
        .map_err(|e| refuse(ErrorKind::BadRequest, e))?;
    if lo < MIN_CONSOLE_PORT || hi < lo {
        return Err(refuse(
            ErrorKind::BadRequest,
            format!("port-range={lo}-{hi}: use ports from {MIN_CONSOLE_PORT} to 65535, the first no higher than the last"),
        ));
    }
    if let Some(peer) = d.cfg.listen {
        if (lo..=hi).contains(&peer.port()) {
            return Err(refuse(
                ErrorKind::BadRequest,
                format!(
                    "port-range={lo}-{hi} includes ldmd's own peer port {}: choose another range",
                    peer.port()
                ),
            ));
        }
    }
    Ok(())
}

fn check_overlap(rows: &[VccRow], name: &str, lo: u16, hi: u16) -> Result<()> {
    for r in rows.iter().filter(|r| r.name != name) {
        if lo <= r.port_hi && r.port_lo <= hi {
            return Err(refuse(
                ErrorKind::BadRequest,
                format!(
                    "ports {lo}-{hi} overlap those of {} ({}-{}): choose another range",
                    r.name, r.port_lo, r.port_hi
                ),
            ));
        }
    }
    Ok(())
}

/// `add-vcc`
pub async fn add(d: &Daemon, name: &str, lo: u16, hi: u16) -> Result<()> {
    check_vcc(d, name, lo, hi)?;
    let _t = d.table();
    let rows = d.db.vccs()?;
    if rows.iter().any(|r| r.name == name) {
        return Err(refuse(
            ErrorKind::Exists,
            format!("service {name} already exists: change it with `ldm set-vcc port-range={lo}-{hi} {name}`"),
        ));
    }
    check_overlap(&rows, name, lo, hi)?;
    d.db.put_vcc(&VccRow {
        name: name.into(),
        port_lo: lo,
        port_hi: hi,
    })
}

/// `set-vcc`
pub async fn set(d: &Daemon, name: &str, lo: u16, hi: u16) -> Result<()> {
    check_vcc(d, name, lo, hi)?;
    let t = d.table();
    let rows = d.db.vccs()?;
    let old = rows
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| no_such(name))?;
    check_overlap(&rows, name, lo, hi)?;
    let stranded: Vec<String> = t
        .values()
        .filter_map(|dom| {
            dom.rec
                .binding
                .as_ref()
                .map(|b| (b.console_port, &dom.rec.spec.name))
        })
        .filter(|(p, _)| (old.port_lo..=old.port_hi).contains(p) && !(lo..=hi).contains(p))
        .map(|(p, n)| format!("{n} ({p})"))
        .collect();
    if !stranded.is_empty() {
        return Err(refuse(
            ErrorKind::State,
            format!(
                "bound domains use ports outside the new range: {}; unbind them first",
                stranded.join(", ")
            ),
        ));
    }
    d.db.put_vcc(&VccRow {
        name: name.into(),
        port_lo: lo,
        port_hi: hi,
    })
}

/// `remove-vcc`
pub async fn remove(d: &Daemon, name: &str) -> Result<()> {
    let t = d.table();
    let rows = d.db.vccs()?;
    let old = rows
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| no_such(name))?;
    let users: Vec<&str> = t
        .values()
        .filter(|dom| {
            dom.rec
                .binding
                .as_ref()
                .is_some_and(|b| (old.port_lo..=old.port_hi).contains(&b.console_port))
        })
        .map(|dom| dom.rec.spec.name.as_str())
        .collect();
    if !users.is_empty() {
        return Err(refuse(
            ErrorKind::State,
            format!(
                "service {name} serves the consoles of {}: unbind them first",
                users.join(", ")
            ),
        ));
    }
    d.db.delete_vcc(name)
}

fn no_such(name: &str) -> crate::error::Error {
    refuse(
        ErrorKind::NotFound,
        format!("service {name} does not exist: `ldm list-services` shows the services"),
    )
}

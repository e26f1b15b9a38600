//! A domain's virtual disks: add-vdisk, set-vdisk, remove-vdisk, and the
//! check that every disk's volume can be opened when a domain is bound or
//! started. Disks change while a domain is inactive or bound; an active
//! domain is refused (stop it first), so a domain's device order is fixed
//! by its definition alone.

use super::storage::{no_volume, users};
use crate::backend::{probe, Backend};
use crate::daemon::{commit, get_mut_idle, Daemon};
use crate::db_storage::VdsdevRow;
use crate::error::{refuse, Error, Result};
use crate::record::DomainRecord;
use ldm_api::storage::{check_name, VdiskSpec};
use ldm_api::{DomainState, ErrorKind};

fn editable(name: &str, state: DomainState) -> Result<()> {
    match state {
        DomainState::Inactive | DomainState::Bound => Ok(()),
        s => Err(refuse(
            ErrorKind::State,
            format!("domain {name} is {s}: disks are added and removed while a domain is bound or inactive; stop it first with `ldm stop-domain {name}`"),
        )),
    }
}

/// Looks a volume up and opens its back end as the disk will.
pub(crate) fn usable_volume(d: &Daemon, volume: &str, service: &str) -> Result<VdsdevRow> {
    Ok(opened_volume(d, volume, service)?.0)
}

fn opened_volume(d: &Daemon, volume: &str, service: &str) -> Result<(VdsdevRow, Backend)> {
    let row =
        d.db.vdsdev(volume, service)?
            .ok_or_else(|| no_volume(volume, service))?;
    let b = probe(&row.backend, row.readonly)
        .map_err(|m| refuse(ErrorKind::State, format!("volume {volume}@{service}: {m}")))?;
    Ok((row, b))
}

pub(crate) fn taken_elsewhere(
    t: &crate::daemon::Table,
    domain: &str,
    disk: &str,
    k: &VdiskSpec,
) -> Result<()> {
    if let Some((dom, other, _)) = users(t, &k.volume, &k.service)
        .into_iter()
        .find(|(dom, name, _)| !(dom == domain && name == disk))
    {
        return Err(refuse(
            ErrorKind::Exists,
            format!(
                "volume {} is already disk {other} of domain {dom}: one volume serves one disk; to share a back end export it again with `ldm add-vdsdev -f BACKEND VOLUME@SERVICE`",
                k.volume_ref()
            ),
        ));
    }
    Ok(())
}

/// `add-vdisk DISK VOLUME@SERVICE DOMAIN`
pub async fn add(d: &Daemon, disk: &str, volume: &str, service: &str, domain: &str) -> Result<()> {
    check_name("disk", disk).map_err(|m| refuse(ErrorKind::BadRequest, m))?;
    let row = usable_volume(d, volume, service)?;
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, domain)?;
    editable(domain, dom.rec.state)?;
    if dom.rec.spec.disks.len() >= ldm_api::storage::MAX_DISKS {
        return Err(refuse(
            ErrorKind::Resources,
            format!(
                "domain {domain} has {} disks, the most a domain may have",
                ldm_api::storage::MAX_DISKS
            ),
        ));
    }
    if dom.rec.spec.disks.iter().any(|k| k.name == disk) {
        return Err(refuse(
            ErrorKind::Exists,
            format!("domain {domain} already has a disk {disk}: choose another disk name"),
        ));
    }
    let k = VdiskSpec {
        name: disk.into(),
        volume: volume.into(),
        service: service.into(),
    };
    let mut rec = dom.rec.clone();
    rec.spec.disks.push(k.clone());
    taken_elsewhere(&t, domain, disk, &k)?;
    still_same(d, &row)?;
    let dom = t.get_mut(domain).expect("looked up above");
    commit(&d.db, dom, rec)?;
    tracing::info!(domain, disk, volume, service, "disk added");
    Ok(())
}

/// `set-vdisk volume=VOLUME@SERVICE DISK DOMAIN`
pub async fn set(d: &Daemon, disk: &str, volume: &str, service: &str, domain: &str) -> Result<()> {
    let row = usable_volume(d, volume, service)?;
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, domain)?;
    editable(domain, dom.rec.state)?;
    let mut rec = dom.rec.clone();
    let k = rec
        .spec
        .disks
        .iter_mut()
        .find(|k| k.name == disk)
        .ok_or_else(|| no_disk(disk, domain))?;
    k.volume = volume.into();
    k.service = service.into();
    let k = k.clone();
    taken_elsewhere(&t, domain, disk, &k)?;
    still_same(d, &row)?;
    let dom = t.get_mut(domain).expect("looked up above");
    commit(&d.db, dom, rec)
}

/// `remove-vdisk DISK DOMAIN`
pub async fn remove(d: &Daemon, disk: &str, domain: &str) -> Result<()> {
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, domain)?;
    editable(domain, dom.rec.state)?;
    let mut rec = dom.rec.clone();
    let before = rec.spec.disks.len();
    rec.spec.disks.retain(|k| k.name != disk);
    if rec.spec.disks.len() == before {
        return Err(no_disk(disk, domain));
    }
    commit(&d.db, dom, rec)?;
    tracing::info!(domain, disk, "disk removed");
    Ok(())
}

fn no_disk(disk: &str, domain: &str) -> Error {
    refuse(
        ErrorKind::NotFound,
        format!("domain {domain} has no disk {disk}: `ldm list -o disk {domain}` shows its disks"),
    )
}

/// The volume was not changed or removed between its check and the
/// change that relies on it (both under the table's lock from here on).
fn still_same(d: &Daemon, row: &VdsdevRow) -> Result<()> {
    if d.db.vdsdev(&row.volume, &row.service)?.as_ref() != Some(row) {
        return Err(refuse(
            ErrorKind::Busy,
            format!(
                "volume {}@{} changed meanwhile: try again",
                row.volume, row.service
            ),
        ));
    }
    Ok(())
}

/// QEMU's view of the disks of `rec` on this host, in the domain's order.
pub fn disk_configs(d: &Daemon, rec: &DomainRecord) -> Result<Vec<ldm_qemu::DiskConfig>> {
    Ok(resolve(d, rec)?
        .into_iter()
        .map(|(k, row, b)| ldm_qemu::DiskConfig {
            serial: k.name,
            path: row.backend.into(),
            block_device: b.kind == ldm_api::storage::BackendKind::Block,
            format: b.format.as_str().into(),
            read_only: row.readonly,
        })
        .collect())
}

/// Every disk of `rec` with its volume on this host; each back end must
/// open as the disk will use it. For bind and start.
pub fn resolve(d: &Daemon, rec: &DomainRecord) -> Result<Vec<(VdiskSpec, VdsdevRow, Backend)>> {
    rec.spec
        .disks
        .iter()
        .map(|k| {
            let (row, b) = opened_volume(d, &k.volume, &k.service).map_err(|e| {
                refuse(
                    ErrorKind::State,
                    format!("disk {} of domain {}: {e}", k.name, rec.spec.name),
                )
            })?;
            Ok((k.clone(), row, b))
        })
        .collect()
}

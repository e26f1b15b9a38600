//! Virtual disk services and their volumes: add-vds, remove-vds,
//! add-vdsdev, set-vdsdev, remove-vdsdev, and what list-services shows.

use crate::backend::{identity, probe};
use crate::daemon::{Daemon, Table};
use crate::db_storage::VdsdevRow;
use crate::error::{refuse, Error, Result};
use ldm_api::storage::{check_name, VdsView, VolumeView};
use ldm_api::{DomainState, ErrorKind};

fn bad(m: String) -> Error {
    refuse(ErrorKind::BadRequest, m)
}

/// The disks that use `volume@service`: `(domain, disk, domain state)`.
pub fn users(t: &Table, volume: &str, service: &str) -> Vec<(String, String, DomainState)> {
    t.values()
        .flat_map(|dom| {
            dom.rec
                .spec
                .disks
                .iter()
                .filter(|k| k.volume == volume && k.service == service)
                .map(|k| (dom.rec.spec.name.clone(), k.name.clone(), dom.rec.state))
        })
        .collect()
}

fn no_vds(name: &str) -> Error {
    refuse(
        ErrorKind::NotFound,
        format!(
            "virtual disk service {name} does not exist: add it with `ldm add-vds {name} primary`"
        ),
    )
}

/// The error for a volume that is not exported.
pub fn no_volume(volume: &str, service: &str) -> Error {
    refuse(
        ErrorKind::NotFound,
        format!("volume {volume}@{service} does not exist: export a back end with `ldm add-vdsdev BACKEND {volume}@{service}`"),
    )
}

/// `add-vds`
pub async fn add_vds(d: &Daemon, name: &str) -> Result<()> {
    check_name("service", name).map_err(bad)?;
    let _t = d.table();
    if d.db.vdss()?.iter().any(|v| v == name) {
        return Err(refuse(
            ErrorKind::Exists,
            format!("virtual disk service {name} already exists: `ldm list-services` shows it"),
        ));
    }
    if d.db.vccs()?.iter().any(|v| v.name == name) {
        return Err(refuse(
            ErrorKind::Exists,
            format!("{name} is already the name of a console concentrator: choose another"),
        ));
    }
    d.db.put_vds(name)?;
    tracing::info!(service = name, "vds added");
    Ok(())
}

/// `remove-vds`
pub async fn remove_vds(d: &Daemon, name: &str) -> Result<()> {
    let _t = d.table();
    if !d.db.vdss()?.iter().any(|v| v == name) {
        return Err(no_vds(name));
    }
    let vols: Vec<String> =
        d.db.vdsdevs()?
            .into_iter()
            .filter(|v| v.service == name)
            .map(|v| format!("{}@{name}", v.volume))
            .collect();
    if !vols.is_empty() {
        return Err(refuse(
            ErrorKind::State,
            format!(
                "virtual disk service {name} still exports {}: remove them first with `ldm remove-vdsdev VOLUME@{name}`",
                vols.join(", ")
            ),
        ));
    }
    d.db.delete_vds(name)?;
    tracing::info!(service = name, "vds removed");
    Ok(())
}

/// The `options=` of `add-vdsdev`.
#[derive(Debug, Clone, Copy, Default)]
pub struct VdsdevOptions {
    /// `ro`: the domain's disk is read-only.
    pub readonly: bool,
    /// `create`: the back end does not exist yet; a `--copy-storage`
    /// migration to this host creates it.
    pub create: bool,
}

/// Checks a back end to export: one that exists opens as QEMU will open
/// it; with `create`, one that does not exist yet could be created.
fn check_backend(backend: &str, o: VdsdevOptions) -> Result<()> {
    if !o.create {
        return probe(backend, o.readonly).map(drop).map_err(bad);
    }
    if o.readonly {
        return Err(bad(format!(
            "options=create and options=ro exclude each other: the migration that creates {backend} must write it"
        )));
    }
    if !std::path::Path::new(backend).is_absolute() {
        return Err(bad(format!("back end {backend}: give an absolute path")));
    }
    if std::fs::symlink_metadata(backend).is_ok() {
        return Err(refuse(
            ErrorKind::Exists,
            format!("back end {backend} already exists: export it without options=create"),
        ));
    }
    crate::migration::copy_volumes::creatable(backend).map_err(bad)
}

/// `add-vdsdev [-f] [options=ro|create] BACKEND VOLUME@SERVICE`
pub async fn add_vdsdev(
    d: &Daemon,
    force: bool,
    opts: VdsdevOptions,
    backend: &str,
    volume: &str,
    service: &str,
) -> Result<()> {
    check_name("volume", volume).map_err(bad)?;
    check_name("service", service).map_err(bad)?;
    check_backend(backend, opts)?;
    let readonly = opts.readonly;
    let id = identity(backend);
    let _t = d.table();
    if !d.db.vdss()?.iter().any(|v| v == service) {
        return Err(no_vds(service));
    }
    let rows = d.db.vdsdevs()?;
    if let Some(r) = rows
        .iter()
        .find(|r| r.service == service && r.volume == volume)
    {
        return Err(refuse(
            ErrorKind::Exists,
            format!(
                "volume {volume}@{service} already exists (back end {}): choose another volume name or remove it with `ldm remove-vdsdev {volume}@{service}`",
                r.backend
            ),
        ));
    }
    let twice = rows
        .iter()
        .find(|r| r.backend == backend || (id.is_some() && identity(&r.backend) == id));
    if let (Some(r), false) = (twice, force) {
        return Err(refuse(
            ErrorKind::Exists,
            format!(
                "back end {backend} is already exported as {}@{}: add -f to export it again (two domains writing one disk corrupt it)",
                r.volume, r.service
            ),
        ));
    }
    d.db.put_vdsdev(&VdsdevRow {
        service: service.into(),
        volume: volume.into(),
        backend: backend.into(),
        readonly,
    })?;
    tracing::info!(
        volume,
        service,
        backend,
        readonly,
        opts.create,
        "volume exported"
    );
    Ok(())
}

/// `set-vdsdev options=[ro] VOLUME@SERVICE`
pub async fn set_vdsdev(d: &Daemon, readonly: bool, volume: &str, service: &str) -> Result<()> {
    let row =
        d.db.vdsdev(volume, service)?
            .ok_or_else(|| no_volume(volume, service))?;
    probe(&row.backend, readonly).map_err(bad)?;
    let t = d.table();
    let busy: Vec<String> = users(&t, volume, service)
        .into_iter()
        .filter(|(_, _, s)| *s != DomainState::Inactive)
        .map(|(dom, disk, s)| format!("disk {disk} of {dom} ({s})"))
        .collect();
    if !busy.is_empty() {
        return Err(refuse(
            ErrorKind::State,
            format!(
                "volume {volume}@{service} is in use by {}: stop and unbind the domain first",
                busy.join(", ")
            ),
        ));
    }
    if d.db.vdsdev(volume, service)?.as_ref() != Some(&row) {
        return Err(refuse(
            ErrorKind::Busy,
            format!("volume {volume}@{service} changed meanwhile: try again"),
        ));
    }
    d.db.put_vdsdev(&VdsdevRow { readonly, ..row })
}

/// `remove-vdsdev VOLUME@SERVICE`
pub async fn remove_vdsdev(d: &Daemon, volume: &str, service: &str) -> Result<()> {
    let t = d.table();
    if d.db.vdsdev(volume, service)?.is_none() {
        return Err(no_volume(volume, service));
    }
    if let Some((dom, disk, state)) = users(&t, volume, service).into_iter().next() {
        return Err(refuse(
            ErrorKind::State,
            format!(
                "volume {volume}@{service} is disk {disk} of domain {dom} ({state}): remove the disk first with `ldm remove-vdisk {disk} {dom}`"
            ),
        ));
    }
    d.db.delete_vdsdev(volume, service)?;
    tracing::info!(volume, service, "volume removed");
    Ok(())
}

/// The vds part of `list-services`.
pub async fn list(d: &Daemon) -> Result<Vec<VdsView>> {
    let names = d.db.vdss()?;
    let rows = d.db.vdsdevs()?;
    let probed: Vec<_> = rows.iter().map(|r| probe(&r.backend, r.readonly)).collect();
    let t = d.table();
    Ok(names
        .into_iter()
        .map(|name| VdsView {
            volumes: rows
                .iter()
                .zip(&probed)
                .filter(|(r, _)| r.service == name)
                .map(|(r, p)| VolumeView {
                    name: r.volume.clone(),
                    readonly: r.readonly,
                    backend: r.backend.clone(),
                    kind: p.as_ref().ok().map(|b| b.kind),
                    format: p.as_ref().ok().map(|b| b.format),
                    size_bytes: p.as_ref().ok().map(|b| b.size_bytes),
                    problem: p.as_ref().err().cloned(),
                    used_by: users(&t, &r.volume, &r.service)
                        .into_iter()
                        .map(|(dom, disk, _)| (dom, disk))
                        .collect(),
                })
                .collect(),
            name,
            ldom: "primary".into(),
        })
        .collect())
}

//! Defining domains: add, remove, set-domain, vCPUs, memory, variables.

use crate::access::{readable_by, Who};
use crate::daemon::{commit, get_mut_idle, Daemon};
use crate::error::{refuse, Result};
use crate::record::DomainRecord;
use crate::resources::check_fit;
use ldm_api::domain::check_domain_name;
use ldm_api::limits;
use ldm_api::state::Transition;
use ldm_api::{CpuArch, DomainSpec, DomainState, ErrorKind, ResourceChange};
use std::path::Path;

/// vCPUs of a new domain.
pub const DEFAULT_VCPUS: u32 = 1;
/// Memory of a new domain, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 512;
/// The least memory a domain may have, MiB.
pub const MIN_MEMORY_MIB: u64 = limits::MIN_MEMORY_MIB;

fn bad(message: String) -> crate::error::Error {
    refuse(ErrorKind::BadRequest, message)
}

/// The most vCPU slots a new domain gets by default.
pub const DEFAULT_MAX_VCPUS_CAP: u32 = 64;

/// `max-vcpus` of a new domain: this host's vCPUs for domains, capped.
pub fn default_max_vcpus(d: &Daemon) -> u32 {
    d.inv.vcpus.clamp(DEFAULT_VCPUS, DEFAULT_MAX_VCPUS_CAP)
}

pub fn check_max_vcpus(max: u32, vcpus: u32) -> Result<u32> {
    limits::check_vcpus(max).map_err(bad)?;
    if max < vcpus {
        return Err(bad(format!(
            "max-vcpus={max} is less than the domain's {vcpus} vCPUs: give at least {vcpus}, or remove vCPUs first"
        )));
    }
    Ok(max)
}

/// `add-domain`
pub async fn add(
    d: &Daemon,
    name: &str,
    arch: Option<CpuArch>,
    max_vcpus: Option<u32>,
) -> Result<()> {
    check_domain_name(name).map_err(|m| refuse(ErrorKind::BadRequest, m))?;
    let max_vcpus = match max_vcpus {
        Some(m) => check_max_vcpus(m, DEFAULT_VCPUS)?,
        None => default_max_vcpus(d),
    };
    let mut t = d.table();
    if t.contains_key(name) {
        return Err(refuse(
            ErrorKind::Exists,
            format!("domain {name} already exists: choose another name or remove it first with `ldm remove-domain {name}`"),
        ));
    }
    let rec = DomainRecord::new(DomainSpec {
        name: name.into(),
        uuid: uuid::Uuid::new_v4(),
        cpu_arch: arch.unwrap_or_default(),
        vcpus: DEFAULT_VCPUS,
        max_vcpus: Some(max_vcpus),
        max_memory_mib: None,
        boot_memory_mib: None,
        memory_mib: DEFAULT_MEMORY_MIB,
        vars: Default::default(),
        migration: Default::default(),
        disks: Vec::new(),
        networks: Vec::new(),
    });
    d.db.put_domain(&rec)?;
    t.insert(name.into(), crate::daemon::Domain::new(rec));
    tracing::info!(domain = name, "domain added");
    Ok(())
}

/// `remove-domain`
pub async fn remove(d: &Daemon, name: &str) -> Result<()> {
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, name)?;
    Transition::Remove
        .check(name, dom.rec.state)
        .map_err(|m| refuse(ErrorKind::State, m))?;
    d.db.delete_domain(name)?;
    // What its moves taught the predictions goes with it.
    let uuid = dom.rec.spec.uuid.to_string();
    if let Err(e) = crate::migration::dirty_during::forget(&d.db, &uuid) {
        tracing::info!(
            domain = name,
            "its dirty rate during the last move stays: {e}"
        );
    }
    t.remove(name);
    tracing::info!(domain = name, "domain removed");
    Ok(())
}

/// What `set-domain` changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct DomainProps {
    /// `cpu-arch=`.
    pub arch: Option<CpuArch>,
    /// `migration-downtime=` (0 clears).
    pub downtime_ms: Option<u64>,
    /// `migration-bandwidth=` (0 clears).
    pub bandwidth_mib: Option<u64>,
    /// `max-vcpus=`.
    pub max_vcpus: Option<u32>,
    /// `max-memory=`, MiB (0 clears).
    pub max_memory_mib: Option<u64>,
}

/// `set-domain`. The CPU class and the vCPU slots of a running domain
/// cannot change while QEMU runs: they are recorded as a delayed
/// reconfiguration (FLAGS `d`) and applied at its next start.
pub async fn set_domain(d: &Daemon, name: &str, p: DomainProps) -> Result<Option<String>> {
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, name)?;
    let mut rec = dom.rec.clone();
    let mut message = None;
    if let Some(m) = p.max_vcpus {
        check_max_vcpus(m, rec.spec.vcpus)?;
    }
    if let Some(m) = p.max_memory_mib.filter(|m| *m > 0) {
        limits::check_memory_mib(m).map_err(bad)?;
    }
    let structural = p.arch.is_some() || p.max_vcpus.is_some() || p.max_memory_mib.is_some();
    if rec.state.has_process() && structural {
        if rec.state != DomainState::Active {
            return Err(refuse(
                ErrorKind::State,
                format!(
                    "domain {name} is {}: wait until it is active or bound",
                    rec.state
                ),
            ));
        }
        if let Some(a) = p.arch {
            rec.pending.cpu_arch = (a != rec.spec.cpu_arch).then_some(a);
        }
        if let Some(m) = p.max_vcpus {
            rec.pending.max_vcpus = (Some(m) != rec.spec.max_vcpus).then_some(m);
        }
        if let Some(m) = p.max_memory_mib {
            let now = rec.spec.max_memory_mib.unwrap_or(0);
            rec.pending.max_memory_mib = (m != now).then_some(m);
        }
        if !rec.pending.is_empty() {
            message = Some(format!(
                "Initiating a delayed reconfiguration of {name}: {} takes effect at its next start (`ldm cancel-reconf {name}` drops it)",
                rec.pending.describe().join(", ")
            ));
        }
    } else {
        if let Some(a) = p.arch {
            rec.spec.cpu_arch = a;
            rec.pending.cpu_arch = None;
            if let Some(b) = rec.binding.as_mut() {
                b.cpu_model = d.inv.cpu_model_for(a);
            }
        }
        if let Some(m) = p.max_vcpus {
            rec.spec.max_vcpus = Some(m);
            rec.pending.max_vcpus = None;
        }
        if let Some(m) = p.max_memory_mib {
            rec.spec.max_memory_mib = (m > 0).then_some(m);
            rec.pending.max_memory_mib = None;
        }
    }
    let (downtime_ms, bandwidth_mib) = (p.downtime_ms, p.bandwidth_mib);
    if let Some(ms) = downtime_ms {
        let ms = limits::check_downtime_ms(ms).map_err(bad)?;
        rec.spec.migration.downtime_ms = (ms > 0).then_some(ms);
    }
    if let Some(b) = bandwidth_mib {
        let b = limits::check_bandwidth_mib(b).map_err(bad)?;
        rec.spec.migration.bandwidth_mib = (b > 0).then_some(b);
    }
    commit(&d.db, dom, rec)?;
    Ok(message)
}

/// `cancel-reconf`: drops the changes waiting for the next start.
pub async fn cancel_reconf(d: &Daemon, name: &str) -> Result<Option<String>> {
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, name)?;
    if dom.rec.pending.is_empty() {
        return Err(refuse(
            ErrorKind::State,
            format!("domain {name} has no delayed reconfiguration to cancel"),
        ));
    }
    let mut rec = dom.rec.clone();
    let dropped = rec.pending.describe().join(", ");
    rec.pending = Default::default();
    commit(&d.db, dom, rec)?;
    Ok(Some(format!(
        "Dropped the delayed reconfiguration of {name}: {dropped}"
    )))
}

fn apply_change(current: u64, change: ResourceChange, amount: u64, what: &str) -> Result<u64> {
    match change {
        ResourceChange::Set => Ok(amount),
        ResourceChange::Add => current.checked_add(amount).ok_or_else(|| {
            refuse(
                ErrorKind::BadRequest,
                format!("cannot add {amount} {what} to {current}: the sum is out of range"),
            )
        }),
        ResourceChange::Remove => current
            .checked_sub(amount)
            .filter(|v| *v > 0)
            .ok_or_else(|| {
                refuse(
                    ErrorKind::BadRequest,
                    format!("cannot remove {amount} {what}: the domain has only {current}"),
                )
            }),
    }
}

/// `set-vcpu`, `add-vcpu`, `rm-vcpu`
pub async fn vcpu(d: &Daemon, name: &str, change: ResourceChange, count: u32) -> Result<()> {
    if count == 0 && change == ResourceChange::Set {
        return Err(refuse(
            ErrorKind::BadRequest,
            "a domain needs at least 1 vCPU",
        ));
    }
    if name == "primary" {
        let v = apply_change(d.primary_vcpus() as u64, change, count as u64, "vCPUs")?;
        if v == 0 || v > 64 {
            return Err(refuse(
                ErrorKind::BadRequest,
                "the primary domain takes 1 to 64 vCPUs",
            ));
        }
        return d.db.set_meta("primary-vcpus", &v.to_string());
    }
    let live = {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, name)?;
        let v = apply_change(dom.rec.spec.vcpus as u64, change, count as u64, "vCPUs")?;
        let v = u32::try_from(v).map_err(|_| refuse(ErrorKind::BadRequest, "too many vCPUs"))?;
        limits::check_vcpus(v).map_err(bad)?;
        if dom.rec.state == DomainState::Active {
            Some(v)
        } else {
            resize(d, &mut t, name, Some(v), None)?;
            None
        }
    };
    match live {
        Some(v) => super::hotplug::set_vcpus(d, name, v).await,
        None => Ok(()),
    }
}

/// `set-memory`, `add-memory`, `rm-memory`
pub async fn memory(
    d: &Daemon,
    name: &str,
    change: ResourceChange,
    mib: u64,
) -> Result<Option<String>> {
    if name == "primary" {
        return Err(refuse(
            ErrorKind::BadRequest,
            "the primary domain's memory is the host's own: set what domains may use with `ldmd --memory`",
        ));
    }
    let live = {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, name)?;
        let m = apply_change(dom.rec.spec.memory_mib, change, mib, "MiB")?;
        limits::check_memory_mib(m).map_err(bad)?;
        if dom.rec.state == DomainState::Active {
            Some(m)
        } else {
            resize(d, &mut t, name, None, Some(m))?;
            None
        }
    };
    match live {
        Some(m) => super::hotmem::set_memory(d, name, m).await,
        None => Ok(None),
    }
}

fn resize(
    d: &Daemon,
    t: &mut crate::daemon::Table,
    name: &str,
    vcpus: Option<u32>,
    mib: Option<u64>,
) -> Result<()> {
    let state = t[name].rec.state;
    if state.has_process() {
        return Err(refuse(
            ErrorKind::State,
            format!("domain {name} is {state}: stop it first with `ldm stop-domain {name}` (resources change while it is bound or inactive)"),
        ));
    }
    let mut rec = t[name].rec.clone();
    if let Some(v) = vcpus {
        rec.spec.vcpus = v;
        // Slots follow the vCPUs up while the machine is not running.
        rec.spec.max_vcpus = rec.spec.max_vcpus.map(|m| m.max(v));
    }
    if let Some(m) = mib {
        rec.spec.memory_mib = m;
    }
    if state == DomainState::Bound {
        check_fit(
            t,
            Some(name),
            d.inv.vcpus,
            d.inv.memory_mib,
            rec.spec.vcpus,
            rec.spec.memory_mib,
        )?;
    }
    if rec.spec.vcpus > d.inv.vcpus {
        return Err(refuse(
            ErrorKind::Resources,
            format!("this host gives at most {} vCPUs to domains", d.inv.vcpus),
        ));
    }
    if rec.spec.memory_mib > d.inv.memory_mib {
        return Err(refuse(
            ErrorKind::Resources,
            format!(
                "this host gives at most {} of memory to domains",
                ldm_api::format_mib(d.inv.memory_mib)
            ),
        ));
    }
    let dom = t.get_mut(name).expect("checked above");
    commit(&d.db, dom, rec)
}

/// Checks that the local user `uid` may name the boot files in `vars`: root
/// and ldmd's own user may name any file; anyone else only files they
/// could read themselves. A file that does not exist and one they may not
/// read get the same answer, so nothing is revealed about directories
/// they cannot see into.
pub fn check_boot_files_of(uid: u32, vars: &[(String, String)]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if uid == 0 || uid == unsafe { libc::geteuid() } {
        return Ok(());
    }
    let who = Who::of_uid(uid);
    for (k, v) in vars {
        if (k == "kernel" || k == "initrd") && !v.is_empty() && !readable_by(Path::new(v), &who) {
            return Err(refuse(
                ErrorKind::BadRequest,
                format!("{k}={v}: no such file, or you may not read it: name a file you can read"),
            ));
        }
    }
    Ok(())
}

/// Checks one boot variable as `set-var` takes it.
pub fn check_var(k: &str, v: &str) -> Result<()> {
    let max = if k == "boot-args" {
        limits::MAX_BOOT_ARGS_LEN
    } else {
        limits::MAX_PATH_LEN
    };
    limits::check_printable(k, v, max).map_err(bad)?;
    if (k == "kernel" || k == "initrd") && !v.is_empty() {
        let p = Path::new(v);
        if !p.is_absolute() {
            return Err(refuse(
                ErrorKind::BadRequest,
                format!("{k}={v}: give an absolute path"),
            ));
        }
        if !p.is_file() {
            return Err(refuse(
                ErrorKind::BadRequest,
                format!("{k}={v}: no such file. Build the guest image with `guest/build` and use the paths it prints"),
            ));
        }
    }
    Ok(())
}

/// `set-var`
pub async fn set_var(d: &Daemon, name: &str, vars: &[(String, String)]) -> Result<()> {
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, name)?;
    let mut rec = dom.rec.clone();
    for (k, v) in vars {
        check_var(k, v)?;
        rec.spec
            .vars
            .set(k, v)
            .map_err(|m| refuse(ErrorKind::BadRequest, m))?;
    }
    commit(&d.db, dom, rec)
}

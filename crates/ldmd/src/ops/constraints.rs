//! A domain's whole definition at once: `list-constraints` gives it,
//! `add-domain -i` and `set-domain -i` take it back (the CLI turns it into
//! and out of Oracle's XML). Every field is checked as the single verbs
//! check it, before anything changes.

use super::define::{check_max_vcpus, check_var, default_max_vcpus};
use super::vdisk::{taken_elsewhere, usable_volume};
use crate::daemon::{commit, get, get_mut_idle, Daemon, Table};
use crate::error::{refuse, Result};
use crate::record::DomainRecord;
use crate::resources::check_fit;
use ldm_api::domain::check_domain_name;
use ldm_api::storage::{check_name, MAX_DISKS};
use ldm_api::{limits, DomainSpec, DomainState, ErrorKind};
use std::collections::BTreeSet;

fn bad(message: impl Into<String>) -> crate::error::Error {
    refuse(ErrorKind::BadRequest, message)
}

/// `list-constraints [NAME…]`: the named domains, or every one.
pub fn list(d: &Daemon, names: &[String]) -> Result<Vec<DomainSpec>> {
    let t = d.table();
    if names.is_empty() {
        return Ok(t.values().map(|dom| dom.rec.spec.clone()).collect());
    }
    names
        .iter()
        .map(|n| {
            if n == "primary" {
                return Err(bad(
                    "the primary domain's constraints are the host's: `ldm list-devices -l` shows them",
                ));
            }
            Ok(get(&t, n)?.rec.spec.clone())
        })
        .collect()
}

/// Everything about `spec` that does not depend on other domains.
fn check_fields(d: &Daemon, spec: &DomainSpec) -> Result<()> {
    check_domain_name(&spec.name).map_err(bad)?;
    limits::check_vcpus(spec.vcpus).map_err(bad)?;
    if let Some(m) = spec.max_vcpus {
        check_max_vcpus(m, spec.vcpus)?;
    }
    limits::check_memory_mib(spec.memory_mib).map_err(bad)?;
    if let Some(m) = spec.max_memory_mib {
        limits::check_memory_mib(m).map_err(bad)?;
    }
    if spec.vcpus > d.inv.vcpus {
        return Err(refuse(
            ErrorKind::Resources,
            format!("this host gives at most {} vCPUs to domains", d.inv.vcpus),
        ));
    }
    if spec.memory_mib > d.inv.memory_mib {
        return Err(refuse(
            ErrorKind::Resources,
            format!(
                "this host gives at most {} of memory to domains",
                ldm_api::format_mib(d.inv.memory_mib)
            ),
        ));
    }
    for (k, v) in spec.vars.pairs() {
        check_var(k, v)?;
    }
    if let Some(ms) = spec.migration.downtime_ms {
        limits::check_downtime_ms(ms).map_err(bad)?;
    }
    if let Some(b) = spec.migration.bandwidth_mib {
        limits::check_bandwidth_mib(b).map_err(bad)?;
    }
    if spec.disks.len() > MAX_DISKS {
        return Err(refuse(
            ErrorKind::Resources,
            format!(
                "{} disks: a domain may have at most {MAX_DISKS}",
                spec.disks.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for k in &spec.disks {
        check_name("disk", &k.name).map_err(bad)?;
        if !seen.insert(k.name.as_str()) {
            return Err(bad(format!("the disk name {} appears twice", k.name)));
        }
        usable_volume(d, &k.volume, &k.service)?;
    }
    Ok(())
}

/// What depends on the other domains: UUID and volumes not taken.
fn check_against(t: &Table, spec: &DomainSpec) -> Result<()> {
    if let Some(other) = t
        .values()
        .find(|o| o.rec.spec.uuid == spec.uuid && o.rec.spec.name != spec.name)
    {
        return Err(refuse(
            ErrorKind::Exists,
            format!(
                "domain {} already has the uuid {}: remove it first, or delete the uuid from the file to get a new one",
                other.rec.spec.name, spec.uuid
            ),
        ));
    }
    for k in &spec.disks {
        taken_elsewhere(t, &spec.name, &k.name, k)?;
    }
    Ok(())
}

/// `add-domain -i FILE` (`replace` false) or `set-domain -i FILE`.
pub async fn define(d: &Daemon, mut spec: DomainSpec, replace: bool) -> Result<()> {
    check_fields(d, &spec)?;
    // What a domain booted with is a fact of a running QEMU, never a file's.
    spec.boot_memory_mib = None;
    // The host's interfaces matter only to a file with vnets.
    let host_macs = if spec.networks.is_empty() {
        Vec::new()
    } else {
        super::vnet::host_macs(d).await?
    };
    let name = spec.name.clone();
    let mut t = d.table();
    check_against(&t, &spec)?;
    super::vnet::check_specs(d, &t, &host_macs, &name, &spec.networks)?;
    if !replace {
        if t.contains_key(&name) {
            return Err(refuse(
                ErrorKind::Exists,
                format!("domain {name} already exists: change it with `ldm set-domain -i FILE`, or remove it first"),
            ));
        }
        // A file without max-vcpus gets what add-domain would give.
        spec.max_vcpus = spec
            .max_vcpus
            .or(Some(default_max_vcpus(d).max(spec.vcpus)));
        let rec = DomainRecord::new(spec);
        d.db.put_domain(&rec)?;
        t.insert(name.clone(), crate::daemon::Domain::new(rec));
        tracing::info!(domain = %name, "domain added from constraints");
        return Ok(());
    }
    let dom = get_mut_idle(&mut t, &name)?;
    let state = dom.rec.state;
    if state.has_process() {
        return Err(refuse(
            ErrorKind::State,
            format!("domain {name} is {state}: stop it first with `ldm stop-domain {name}`"),
        ));
    }
    if spec.uuid != dom.rec.spec.uuid {
        return Err(bad(format!(
            "the file describes another domain (uuid {}) than {name} (uuid {}): write the domain's own uuid, or add it as a new domain",
            spec.uuid, dom.rec.spec.uuid
        )));
    }
    if state == DomainState::Bound && spec.cpu_arch != dom.rec.spec.cpu_arch {
        return Err(refuse(
            ErrorKind::State,
            format!("the cpu-arch of domain {name} can only change while it is inactive: unbind it first"),
        ));
    }
    if state == DomainState::Bound && spec.networks != dom.rec.spec.networks {
        return Err(refuse(
            ErrorKind::State,
            format!("the vnets of domain {name} differ from the file's, and a bound domain's taps are in use: unbind it first, or change them with add-vnet, set-vnet and remove-vnet"),
        ));
    }
    let mut rec = dom.rec.clone();
    // A file without max-vcpus or max-memory keeps the domain's.
    let max_vcpus = spec
        .max_vcpus
        .or(rec.spec.max_vcpus.map(|m| m.max(spec.vcpus)));
    let max_memory_mib = spec.max_memory_mib.or(rec.spec.max_memory_mib);
    rec.spec = spec;
    rec.spec.max_vcpus = max_vcpus;
    rec.spec.max_memory_mib = max_memory_mib;
    if state == DomainState::Bound {
        check_fit(
            &t,
            Some(&name),
            d.inv.vcpus,
            d.inv.memory_mib,
            rec.spec.vcpus,
            rec.spec.memory_mib,
        )?;
    }
    let dom = t.get_mut(&name).expect("looked up above");
    commit(&d.db, dom, rec)?;
    tracing::info!(domain = %name, "domain changed from constraints");
    Ok(())
}

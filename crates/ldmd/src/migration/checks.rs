//! Phase 1 on the target: every requirement checked, every failure reported.

use super::copy_volumes::CopyFact;
use super::protocol::DomainOffer;
use super::validate::offer_problems;
use super::volumes::VolumeFact;
use crate::access::{readable_by, Who};
use crate::daemon::{Daemon, Table};
use crate::resources::{has_free_port, usage};
use ldm_api::{format_mib, CpuArch, DomainState};
use std::path::Path;

/// Failures and warnings of a check.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Unmet requirements.
    pub failures: Vec<String>,
    /// Things to know.
    pub warnings: Vec<String>,
}

/// The target's view of itself, for the checks.
pub struct TargetFacts<'a> {
    /// Host name.
    pub host: &'a str,
    /// Accelerator.
    pub accel: String,
    /// This host's native CPU (declared model, else the host's model name).
    pub cpu: String,
    /// QEMU version, if usable.
    pub qemu: Option<String>,
    /// Why QEMU is unusable.
    pub qemu_problem: Option<String>,
    /// Free vCPUs.
    pub free_vcpus: u32,
    /// Free memory, MiB.
    pub free_mib: u64,
    /// Whether a console port is free.
    pub free_port: bool,
    /// Whether the name is taken.
    pub name_taken: bool,
    /// Whether a domain here has the offer's UUID (its files would collide).
    pub uuid_taken: bool,
    /// The machine types and CPU models this host's QEMU offers.
    pub offered: &'a ldm_qemu::Offered,
    /// This host's side of each offered volume (filled by the caller,
    /// which reads the back ends without the table).
    pub volumes: Vec<VolumeFact>,
    /// With `--copy-storage`: this host's back end for each offered volume
    /// instead.
    pub copies: Vec<CopyFact>,
    /// The source, as messages name it.
    pub source: String,
    /// This host's virtual switches.
    pub switches: Vec<String>,
    /// The MACs of this host's vnets, with who has each.
    pub macs: Vec<(ldm_api::network::Mac, String)>,
    /// The offered CPU model against this host's (filled by the caller,
    /// which asks QEMU without the table).
    pub cpu_fit: super::cpucheck::CpuFit,
}

/// Gathers the facts of this host for an offer.
pub fn facts<'a>(d: &'a Daemon, t: &Table, offer: &DomainOffer) -> TargetFacts<'a> {
    let u = usage(t, None);
    TargetFacts {
        host: &d.inv.hostname,
        accel: d.inv.accel.to_string(),
        cpu: d.inv.native_cpu_name(),
        qemu: d.inv.qemu.as_ref().ok().map(|q| q.version_string()),
        qemu_problem: d.inv.qemu.as_ref().err().cloned(),
        free_vcpus: d.inv.vcpus.saturating_sub(u.vcpus_used),
        free_mib: d.inv.memory_mib.saturating_sub(u.memory_used_mib),
        free_port: d
            .db
            .vccs()
            .map(|v| has_free_port(t, &v, d.cfg.console_addr))
            .unwrap_or(false),
        name_taken: t.contains_key(&offer.spec.name),
        uuid_taken: t.values().any(|dom| dom.rec.spec.uuid == offer.spec.uuid),
        offered: &d.inv.offered,
        volumes: Vec::new(),
        copies: Vec::new(),
        source: String::new(),
        switches: d
            .db
            .vsws()
            .map(|v| v.into_iter().map(|s| s.name).collect())
            .unwrap_or_default(),
        macs: t
            .values()
            .filter(|dom| dom.rec.spec.uuid != offer.spec.uuid)
            .flat_map(|dom| {
                dom.rec.spec.networks.iter().map(move |v| {
                    (
                        v.mac,
                        format!("vnet {} of domain {}", v.name, dom.rec.spec.name),
                    )
                })
            })
            .collect(),
        cpu_fit: Default::default(),
    }
}

/// The MACs of this host's own interfaces, with who has each, read
/// without the table (a vnet must not take one of them either). A host
/// whose links cannot be listed is reported in the log and checked
/// against its vnets only.
pub async fn interface_macs(d: &Daemon) -> Vec<(ldm_api::network::Mac, String)> {
    match crate::ops::vnet::host_macs(d).await {
        Ok(l) => l
            .into_iter()
            .map(|(n, m)| (m, format!("interface {n}")))
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list this host's interfaces for the MAC check: {e}");
            Vec::new()
        }
    }
}

/// The back ends' side of an offer's volumes, read without the table.
pub fn read_volumes(d: &Daemon, offer: &DomainOffer) -> (Vec<VolumeFact>, Vec<CopyFact>) {
    if offer.copy_storage {
        (Vec::new(), super::copy_volumes::facts(d, &offer.volumes))
    } else {
        (super::volumes::facts(d, &offer.volumes), Vec::new())
    }
}

/// Adds what [`read_volumes`] read to the facts, with the volumes this
/// host's domains use (`t`, taken after the back ends were read).
pub fn add_volumes(
    f: &mut TargetFacts<'_>,
    read: (Vec<VolumeFact>, Vec<CopyFact>),
    offer: &DomainOffer,
    t: &Table,
) {
    (f.volumes, f.copies) = read;
    super::volumes::mark_in_use(&mut f.volumes, &offer.volumes, t);
    super::copy_volumes::mark_in_use(&mut f.copies, &offer.volumes, t);
}

/// Checks an offer against the target's facts. Pure, so it is tested alone.
pub fn check(offer: &DomainOffer, f: &TargetFacts<'_>) -> Verdict {
    // Untrusted fields first; nothing else is looked at until they pass.
    let mut v = Verdict {
        failures: offer_problems(offer, f.offered),
        ..Default::default()
    };
    if !v.failures.is_empty() {
        return v;
    }
    let spec = &offer.spec;
    let name = &spec.name;
    let host = f.host;
    if f.uuid_taken {
        v.failures.push(format!(
            "A domain on {host} already has the UUID {}: this domain cannot move there",
            spec.uuid
        ));
    }
    if f.name_taken {
        v.failures.push(format!(
            "Domain {name} already exists on {host}: migrate under another name with HOST:NEWNAME"
        ));
    }
    if !matches!(
        offer.state,
        DomainState::Active | DomainState::Bound | DomainState::Inactive
    ) {
        v.failures.push(format!(
            "Domain {name} is {} and cannot migrate",
            offer.state
        ));
    }
    let needs_resources = offer.state != DomainState::Inactive;
    if needs_resources && spec.vcpus > f.free_vcpus {
        v.failures.push(format!(
            "Not enough free vCPUs on {host}: {} needed, {} free",
            spec.vcpus, f.free_vcpus
        ));
    }
    if needs_resources && spec.memory_mib > f.free_mib {
        v.failures.push(format!(
            "Not enough free memory on {host}: {} needed, {} free",
            format_mib(spec.memory_mib),
            format_mib(f.free_mib)
        ));
    }
    if needs_resources && !f.free_port {
        v.failures.push(format!(
            "No free console port in the vcc of {host}: widen its range with `ldm set-vcc` there"
        ));
    }
    if offer.state == DomainState::Active {
        if let Some(p) = &f.qemu_problem {
            v.failures
                .push(format!("The hypervisor of {host} cannot run domains: {p}"));
        }
    }
    if spec.cpu_arch == CpuArch::Native && offer.state != DomainState::Inactive {
        if offer.source_accel != f.accel {
            v.failures.push(format!(
                "Domain {name} has cpu-arch=native and runs with {} here, but {host} uses {}: set cpu-arch=generic (while inactive) to migrate between them",
                offer.source_accel, f.accel
            ));
        } else if offer.state == DomainState::Active && offer.source_qemu != f.qemu {
            v.failures.push(format!(
                "Domain {name} has cpu-arch=native but {host} runs QEMU {} and this host {}: use the same QEMU or cpu-arch=generic",
                f.qemu.clone().unwrap_or_default(),
                offer.source_qemu.clone().unwrap_or_default()
            ));
        }
    }
    if offer.state != DomainState::Inactive {
        v.failures
            .extend(super::cpucheck::failure(offer, host, &f.cpu_fit));
    }
    for (var, path) in [("kernel", &spec.vars.kernel), ("initrd", &spec.vars.initrd)] {
        if let Some(p) = path {
            // A peer may only name files every local user could read.
            if readable_by(Path::new(p), &Who::anyone()) {
                continue;
            }
            let msg = format!(
                "The {var} of {name}, {p}, does not exist on {host} or not every user there may read it: the domain cannot boot there until it is copied (world-readable)"
            );
            let missing = !Path::new(p).exists();
            if offer.state == DomainState::Active && missing {
                v.warnings.push(msg);
            } else {
                v.failures.push(msg);
            }
        }
    }
    v.failures.extend(networks(offer, f));
    let covered = offer.volumes.len() == spec.disks.len()
        && offer
            .volumes
            .iter()
            .zip(&spec.disks)
            .all(|(v, k)| v.volume == k.volume && v.service == k.service);
    if !covered {
        v.failures.push(format!(
            "The offer for {name} does not give the volume of each of its disks"
        ));
    } else if offer.copy_storage {
        v.failures.extend(super::copy_volumes::check(
            &offer.volumes,
            &f.copies,
            offer.overwrite_storage,
            host,
            &f.source,
        ));
    } else {
        v.failures.extend(super::volumes::check(
            &offer.volumes,
            &f.volumes,
            host,
            &f.source,
        ));
    }
    v
}

/// Each vnet needs a switch of the same name here, and its MAC free.
fn networks(offer: &DomainOffer, f: &TargetFacts<'_>) -> Vec<String> {
    let host = f.host;
    let mut out = Vec::new();
    for v in &offer.spec.networks {
        if !f.switches.contains(&v.switch) {
            out.push(format!(
                "Virtual switch {} (of vnet {}) does not exist on {host}: add it there with `ldm add-vsw {} primary`",
                v.switch, v.name, v.switch
            ));
        }
        if let Some((_, who)) = f.macs.iter().find(|(m, _)| *m == v.mac) {
            out.push(format!(
                "The MAC address {} of vnet {} is already used by {who} on {host}",
                v.mac, v.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_api::{BootVars, DomainSpec};

    fn offer(state: DomainState, arch: CpuArch) -> DomainOffer {
        DomainOffer {
            spec: DomainSpec {
                name: "ldg1".into(),
                uuid: uuid::Uuid::nil(),
                cpu_arch: arch,
                vcpus: 2,
                max_vcpus: None,
                max_memory_mib: None,
                boot_memory_mib: None,
                memory_mib: 1024,
                vars: BootVars {
                    kernel: Some("/nonexistent/vmlinuz".into()),
                    initrd: None,
                    boot_args: None,
                },
                migration: Default::default(),
                disks: Vec::new(),
                networks: Vec::new(),
            },
            state,
            machine_type: Some("pc-i440fx-10.0".into()),
            cpu_model: Some("max".into()),
            source_accel: "tcg".into(),
            source_cpu: "EPYC".into(),
            source_qemu: Some("10.0.2".into()),
            volumes: Vec::new(),
            copy_storage: false,
            overwrite_storage: false,
            boot_memory_kib: None,
        }
    }

    fn facts() -> TargetFacts<'static> {
        TargetFacts {
            host: "b",
            accel: "tcg".into(),
            cpu: "EPYC".into(),
            qemu: Some("10.0.2".into()),
            qemu_problem: None,
            free_vcpus: 4,
            free_mib: 4096,
            free_port: true,
            name_taken: false,
            uuid_taken: false,
            offered: &OFFERED,
            volumes: Vec::new(),
            copies: Vec::new(),
            source: "a".into(),
            switches: vec!["primary-vsw0".into()],
            macs: Vec::new(),
            cpu_fit: Default::default(),
        }
    }

    static OFFERED: ldm_qemu::Offered = ldm_qemu::Offered {
        machine_types: std::collections::BTreeSet::new(),
        cpu_models: std::collections::BTreeSet::new(),
    };

    #[test]
    fn an_unreadable_boot_file_or_a_planted_field_fails_every_offer() {
        let mut o = offer(DomainState::Active, CpuArch::Native);
        o.spec.vars.kernel = Some("/etc/shadow".into());
        let v = check(&o, &facts());
        assert_eq!(v.failures.len(), 1, "{v:?}");
        assert!(v.failures[0].contains("not every user"), "{v:?}");
        let mut o = offer(DomainState::Bound, CpuArch::Native);
        o.spec.name = "primary".into();
        let v = check(&o, &facts());
        assert_eq!(v.failures.len(), 1, "{v:?}");
        let mut f = facts();
        f.uuid_taken = true;
        let v = check(&offer(DomainState::Active, CpuArch::Native), &f);
        assert!(v.failures.iter().any(|m| m.contains("UUID")), "{v:?}");
    }

    #[test]
    fn passes_with_a_warning_for_missing_boot_files_of_an_active_domain() {
        let v = check(&offer(DomainState::Active, CpuArch::Native), &facts());
        assert!(v.failures.is_empty(), "{v:?}");
        assert_eq!(v.warnings.len(), 1);
        let v = check(&offer(DomainState::Bound, CpuArch::Native), &facts());
        assert_eq!(v.failures.len(), 1, "{v:?}");
    }

    #[test]
    fn each_vnet_needs_its_switch_and_a_free_mac() {
        let mut o = offer(DomainState::Active, CpuArch::Generic);
        o.spec.vars.kernel = None;
        let mac = "02:4c:44:00:00:01".parse().unwrap();
        for (name, switch) in [("vnet0", "primary-vsw0"), ("vnet1", "other-vsw")] {
            o.spec.networks.push(ldm_api::network::VnetSpec {
                name: name.into(),
                switch: switch.into(),
                mac: if name == "vnet0" {
                    mac
                } else {
                    "02:4c:44:00:00:02".parse().unwrap()
                },
                mtu: None,
            });
        }
        let mut f = facts();
        f.macs.push((mac, "vnet a of domain x".into()));
        let v = check(&o, &f);
        assert_eq!(v.failures.len(), 2, "{v:?}");
        let has = |t: &str| v.failures.iter().any(|f| f.contains(t));
        assert!(has(
            "Virtual switch other-vsw (of vnet vnet1) does not exist on b"
        ));
        assert!(has(
            "02:4c:44:00:00:01 of vnet vnet0 is already used by vnet a of domain x"
        ));
    }

    #[test]
    fn reports_every_failure() {
        let mut f = facts();
        f.free_vcpus = 1;
        f.free_mib = 512;
        f.free_port = false;
        f.name_taken = true;
        f.accel = "kvm".into();
        let v = check(&offer(DomainState::Active, CpuArch::Native), &f);
        assert_eq!(v.failures.len(), 5, "{v:?}");
        assert!(v.failures.iter().any(|m| m.contains("memory")));
        assert!(v.failures.iter().any(|m| m.contains("console port")));
        assert!(v.failures.iter().any(|m| m.contains("already exists")));
        assert!(v.failures.iter().any(|m| m.contains("cpu-arch=native")));
    }

    #[test]
    fn generic_migrates_across_cpus() {
        let mut f = facts();
        f.cpu = "Xeon".into();
        f.accel = "kvm".into();
        let v = check(&offer(DomainState::Active, CpuArch::Generic), &f);
        assert!(v.failures.is_empty(), "{v:?}");
        let v = check(&offer(DomainState::Active, CpuArch::Native), &f);
        assert_eq!(v.failures.len(), 1, "{v:?}");
    }

    #[test]
    fn inactive_domains_need_no_resources() {
        let mut f = facts();
        f.free_vcpus = 0;
        f.free_mib = 0;
        f.free_port = false;
        let mut o = offer(DomainState::Inactive, CpuArch::Native);
        o.spec.vars.kernel = None;
        assert!(check(&o, &f).failures.is_empty());
    }
}

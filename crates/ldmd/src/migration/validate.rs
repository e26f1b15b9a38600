//! A peer's offer is untrusted input: every field is checked here, with
//! the CLI's rules and more, before the target looks at anything else.
//! A pure function of the offer and what this host's QEMU offers.

use super::protocol::DomainOffer;
use ldm_api::domain::check_domain_name;
use ldm_api::limits::{
    check_bandwidth_mib, check_downtime_ms, check_memory_mib, check_printable, check_vcpus,
    MAX_BOOT_ARGS_LEN, MAX_PATH_LEN,
};
use ldm_qemu::{is_model_name, MigrationTuning, Offered};

/// The longest host fact (accelerator, CPU, QEMU version) an offer may carry.
const MAX_FACT_LEN: usize = 256;

/// Everything wrong with an offer's fields; empty when it may be considered.
pub fn offer_problems(offer: &DomainOffer, offered: &Offered) -> Vec<String> {
    let spec = &offer.spec;
    let mut p = Vec::new();
    if let Err(m) = check_domain_name(&spec.name) {
        // A name that could forge output is not repeated.
        let unprintable = check_printable("", &spec.name, 64).is_err();
        let m = if unprintable {
            m.replace(&spec.name, "…")
        } else {
            m
        };
        p.push(format!("The domain's name is refused: {m}"));
    }
    let name = if p.is_empty() {
        spec.name.as_str()
    } else {
        "the domain"
    };
    let mut push = |r: Result<(), String>| {
        if let Err(m) = r {
            p.push(format!("{name}: {m}"));
        }
    };
    push(check_vcpus(spec.vcpus).map(|_| ()));
    if let Some(max) = spec.max_vcpus {
        push(check_vcpus(max).map(|_| ()));
        if max < spec.vcpus {
            push(Err(format!(
                "max_vcpus {max} is less than its {} vCPUs",
                spec.vcpus
            )));
        }
    }
    push(check_memory_mib(spec.memory_mib).map(|_| ()));
    if let Some(max) = spec.max_memory_mib {
        push(check_memory_mib(max).map(|_| ()));
    }
    if let Some(boot) = spec.boot_memory_mib {
        let fits = crate::ops::hotmem::config(spec).is_some_and(|(_, h)| h.problem().is_none());
        if boot > spec.memory_mib || !fits {
            push(Err(
                "its boot memory, memory and max-memory do not make a machine".to_string(),
            ));
        }
    }
    push(crate::ops::hotmem::offered_pad(spec, offer.boot_memory_kib).map(drop));
    if let Some(ms) = spec.migration.downtime_ms {
        push(check_downtime_ms(ms).map(|_| ()));
    }
    if let Some(mib) = spec.migration.bandwidth_mib {
        push(check_bandwidth_mib(mib).map(|_| ()));
    }
    for (var, path) in [("kernel", &spec.vars.kernel), ("initrd", &spec.vars.initrd)] {
        if let Some(path) = path {
            push(check_printable(var, path, MAX_PATH_LEN));
            if !path.starts_with('/') {
                push(Err(format!("{var} is not an absolute path")));
            }
        }
    }
    if let Some(args) = &spec.vars.boot_args {
        push(check_printable("boot-args", args, MAX_BOOT_ARGS_LEN));
    }
    push(disks(&spec.disks));
    push(vnets(&spec.networks));
    push(volumes(&offer.volumes));
    for (what, fact) in [
        ("the source's accelerator", Some(&offer.source_accel)),
        ("the source's CPU", Some(&offer.source_cpu)),
        ("the source's QEMU version", offer.source_qemu.as_ref()),
    ] {
        if let Some(f) = fact {
            push(check_printable(what, f, MAX_FACT_LEN));
        }
    }
    push(model(
        "machine type",
        offer.machine_type.as_deref(),
        &offered.machine_types,
    ));
    push(model(
        "CPU model",
        offer.cpu_model.as_deref(),
        &offered.cpu_models,
    ));
    p
}

/// Disk, volume and service names as the CLI takes them, each disk once,
/// and no more disks than a machine has PCI slots for.
fn disks(disks: &[ldm_api::storage::VdiskSpec]) -> Result<(), String> {
    if disks.len() > ldm_api::storage::MAX_DISKS {
        return Err(format!(
            "{} disks is more than a domain may have ({})",
            disks.len(),
            ldm_api::storage::MAX_DISKS
        ));
    }
    for (i, k) in disks.iter().enumerate() {
        for (what, v) in [
            ("disk", &k.name),
            ("volume", &k.volume),
            ("service", &k.service),
        ] {
            ldm_api::storage::check_name(what, v)
                .map_err(|_| format!("disk {i} has an invalid {what} name"))?;
        }
        if disks[..i].iter().any(|o| o.name == k.name) {
            return Err(format!("disk {} appears twice", k.name));
        }
    }
    Ok(())
}

/// Vnets as the CLI takes them: valid names, unicast MACs, MTUs in
/// range, each name and MAC once, no more than a domain may have.
fn vnets(vnets: &[ldm_api::network::VnetSpec]) -> Result<(), String> {
    use ldm_api::network::{check_mtu, check_net_name, MAX_VNETS};
    if vnets.len() > MAX_VNETS {
        return Err(format!(
            "{} vnets is more than a domain may have ({MAX_VNETS})",
            vnets.len()
        ));
    }
    for (i, v) in vnets.iter().enumerate() {
        check_net_name("vnet", &v.name).map_err(|_| format!("vnet {i} has an invalid name"))?;
        check_net_name("switch", &v.switch)
            .map_err(|_| format!("vnet {i} has an invalid switch name"))?;
        if !v.mac.is_unicast() {
            return Err(format!("vnet {i} has a MAC that is not unicast"));
        }
        if let Some(m) = v.mtu {
            check_mtu(m).map_err(|_| format!("vnet {i} has an MTU out of range"))?;
        }
        if vnets[..i]
            .iter()
            .any(|o| o.name == v.name || o.mac == v.mac)
        {
            return Err(format!("vnet {} or its MAC appears twice", v.name));
        }
    }
    Ok(())
}

/// Offered volumes: as many as a domain may have disks, valid names, a
/// printable proof of bounded length.
fn volumes(vols: &[super::volumes::VolumeOffer]) -> Result<(), String> {
    if vols.len() > ldm_api::storage::MAX_DISKS {
        return Err("the offer has more volumes than a domain may have disks".into());
    }
    for (i, v) in vols.iter().enumerate() {
        for (what, n) in [("volume", &v.volume), ("service", &v.service)] {
            ldm_api::storage::check_name(what, n)
                .map_err(|_| format!("volume {i} has an invalid {what} name"))?;
        }
        check_printable("a volume's proof", &v.proof, crate::proof::MAX_PROOF_LEN)?;
    }
    Ok(())
}

/// A machine type or CPU model must be a model name, and one this host's
/// QEMU offers (when QEMU could be asked).
fn model(
    what: &str,
    value: Option<&str>,
    offered: &std::collections::BTreeSet<String>,
) -> Result<(), String> {
    let Some(v) = value else { return Ok(()) };
    if !is_model_name(v) {
        return Err(format!(
            "the {what} is not a QEMU model name (letters, digits, '-', '_', '.')"
        ));
    }
    if !offered.is_empty() && !offered.contains(v) {
        return Err(format!(
            "this host's QEMU does not offer the {what} {v}: upgrade QEMU here, or use cpu-arch=generic"
        ));
    }
    Ok(())
}

/// Everything wrong with the migration settings a source sends.
pub fn tuning_problems(t: &MigrationTuning) -> Vec<String> {
    let mut p = Vec::new();
    if let Err(m) = check_downtime_ms(t.downtime_limit_ms) {
        p.push(m);
    }
    let max_bytes = ldm_api::limits::MAX_BANDWIDTH_MIB << 20;
    if t.max_bandwidth_bytes > max_bytes {
        p.push(format!(
            "a bandwidth cap of {} bytes/s is out of range: at most {max_bytes}",
            t.max_bandwidth_bytes
        ));
    }
    // ldmd encrypts migrations itself: QEMU's TLS objects are never named.
    if t.tls_creds.is_some() || t.tls_hostname.is_some() {
        p.push("QEMU TLS settings are not accepted: ldmd encrypts migrations itself".into());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_api::{BootVars, CpuArch, DomainSpec, DomainState};

    fn offered() -> Offered {
        Offered {
            machine_types: ["pc-i440fx-10.0".to_string()].into(),
            cpu_models: ["max".to_string(), "qemu64".to_string()].into(),
        }
    }

    fn good() -> DomainOffer {
        DomainOffer {
            spec: DomainSpec {
                name: "ldg1".into(),
                uuid: uuid::Uuid::new_v4(),
                cpu_arch: CpuArch::Native,
                vcpus: 2,
                max_vcpus: None,
                max_memory_mib: None,
                boot_memory_mib: None,
                memory_mib: 512,
                vars: BootVars {
                    kernel: Some("/var/lib/ldm/vmlinuz".into()),
                    initrd: None,
                    boot_args: Some("console=ttyS0".into()),
                },
                migration: Default::default(),
                disks: Vec::new(),
                networks: Vec::new(),
            },
            state: DomainState::Bound,
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

    /// A running domain that booted with 512 MiB and has 256 MiB more,
    /// hot-plugged, of at most 2 GiB.
    fn hotmem(o: &mut DomainOffer) {
        o.state = DomainState::Active;
        o.spec.boot_memory_mib = Some(512);
        o.spec.memory_mib = 768;
        o.spec.max_memory_mib = Some(2048);
    }

    #[test]
    fn a_good_offer_passes() {
        assert_eq!(offer_problems(&good(), &offered()), Vec::<String>::new());
        let mut o = good();
        hotmem(&mut o);
        assert_eq!(offer_problems(&o, &offered()), Vec::<String>::new());
        // With the size of its boot memory: 512 MiB and the pad.
        o.boot_memory_kib = Some((512 << 10) + ldm_qemu::BOOT_MEMORY_PAD_KIB);
        assert_eq!(offer_problems(&o, &offered()), Vec::<String>::new());
        o.boot_memory_kib = Some(1 << 30);
        let p = offer_problems(&o, &offered());
        assert!(p.len() == 1 && p[0].contains("boot memory of"), "{p:?}");
    }

    #[test]
    fn hot_pluggable_memory_must_make_a_machine() {
        type Plant = Box<dyn Fn(&mut DomainOffer)>;
        let cases: Vec<(&str, Plant)> = vec![
            ("boot above memory", Box::new(|o| o.spec.memory_mib = 500)),
            ("no max-memory", Box::new(|o| o.spec.max_memory_mib = None)),
            (
                "max below memory",
                Box::new(|o| o.spec.max_memory_mib = Some(700)),
            ),
            (
                "odd region",
                Box::new(|o| o.spec.max_memory_mib = Some(2049)),
            ),
            ("odd request", Box::new(|o| o.spec.memory_mib = 769)),
        ];
        for (what, plant) in cases {
            let mut o = good();
            hotmem(&mut o);
            plant(&mut o);
            let p = offer_problems(&o, &offered());
            assert_eq!(p.len(), 1, "{what}: {p:?}");
            assert!(p[0].contains("boot memory"), "{what}: {p:?}");
        }
        let mut o = good();
        hotmem(&mut o);
        o.spec.max_memory_mib = Some(u64::MAX);
        assert!(!offer_problems(&o, &offered()).is_empty());
    }

    #[test]
    fn each_planted_field_is_refused() {
        type Plant = Box<dyn Fn(&mut DomainOffer)>;
        let cases: Vec<(&str, Plant)> = vec![
            ("primary", Box::new(|o| o.spec.name = "primary".into())),
            ("../", Box::new(|o| o.spec.name = "../v".into())),
            ("newline", Box::new(|o| o.spec.name = "a\nldg9".into())),
            ("0 vCPUs", Box::new(|o| o.spec.vcpus = 0)),
            ("256 vCPUs", Box::new(|o| o.spec.vcpus = 256)),
            ("memory", Box::new(|o| o.spec.memory_mib = u64::MAX)),
            ("tiny memory", Box::new(|o| o.spec.memory_mib = 1)),
            (
                "downtime",
                Box::new(|o| o.spec.migration.downtime_ms = Some(u64::MAX)),
            ),
            (
                "bandwidth",
                Box::new(|o| o.spec.migration.bandwidth_mib = Some(1 << 44)),
            ),
            (
                "relative kernel",
                Box::new(|o| o.spec.vars.kernel = Some("vmlinuz".into())),
            ),
            (
                "boot-args",
                Box::new(|o| o.spec.vars.boot_args = Some("a\nb".into())),
            ),
            (
                "machine injection",
                Box::new(|o| o.machine_type = Some("pc-i440fx-10.0,firmware=/etc/shadow".into())),
            ),
            (
                "machine unknown",
                Box::new(|o| o.machine_type = Some("q35".into())),
            ),
            (
                "cpu injection",
                Box::new(|o| o.cpu_model = Some("max,+vmx".into())),
            ),
            ("cpu fact", Box::new(|o| o.source_cpu = "x\ny".into())),
            ("vcpu slots", Box::new(|o| o.spec.max_vcpus = Some(1000))),
            (
                "fewer slots than vcpus",
                Box::new(|o| {
                    o.spec.vcpus = 4;
                    o.spec.max_vcpus = Some(2)
                }),
            ),
        ];
        for (what, plant) in cases {
            let mut o = good();
            plant(&mut o);
            let p = offer_problems(&o, &offered());
            assert_eq!(p.len(), 1, "{what}: {p:?}");
            assert!(
                !p[0].contains('\n'),
                "{what}: the refusal repeats the newline"
            );
        }
    }

    #[test]
    fn without_a_qemu_list_only_the_syntax_counts() {
        let mut o = good();
        o.machine_type = Some("q35".into());
        assert!(offer_problems(&o, &Offered::default()).is_empty());
        o.machine_type = Some("q35,x=y".into());
        assert_eq!(offer_problems(&o, &Offered::default()).len(), 1);
    }

    #[test]
    fn tuning_ranges() {
        let ok = MigrationTuning::default();
        assert!(tuning_problems(&ok).is_empty());
        let mut t = ok.clone();
        t.downtime_limit_ms = u64::MAX;
        t.max_bandwidth_bytes = u64::MAX;
        t.tls_creds = Some("obj".into());
        assert_eq!(tuning_problems(&t).len(), 3);
    }
}

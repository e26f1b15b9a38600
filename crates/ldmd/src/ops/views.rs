//! What `ldm list`, `list-devices` and the host view show.

use crate::daemon::{now_secs, ClaimKind, Daemon, Domain, Table};
use crate::db_storage::VdsdevRow;
use crate::resources::usage;
use ldm_api::domain::MachineView;
use ldm_api::flags::{MigrationRole, Reconf, Status};
use ldm_api::migration::Role;
use ldm_api::storage::DiskView;
use ldm_api::{DomainView, Flags, HostView};

/// A domain's disks, with their back ends on this host (`vols`).
fn disk_views(dom: &Domain, vols: &[VdsdevRow]) -> Vec<DiskView> {
    dom.rec
        .spec
        .disks
        .iter()
        .zip(0u32..)
        .map(|(k, id)| {
            let row = vols
                .iter()
                .find(|v| v.volume == k.volume && v.service == k.service);
            DiskView {
                name: k.name.clone(),
                volume: k.volume_ref(),
                id,
                server: "primary".into(),
                backend: row.map(|r| r.backend.clone()),
                readonly: row.is_some_and(|r| r.readonly),
            }
        })
        .collect()
}

/// NORM: a domain's UTIL (a share of its own vCPUs) as a share of all the
/// host's CPUs.
fn norm(util: Option<f64>, vcpus: u32, host_cpus: u32) -> Option<f64> {
    util.map(|u| (u * vcpus as f64 / host_cpus.max(1) as f64).min(100.0))
}

/// Which copy runs the guest of a move in post-copy, as listings say it:
/// the state shown and the line for `ldm list -l` when no error note
/// says more. The target's copy runs the guest (`active`, though its
/// record stays bound until the move completes); the source's is paused
/// for good (`suspended`) and only sends memory.
fn postcopy_view(dom: &Domain) -> Option<(ldm_api::DomainState, String)> {
    use crate::migration::source::machine::State as S;
    use crate::migration::target::machine::State as T;
    use crate::record::MachineState as M;
    let mark = dom.rec.migration.as_ref()?;
    dom.rt.as_ref()?;
    // A copy whose QEMU failed in the switch never ran the guest.
    let failed_in_switch = mark
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with(crate::migration::target::LOST_IN_SWITCH));
    match mark.state.as_ref()? {
        M::Target(T::Stranded { .. }) if failed_in_switch => None,
        M::Target(T::Postcopy | T::Stranded { .. } | T::Recovering) => Some((
            ldm_api::DomainState::Active,
            format!(
                "post-copy from {}: the guest runs here while the rest of its memory arrives",
                mark.peer
            ),
        )),
        M::Source(S::Postcopy | S::PostcopyDone | S::PostcopyPaused { .. }) => Some((
            ldm_api::DomainState::Suspended,
            format!(
                "post-copy to {}: the guest runs there (from the moment its device state has arrived); this copy is paused for good, sends it the rest of its memory and goes once the move completes",
                mark.peer
            ),
        )),
        _ => None,
    }
}

/// The row of one domain; `vols` are this host's volumes, `host_cpus` the
/// host's CPUs (for NORM).
pub fn domain_view(dom: &Domain, vols: &[VdsdevRow], host_cpus: u32) -> DomainView {
    let rec = &dom.rec;
    let op = dom
        .migration()
        .map(|b| b.view.lock().unwrap_or_else(|p| p.into_inner()).clone());
    let migration = match (&op, &rec.migration) {
        (_, Some(m)) if m.error.is_some() => MigrationRole::Error,
        (Some(o), _) => match o.role {
            Role::Source => MigrationRole::Source,
            Role::Target => MigrationRole::Target,
        },
        _ => MigrationRole::None,
    };
    let postcopy = postcopy_view(dom);
    // Oracle's column 1 (`s`) and status `t` while a start or stop runs.
    let changing = matches!(
        dom.claim.as_ref().map(|c| &c.kind),
        Some(ClaimKind::Start | ClaimKind::Stop)
    );
    let flags = Flags {
        starting_stopping: changing,
        status: if changing {
            Status::Transition
        } else if rec.state.has_process() && migration != MigrationRole::Target
            || postcopy
                .as_ref()
                .is_some_and(|(s, _)| *s == ldm_api::DomainState::Active)
        {
            Status::Normal
        } else {
            Status::None
        },
        reconf: if matches!(
            dom.claim.as_ref().map(|c| &c.kind),
            Some(crate::claim::ClaimKind::MemoryDr(_))
        ) {
            Reconf::MemoryDr
        } else if rec.pending.is_empty() {
            Reconf::None
        } else {
            Reconf::Delayed
        },
        control: false,
        vio_service: false,
        migration,
    };
    let running = rec.state.has_process() && dom.rt.is_some();
    let util = dom.rt.as_ref().filter(|_| running).map(|r| r.util);
    DomainView {
        name: rec.spec.name.clone(),
        state: postcopy.as_ref().map_or(rec.state, |(s, _)| *s),
        flags,
        cons: rec.binding.as_ref().map(|b| b.console_port.to_string()),
        vcpus: rec.spec.vcpus,
        memory_mib: rec.spec.memory_mib,
        util,
        norm: norm(util, rec.spec.vcpus, host_cpus),
        uptime_secs: rec
            .started_at
            .filter(|_| rec.state.has_process())
            .map(|s| now_secs().saturating_sub(s)),
        uuid: rec.spec.uuid.to_string(),
        cpu_arch: rec.spec.cpu_arch,
        vars: rec.spec.vars.clone(),
        machine: rec.binding.as_ref().map(|b| MachineView {
            machine_type: b.machine_type.clone(),
            cpu_model: b.cpu_model.clone(),
            accel: b.accel.clone(),
            pid: dom.rt.as_ref().map(|r| r.pid),
        }),
        operation: op,
        note: rec
            .migration
            .as_ref()
            .and_then(|m| m.error.clone())
            .or_else(|| postcopy.map(|(_, n)| n)),
        disks: disk_views(dom, vols),
        networks: Vec::new(),
        max_vcpus: rec.spec.max_vcpus,
        max_memory_mib: rec.spec.max_memory_mib,
        pending: rec.pending.describe(),
    }
}

fn host_uptime() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|v| v as u64)
        .unwrap_or(0)
}

fn host_util(cpus: u32) -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|l| (l / cpus.max(1) as f64 * 100.0).min(100.0))
        .unwrap_or(0.0)
}

/// The primary (control) domain: what the host keeps for itself (its
/// vCPUs for migrations, the memory ldmd does not give to domains).
pub fn primary_view(d: &Daemon) -> DomainView {
    let util = host_util(d.inv.host_cpus);
    DomainView {
        name: "primary".into(),
        state: ldm_api::DomainState::Active,
        flags: Flags {
            status: Status::Normal,
            control: true,
            vio_service: true,
            ..Default::default()
        },
        cons: Some("UART".into()),
        vcpus: d.primary_vcpus(),
        memory_mib: crate::inventory::host_memory_mib().saturating_sub(d.inv.memory_mib),
        util: Some(util),
        // The host's load is already a share of all its CPUs.
        norm: Some(util),
        uptime_secs: Some(host_uptime()),
        uuid: String::new(),
        cpu_arch: ldm_api::CpuArch::Native,
        vars: Default::default(),
        machine: None,
        operation: None,
        note: None,
        disks: Vec::new(),
        networks: Vec::new(),
        max_vcpus: None,
        max_memory_mib: None,
        pending: Vec::new(),
    }
}

/// The host and what is free on it.
pub fn host_view(d: &Daemon, t: &Table) -> HostView {
    let u = usage(t, None);
    HostView {
        hostname: d.inv.hostname.clone(),
        vcpus_total: d.inv.vcpus,
        vcpus_free: d.inv.vcpus.saturating_sub(u.vcpus_used),
        memory_total_mib: d.inv.memory_mib,
        memory_free_mib: d.inv.memory_mib.saturating_sub(u.memory_used_mib),
        primary_vcpus: d.primary_vcpus(),
        accel: d.inv.accel.to_string(),
        cpu_model: d.inv.cpu_model.clone(),
        qemu_path: d
            .inv
            .qemu
            .as_ref()
            .ok()
            .map(|q| q.path.display().to_string()),
        qemu_version: d.inv.qemu.as_ref().ok().map(|q| q.version_string()),
        qemu_problem: d.inv.qemu.as_ref().err().cloned(),
        listen: d.cfg.listen.map(|a| a.to_string()),
        fingerprint: Some(d.identity.fingerprint().to_string()),
        uptime_secs: d.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: Some(ldm_api::LOCAL_API_VERSION),
        peer_protocol: Some(crate::migration::protocol::PROTOCOL_VERSION),
    }
}

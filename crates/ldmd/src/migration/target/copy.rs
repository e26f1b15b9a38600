//! The target copy of a migration: phase 2 (the domain created bound, a
//! live one with an incoming QEMU that stays paused and a data listener),
//! the resume on `Commit`, and its destruction on rollback.

use super::backends::{self, Helper};
use crate::daemon::{Busy, ClaimGuard, ClaimKind, Daemon, Domain};
use crate::error::{refuse, Result};
use crate::migration::checks::{check, facts};
use crate::migration::deadline::Wait;
use crate::migration::protocol::DomainOffer;
use crate::migration::tunnel::{self, Endpoint, Tunnel};
use crate::ops::machine::{kill_qemu, launch, QmpGuard};
use crate::record::{Binding, DomainRecord, MigrationMark};
use crate::resources::pick_port;
use ldm_api::migration::{Phase, Role};
use ldm_api::{DomainState, ErrorKind};
use ldm_qemu::{MigrationTuning, RunState};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// The copy this session made.
pub(super) struct Created {
    pub(super) name: String,
    /// Holds the target copy until it is committed or the session ends.
    pub(super) claim: Option<ClaimGuard>,
    /// The encrypted channels of a live migration, open until the end.
    pub(super) _tunnel: Option<Tunnel>,
    pub(super) state: DomainState,
    pub(super) started_at: Option<u64>,
    /// The disks are copied here (`--copy-storage`): their number.
    pub(super) copied_disks: Option<usize>,
    /// The NBD server of a cold storage copy.
    pub(super) helper: Option<Helper>,
}

/// What phase 2 made: the data endpoint and listener, the claim, and the
/// NBD helper of a cold storage copy.
pub(super) type PrepareResult = (Option<Endpoint>, Option<Tunnel>, ClaimGuard, Option<Helper>);

impl Created {
    /// Whether the domain runs (a live migration with an incoming QEMU).
    fn live(&self) -> bool {
        self.state == DomainState::Active
    }
}

/// Phase 2: create the domain bound and, for a live migration, an incoming
/// QEMU listening for this migration only, with fresh TLS credentials.
pub(super) async fn prepare(
    d: &Arc<Daemon>,
    offer: DomainOffer,
    tuning: MigrationTuning,
    source: &str,
    local_ip: IpAddr,
    mark: MigrationMark,
) -> Result<PrepareResult> {
    let live = offer.state == DomainState::Active;
    let name = offer.spec.name.clone();
    let volumes = crate::migration::checks::read_volumes(d, &offer);
    let copies = volumes.1.clone();
    let cpu_fit = crate::migration::cpucheck::fit(d, &offer).await;
    let ifaces = crate::migration::checks::interface_macs(d).await;
    let (rec, claim) = {
        let mut t = d.table();
        let mut f = facts(d, &t, &offer);
        f.macs.extend(ifaces);
        crate::migration::checks::add_volumes(&mut f, volumes, &offer, &t);
        f.source = source.to_string();
        f.cpu_fit = cpu_fit;
        let mut v = check(&offer, &f);
        v.failures
            .extend(crate::migration::validate::tuning_problems(&tuning));
        if !v.failures.is_empty() {
            return Err(refuse(ErrorKind::Migration, v.failures.join("; ")));
        }
        let binding = if offer.state == DomainState::Inactive {
            None
        } else {
            Some(Binding {
                console_port: pick_port(&t, &d.db.vccs()?, d.cfg.console_addr)?,
                machine_type: offer
                    .machine_type
                    .clone()
                    .unwrap_or_else(|| crate::ops::machine::MACHINE_TYPE.into()),
                cpu_model: offer
                    .cpu_model
                    .clone()
                    .unwrap_or_else(|| d.inv.cpu_model_for(offer.spec.cpu_arch)),
                accel: d.inv.accel.to_string(),
                // The source's machine, pad and all (checked with the offer).
                boot_pad_kib: crate::ops::hotmem::offered_pad(&offer.spec, offer.boot_memory_kib)
                    .ok()
                    .flatten(),
            })
        };
        let mut spec = offer.spec.clone();
        if offer.state != DomainState::Active && spec.max_vcpus.is_none() {
            spec.max_vcpus = Some(crate::ops::define::default_max_vcpus(d).max(spec.vcpus));
        }
        let rec = DomainRecord {
            spec,
            state: if offer.state == DomainState::Inactive {
                DomainState::Inactive
            } else {
                DomainState::Bound
            },
            binding,
            started_at: None,
            migration: Some(mark),
            pending: Default::default(),
        };
        d.db.put_domain(&rec)?;
        let (cancel, _) = watch::channel(false);
        let busy = Busy {
            view: Busy::view(Role::Target, source.to_string(), Phase::Prepare, 0),
            cancel,
        };
        let claim = ClaimGuard::insert(
            &d.table,
            &mut t,
            Domain::new(rec.clone()),
            ClaimKind::Migration(busy),
        );
        (rec, claim)
    };
    // A bound copy has its taps, on the switches of the same names, with
    // the vnets' own MACs, before its QEMU needs them.
    let taps = crate::ops::vnet::ensure_taps(d, &rec).await;
    if !live && !offer.copy_storage && taps.is_ok() {
        return Ok((None, None, claim, None));
    }
    // On failure the session rolls the copy back while the claim still
    // holds it.
    let started = async {
        taps?;
        let dir = d.paths.migration_dir(&rec.spec.uuid);
        if !offer.copy_storage {
            let (ep, tunnel) = start_incoming(d, &rec, &tuning, local_ip, false).await?;
            return Ok((Some(ep), Some(tunnel), None));
        }
        let made = backends::prepare(&dir, &offer.volumes, &copies)?;
        if live {
            let (ep, tunnel) = start_incoming(d, &rec, &tuning, local_ip, true).await?;
            return Ok((Some(ep), Some(tunnel), None));
        }
        let disks = copies
            .iter()
            .zip(&offer.volumes)
            .filter_map(|(c, v)| c.destination().map(|(p, _)| (p.to_string(), v.format)))
            .collect::<Vec<_>>();
        tracing::debug!(made = made.len(), "cold storage copy: back ends ready");
        let helper = Helper::start(&dir, &disks).await?;
        let nbd = backends::nbd_socket(&dir);
        let (tunnel, ep) = tunnel::listen(local_ip, dir.join("in.sock"), Some(nbd)).await?;
        Ok::<_, crate::error::Error>((Some(ep), Some(tunnel), Some(helper)))
    };
    match started.await {
        Ok((ep, tunnel, helper)) => Ok((ep, tunnel, claim, helper)),
        Err(e) => {
            rollback(
                d,
                &name,
                &rec.migration
                    .as_ref()
                    .map(|m| m.id.clone())
                    .unwrap_or_default(),
            )
            .await;
            drop(claim);
            Err(e)
        }
    }
}

/// The incoming QEMU of a live migration, listening for this migration
/// only, and the encrypted data listener in front of it.
async fn start_incoming(
    d: &Arc<Daemon>,
    rec: &DomainRecord,
    tuning: &MigrationTuning,
    local_ip: IpAddr,
    copy_storage: bool,
) -> Result<(Endpoint, Tunnel)> {
    let name = rec.spec.name.clone();
    let _ = std::fs::remove_file(d.paths.console_log(&rec.spec.uuid));
    let rt = launch(d, rec, true).await?;
    let qmp = rt.qmp.clone();
    {
        let mut t = d.table();
        if let Some(dom) = t.get_mut(&name) {
            dom.rt = Some(rt);
        }
    }
    let dir = d.paths.migration_dir(&rec.spec.uuid);
    private_dir(&dir)?;
    let incoming = dir.join("in.sock");
    let mut g = QmpGuard::lock(&qmp, &d.paths.qmp_socket(&rec.spec.uuid)).await?;
    tuning.apply(g.q()).await?;
    g.q()
        .migrate_incoming(&format!("unix:{}", incoming.display()), false)
        .await?;
    // A storage copy: the disks' nodes, writable over NBD on a socket in
    // the private directory, reached only through the tunnel.
    let nbd = if copy_storage {
        let socket = backends::nbd_socket(&dir);
        g.q().nbd_server_start(&socket.to_string_lossy()).await?;
        for i in 0..rec.spec.disks.len() {
            g.q().nbd_export_writable(&backends::node(i)).await?;
        }
        Some(socket)
    } else {
        None
    };
    let (tunnel, ep) = tunnel::listen(local_ip, incoming, nbd).await?;
    tracing::info!(domain = %name, addr = %ep.addr, "incoming migration listening");
    Ok((ep, tunnel))
}

/// The migration's directory, made private to ldmd.
pub(super) fn private_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io("migration directory", e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| crate::error::Error::io("migration directory", e))
}

/// Phase 5 on the target: wait until the incoming QEMU has everything and
/// resume it; returns the time spent waiting for the load and the time
/// `cont` took, ms, and of it until QEMU's `RESUME` event.
pub(super) async fn resume(
    d: &Arc<Daemon>,
    c: &Created,
    console_tail: &str,
) -> Result<(u64, u64, Option<u64>)> {
    let mut steps = (0, 0, None);
    let (qmp, uuid, vnets) = {
        let t = d.table();
        let dom = t
            .get(&c.name)
            .ok_or_else(|| crate::daemon::not_found(&c.name))?;
        if let Some(rt) = &dom.rt {
            // The console continues where the source's stopped.
            rt.console.preload(console_tail.as_bytes());
            let _ = std::fs::write(
                d.paths.console_log(&dom.rec.spec.uuid),
                console_tail.as_bytes(),
            );
        }
        (
            dom.rt.as_ref().map(|r| r.qmp.clone()),
            dom.rec.spec.uuid,
            !dom.rec.spec.networks.is_empty(),
        )
    };
    if c.live() {
        let qmp = qmp.ok_or_else(|| refuse(ErrorKind::Hypervisor, "the incoming QEMU is gone"))?;
        let mut g = QmpGuard::lock(&qmp, &d.paths.qmp_socket(&uuid)).await?;
        let t = Instant::now();
        let st = g.q().wait_loaded(Wait::IncomingLoad.get()).await?;
        steps.0 = t.elapsed().as_millis() as u64;
        match st.status {
            RunState::Paused | RunState::Prelaunch | RunState::Running => {}
            other => {
                return Err(refuse(
                    ErrorKind::Hypervisor,
                    format!("the incoming QEMU is {other}, not ready to resume"),
                ))
            }
        }
        if let Some(n) = c.copied_disks {
            // The source completed its mirrors before it sent the final
            // state: nobody may write the disks but the guest from here.
            let nodes: Vec<String> = (0..n).map(backends::node).collect();
            g.q().nbd_server_stop(&nodes).await?;
        }
        let (t, wall) = (Instant::now(), std::time::SystemTime::now());
        g.q().cont().await?;
        steps.1 = t.elapsed().as_millis() as u64;
        steps.2 = resume_event_ms(g.q().take_events(), wall);
        if vnets {
            // Switches learn at once where the guest now is, instead of
            // when it next sends (QEMU repeats it in the background).
            match g
                .q()
                .announce_self(&ldm_qemu::AnnounceSelf::default())
                .await
            {
                Ok(()) => tracing::info!(domain = %c.name, "guest's location announced"),
                Err(e) => tracing::warn!(domain = %c.name, "announce-self failed: {e}"),
            }
        }
    }
    Ok(steps)
}

/// Milliseconds from `sent` to QEMU's `RESUME` event among `events`, by
/// QEMU's timestamp.
fn resume_event_ms(events: Vec<ldm_qemu::QmpEvent>, sent: std::time::SystemTime) -> Option<u64> {
    let ts = events.iter().find(|e| e.event == "RESUME")?.timestamp?;
    let at = std::time::UNIX_EPOCH
        + std::time::Duration::new(ts.seconds.try_into().ok()?, 0)
        + std::time::Duration::from_micros(ts.microseconds.try_into().ok()?);
    Some(at.duration_since(sent).ok()?.as_millis() as u64)
}

/// Records the domain as this host's: running with the UPTIME it had on
/// the source (a live move), or as it was (a cold one); no migration. The
/// claim goes with it.
pub(super) async fn record_master(d: &Arc<Daemon>, c: &mut Created) -> Result<()> {
    let claim = c.claim.take();
    let mut t = d.table();
    let dom = t
        .get_mut(&c.name)
        .ok_or_else(|| crate::daemon::not_found(&c.name))?;
    // A copy kept across a restart of this ldmd is recorded active already.
    let stored = if c.live() && dom.rec.state == DomainState::Bound {
        let arrive = ldm_api::state::Transition::Arrive;
        crate::lifecycle::transition(&d.db, dom, arrive, |rec| {
            rec.started_at = c.started_at;
            rec.migration = None;
        })
    } else {
        let mut rec = dom.rec.clone();
        rec.migration = None;
        if c.live() && rec.started_at.is_none() {
            rec.started_at = c.started_at;
        }
        crate::daemon::commit(&d.db, dom, rec)
    };
    drop(t);
    drop(claim);
    tracing::info!(domain = %c.name, "migration committed: this host now runs the domain");
    stored
}

/// Removes this migration's runtime files once the domain runs here.
pub(super) async fn cleanup_migration_files(d: &Arc<Daemon>, name: &str) {
    let uuid = {
        let t = d.table();
        t.get(name).map(|dom| dom.rec.spec.uuid)
    };
    if let Some(uuid) = uuid {
        let _ = std::fs::remove_dir_all(d.paths.migration_dir(&uuid));
    }
}

/// Destroys the target copy that migration `id` made under `name`. Only
/// that copy: a domain of the same name that is not the target copy of
/// this very migration (a local domain, or another session's copy) is
/// left alone, whatever a session that failed to prepare asks.
pub async fn rollback(d: &Arc<Daemon>, name: &str, id: &str) {
    if id.is_empty() {
        return;
    }
    let taken = {
        let mut t = d.table();
        let ours = t.get(name).is_some_and(|dom| {
            dom.rec
                .migration
                .as_ref()
                .is_some_and(|m| m.role == Role::Target && m.id == id)
        });
        if !ours {
            return;
        }
        let dom = t.remove(name).expect("checked above");
        if let Err(e) = d.db.delete_domain(name) {
            tracing::error!(
                domain = name,
                "cannot delete the target copy from the database: {e}"
            );
        }
        dom
    };
    let uuid = taken.rec.spec.uuid;
    if let Some(rt) = taken.rt {
        kill_qemu(&rt.qmp, &d.paths.qmp_socket(&uuid), rt.pid).await;
    }
    // Nothing writes the copied back ends any more: give them back.
    backends::undo(&d.paths.migration_dir(&uuid));
    let _ = std::fs::remove_dir_all(d.paths.migration_dir(&uuid));
    // Its taps go with it.
    crate::net::sync(d).await;
    d.metrics
        .migration(Role::Target, crate::metrics::Outcome::RolledBack, None);
    tracing::info!(domain = name, "target copy destroyed");
}

/// The domain's QMP connection and socket here.
pub(super) fn qmp_of(
    d: &Arc<Daemon>,
    name: &str,
) -> Result<(
    Arc<tokio::sync::Mutex<Option<ldm_qemu::Qmp>>>,
    std::path::PathBuf,
)> {
    let t = d.table();
    let dom = t.get(name).ok_or_else(|| crate::daemon::not_found(name))?;
    let rt = dom
        .rt
        .as_ref()
        .ok_or_else(|| refuse(ErrorKind::Hypervisor, "the incoming QEMU is gone"))?;
    Ok((rt.qmp.clone(), d.paths.qmp_socket(&dom.rec.spec.uuid)))
}

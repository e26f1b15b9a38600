//! The target side of a migration: one session per authenticated source.
//! It creates the domain bound (phase 2), starts an incoming QEMU that stays
//! paused, and resumes it only on the source's `Commit` (phase 5). Any end of
//! the session before `Commit` destroys the target copy.

pub mod machine;

use super::checks::{check, facts};
use super::protocol::{DomainOffer, ToSource, ToTarget};
use super::tunnel::{self, Tunnel};
use crate::daemon::{Busy, ClaimGuard, ClaimKind, Daemon, Domain};
use crate::error::{refuse, Result};
use crate::metrics::Outcome;
use crate::ops::machine::{kill_qemu, launch, QmpGuard};
use crate::record::{Binding, DomainRecord, MigrationMark};
use crate::resources::pick_port;
use ldm_api::migration::{OperationView, Phase, Role};
use ldm_api::{DomainState, ErrorKind};
use ldm_peer::Framed;
use ldm_qemu::{MigrationTuning, RunState};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// A test hook: with `LDMD_TEST_FAULT=drop-after-resume` the target resumes
/// the domain and then drops the connection without confirming, as a network
/// failure at the worst moment would.
fn fault(name: &str) -> bool {
    std::env::var("LDMD_TEST_FAULT").is_ok_and(|v| v == name)
}

struct Created {
    name: String,
    /// Holds the target copy until it is committed or the session ends.
    claim: Option<ClaimGuard>,
    /// The encrypted channels of a live migration, open until the end.
    _tunnel: Option<Tunnel>,
    state: DomainState,
    started_at: Option<u64>,
}

impl Created {
    /// Whether the domain runs (a live migration with an incoming QEMU).
    fn live(&self) -> bool {
        self.state == DomainState::Active
    }
}

/// Serves one source after authentication.
pub async fn session<S>(d: Arc<Daemon>, mut ch: Framed<S>, source: String, local_ip: IpAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut created: Option<Created> = None;
    loop {
        let msg = match ch.recv::<ToTarget>().await {
            Ok(Some(m)) => m,
            end => {
                if let Err(e @ ldm_peer::Error::Decode(_)) = &end {
                    // A field that does not decode (a malformed UUID, an
                    // unknown state) is refused in so many words.
                    let message = format!("the target refused a message: {e}");
                    let _ = ch.send(&ToSource::Error { message }).await;
                }
                if let Some(c) = &created {
                    tracing::warn!(domain = %c.name, "source went away before the hand-off: destroying the target copy");
                    rollback(&d, &c.name).await;
                }
                return;
            }
        };
        let reply = match msg {
            ToTarget::Check(offer) => {
                // The back ends are read before the table is taken.
                let volumes = super::volumes::facts(&d, &offer.volumes);
                let t = d.table();
                let mut f = facts(&d, &t, &offer);
                f.volumes = volumes;
                super::volumes::mark_in_use(&mut f.volumes, &offer.volumes, &t);
                f.source = source.clone();
                let v = check(&offer, &f);
                ToSource::Checked {
                    failures: v.failures,
                    warnings: v.warnings,
                }
            }
            ToTarget::Prepare {
                offer,
                started_at,
                tuning,
            } => {
                if created.is_some() {
                    ToSource::Error {
                        message: "a domain was already prepared in this session".into(),
                    }
                } else {
                    let name = offer.spec.name.clone();
                    let state = offer.state;
                    match prepare(&d, offer, tuning, &source, local_ip).await {
                        Ok((reply, tunnel, claim)) => {
                            created = Some(Created {
                                name,
                                claim: Some(claim),
                                _tunnel: tunnel,
                                state,
                                started_at,
                            });
                            crate::testhook::hold("target-prepared").await;
                            reply
                        }
                        Err(e) => {
                            rollback(&d, &name).await;
                            ToSource::Error {
                                message: e.to_string(),
                            }
                        }
                    }
                }
            }
            ToTarget::Progress { phase, percent } => {
                if let Some(c) = &created {
                    let t = d.table();
                    if let Some(b) = t.get(&c.name).and_then(|dom| dom.migration()) {
                        let mut v = b.view.lock().unwrap_or_else(|p| p.into_inner());
                        v.phase = phase;
                        v.progress = percent;
                    }
                }
                continue;
            }
            ToTarget::Commit { console_tail } => {
                let Some(mut c) = created.take() else {
                    let _ = ch
                        .send(&ToSource::Error {
                            message: "nothing to commit".into(),
                        })
                        .await;
                    return;
                };
                crate::testhook::hold("target-commit").await;
                match commit(&d, &c, &console_tail).await {
                    Ok(resumed_after_ms) => {
                        // The domain is this host's now: free for any verb.
                        c.claim.take();
                        d.metrics.migration(Role::Target, Outcome::Completed, None);
                        crate::testhook::hold("target-committed").await;
                        if fault("drop-after-resume") {
                            tracing::warn!("test fault: dropping the connection before confirming");
                            return;
                        }
                        let _ = ch.send(&ToSource::Committed { resumed_after_ms }).await;
                        cleanup_migration_files(&d, &c.name).await;
                    }
                    Err(e) => {
                        rollback(&d, &c.name).await;
                        let _ = ch
                            .send(&ToSource::Error {
                                message: format!("the target could not resume the domain: {e}"),
                            })
                            .await;
                    }
                }
                return;
            }
            ToTarget::Abort { reason } => {
                if let Some(c) = &created {
                    tracing::info!(domain = %c.name, %reason, "migration aborted by the source");
                    rollback(&d, &c.name).await;
                }
                let _ = ch.send(&ToSource::Aborted).await;
                return;
            }
            ToTarget::Hello { .. } | ToTarget::Auth { .. } => ToSource::Error {
                message: "unexpected message".into(),
            },
        };
        if ch.send(&reply).await.is_err() {
            if let Some(c) = &created {
                rollback(&d, &c.name).await;
            }
            return;
        }
    }
}

/// Phase 2: create the domain bound and, for a live migration, an incoming
/// QEMU listening for this migration only, with fresh TLS credentials.
async fn prepare(
    d: &Arc<Daemon>,
    offer: DomainOffer,
    tuning: MigrationTuning,
    source: &str,
    local_ip: IpAddr,
) -> Result<(ToSource, Option<Tunnel>, ClaimGuard)> {
    let live = offer.state == DomainState::Active;
    let name = offer.spec.name.clone();
    let volumes = super::volumes::facts(d, &offer.volumes);
    let (rec, claim) = {
        let mut t = d.table();
        let mut f = facts(d, &t, &offer);
        f.volumes = volumes;
        super::volumes::mark_in_use(&mut f.volumes, &offer.volumes, &t);
        f.source = source.to_string();
        let mut v = check(&offer, &f);
        v.failures.extend(super::validate::tuning_problems(&tuning));
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
            })
        };
        let rec = DomainRecord {
            spec: offer.spec.clone(),
            state: if offer.state == DomainState::Inactive {
                DomainState::Inactive
            } else {
                DomainState::Bound
            },
            binding,
            started_at: None,
            migration: Some(MigrationMark {
                role: Role::Target,
                peer: source.to_string(),
                error: None,
            }),
        };
        d.db.put_domain(&rec)?;
        let (cancel, _) = watch::channel(false);
        let busy = Busy {
            view: Arc::new(std::sync::Mutex::new(OperationView {
                kind: "migration".into(),
                role: Role::Target,
                peer: source.to_string(),
                phase: Phase::Prepare,
                progress: 0,
            })),
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
    if !live {
        return Ok((ToSource::Prepared { data: None }, None, claim));
    }
    // On failure the session rolls the copy back while the claim still
    // holds it.
    match start_incoming(d, &rec, &tuning, local_ip).await {
        Ok((reply, tunnel)) => Ok((reply, tunnel, claim)),
        Err(e) => {
            rollback(d, &name).await;
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
) -> Result<(ToSource, Option<Tunnel>)> {
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
    std::fs::create_dir_all(&dir).map_err(|e| crate::error::Error::io("migration directory", e))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| crate::error::Error::io("migration directory", e))?;
    let incoming = dir.join("in.sock");
    let mut g = QmpGuard::lock(&qmp, &d.paths.qmp_socket(&rec.spec.uuid)).await?;
    tuning.apply(g.q()).await?;
    g.q()
        .migrate_incoming(&format!("unix:{}", incoming.display()), false)
        .await?;
    let (tunnel, ep) = tunnel::listen(local_ip, incoming).await?;
    tracing::info!(domain = %name, addr = %ep.addr, "incoming migration listening");
    Ok((ToSource::Prepared { data: Some(ep) }, Some(tunnel)))
}

/// Phase 5 on the target: wait until the incoming QEMU has everything,
/// resume it, and record the domain as this host's.
async fn commit(d: &Arc<Daemon>, c: &Created, console_tail: &str) -> Result<u64> {
    let received = Instant::now();
    let (qmp, uuid) = {
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
        (dom.rt.as_ref().map(|r| r.qmp.clone()), dom.rec.spec.uuid)
    };
    if c.live() {
        let qmp = qmp.ok_or_else(|| refuse(ErrorKind::Hypervisor, "the incoming QEMU is gone"))?;
        let mut g = QmpGuard::lock(&qmp, &d.paths.qmp_socket(&uuid)).await?;
        let st = g
            .q()
            .wait_incoming(Duration::from_millis(2), Duration::from_secs(30))
            .await?;
        match st.status {
            RunState::Paused | RunState::Prelaunch | RunState::Running => {}
            other => {
                return Err(refuse(
                    ErrorKind::Hypervisor,
                    format!("the incoming QEMU is {other}, not ready to resume"),
                ))
            }
        }
        g.q().cont().await?;
    }
    let resumed_after_ms = received.elapsed().as_millis() as u64;
    let mut t = d.table();
    let dom = t
        .get_mut(&c.name)
        .ok_or_else(|| crate::daemon::not_found(&c.name))?;
    if c.live() {
        // The copy that was bound here is now the running domain, with the
        // UPTIME it had on the source.
        let arrive = ldm_api::state::Transition::Arrive;
        crate::lifecycle::transition(&d.db, dom, arrive, |rec| {
            rec.started_at = c.started_at;
            rec.migration = None;
        })?;
    } else {
        let mut rec = dom.rec.clone();
        rec.migration = None;
        crate::daemon::commit(&d.db, dom, rec)?;
    }
    tracing::info!(domain = %c.name, resumed_after_ms, "migration committed: this host now runs the domain");
    Ok(resumed_after_ms)
}

/// Removes this migration's runtime files once the domain runs here.
async fn cleanup_migration_files(d: &Arc<Daemon>, name: &str) {
    let uuid = {
        let t = d.table();
        t.get(name).map(|dom| dom.rec.spec.uuid)
    };
    if let Some(uuid) = uuid {
        let _ = std::fs::remove_dir_all(d.paths.migration_dir(&uuid));
    }
}

/// Destroys the target copy of an unfinished migration.
pub async fn rollback(d: &Arc<Daemon>, name: &str) {
    let taken = {
        let mut t = d.table();
        let ours = t.get(name).is_some_and(|dom| {
            dom.rec
                .migration
                .as_ref()
                .is_some_and(|m| m.role == Role::Target)
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
    let _ = std::fs::remove_dir_all(d.paths.migration_dir(&uuid));
    d.metrics.migration(Role::Target, Outcome::RolledBack, None);
    tracing::info!(domain = name, "target copy destroyed");
}

//! The source side of a migration: `ldm migrate-domain` and
//! `ldm cancel-operation migration`. See [`super::protocol`] for the phases.

use super::connect::{connect, Peer};
use super::progress;
use super::protocol::{DomainOffer, ToSource, ToTarget};
use super::tunnel::{self, Endpoint};
use crate::daemon::{get, get_mut_idle, Busy, Daemon};
use crate::error::{refuse, Result};
use crate::ops::machine::{kill_qemu, QmpGuard};
use crate::record::MigrationMark;
use ldm_api::domain::check_domain_name;
use ldm_api::migration::{DryRun, MigrateRequest, OperationView, Phase, Role, Summary};
use ldm_api::{DomainState, ErrorKind, Event, Reply, Response};
use ldm_qemu::{MigrationStatus, MigrationTuning};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Downtime target when neither the command nor the domain sets one, ms.
pub const DEFAULT_DOWNTIME_MS: u64 = 30;
/// How long the source waits for the target's confirmation.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);
/// A migration whose remaining memory has not shrunk for this many progress
/// samples (one a second) is given up.
const STALL_SAMPLES: usize = 120;

/// The migration settings for this domain and request.
pub fn tuning(
    d: &Daemon,
    m: &MigrateRequest,
    prefs: ldm_api::domain::MigrationPrefs,
) -> MigrationTuning {
    MigrationTuning {
        multifd_channels: d.primary_vcpus().clamp(1, 255) as u8,
        max_bandwidth_bytes: m
            .bandwidth_mib
            .or(prefs.bandwidth_mib)
            .map(|b| b * 1024 * 1024)
            .unwrap_or(0),
        downtime_limit_ms: m
            .downtime_ms
            .or(prefs.downtime_ms)
            .unwrap_or(DEFAULT_DOWNTIME_MS),
        zero_page_detection: None,
        tls_creds: None,
        tls_hostname: None,
        auto_converge: true,
        pause_before_switchover: false,
    }
}

fn fail(msg: impl Into<String>) -> crate::error::Error {
    refuse(ErrorKind::Migration, msg)
}

/// `migrate-domain`
pub async fn migrate(
    d: &Arc<Daemon>,
    m: MigrateRequest,
    tx: &mpsc::Sender<Response>,
    gone: watch::Receiver<bool>,
) -> Result<Reply> {
    let t0 = Instant::now();
    let target_name = m.new_name.clone().unwrap_or_else(|| m.name.clone());
    check_domain_name(&target_name).map_err(|e| refuse(ErrorKind::BadRequest, e))?;
    // Phase 1 on this host.
    let mut local_failures = Vec::new();
    let (offer, started_at, prefs) = {
        let t = d.table.lock().await;
        let dom = get(&t, &m.name)?;
        if dom.busy.is_some() {
            local_failures.push(format!(
                "Domain {} has another operation in progress",
                m.name
            ));
        }
        if let Some(mark) = &dom.rec.migration {
            if mark.error.is_some() {
                local_failures.push(format!(
                    "Domain {} is in an error state from an earlier migration: settle it first (see `ldm list -l {}`)",
                    m.name, m.name
                ));
            }
        }
        if dom.rec.state == DomainState::Suspended {
            local_failures.push(format!("Domain {} is suspended and cannot migrate", m.name));
        }
        if dom.rec.state == DomainState::Active && dom.rt.is_none() {
            local_failures.push(format!("Domain {} has no running QEMU to migrate", m.name));
        }
        let mut spec = dom.rec.spec.clone();
        spec.name = target_name.clone();
        let b = dom.rec.binding.as_ref();
        (
            DomainOffer {
                spec,
                state: dom.rec.state,
                machine_type: b.map(|b| b.machine_type.clone()),
                cpu_model: b.map(|b| b.cpu_model.clone()),
                source_accel: b
                    .map(|b| b.accel.clone())
                    .unwrap_or_else(|| d.inv.accel.to_string()),
                source_cpu: d.inv.cpu_model.clone(),
                source_qemu: d.inv.qemu.as_ref().ok().map(|q| q.version_string()),
            },
            dom.rec.started_at,
            dom.rec.spec.migration,
        )
    };
    let _ = tx
        .send(Response::Event(Event::Info {
            message: format!("Phase 1: checking {} against {}:{}", m.name, m.host, m.port),
        }))
        .await;
    let mut peer = connect(d, &m).await?;
    peer.ch
        .send(&ToTarget::Check(offer.clone()))
        .await
        .map_err(lost)?;
    let (mut failures, warnings) = match peer.ch.recv::<ToSource>().await.map_err(lost)? {
        Some(ToSource::Checked { failures, warnings }) => (failures, warnings),
        other => return Err(unexpected(other)),
    };
    local_failures.append(&mut failures);
    let failures = local_failures;
    if m.dry_run {
        let _ = peer
            .ch
            .send(&ToTarget::Abort {
                reason: "dry run".into(),
            })
            .await;
        return Ok(Reply::DryRun(DryRun { failures, warnings }));
    }
    if !failures.is_empty() {
        let _ = peer
            .ch
            .send(&ToTarget::Abort {
                reason: "checks failed".into(),
            })
            .await;
        return Err(fail(failures.join("\n")));
    }
    // Claim the domain for the rest of the migration.
    let (cancel_rx, view) = {
        let mut t = d.table.lock().await;
        let dom = get_mut_idle(&mut t, &m.name)?;
        if dom.rec.state != offer.state {
            return Err(fail(format!(
                "Domain {} changed state during the checks; try again",
                m.name
            )));
        }
        let (cancel, rx) = watch::channel(false);
        let view = Arc::new(std::sync::Mutex::new(OperationView {
            kind: "migration".into(),
            role: Role::Source,
            peer: format!("{}:{}", m.host, m.port),
            phase: Phase::Prepare,
            progress: 0,
        }));
        // Persisted, so that an ldmd restarted mid-migration knows this
        // domain was leaving (see adopt.rs).
        let mut rec = dom.rec.clone();
        rec.migration = Some(MigrationMark {
            role: Role::Source,
            peer: format!("{}:{}", m.host, m.port),
            error: None,
        });
        crate::daemon::commit(&d.db, dom, rec)?;
        dom.busy = Some(Busy {
            view: view.clone(),
            cancel,
        });
        (rx, view)
    };
    let run = Run {
        d: d.clone(),
        m: &m,
        tx,
        view,
        cancel: cancel_rx,
        gone,
        t0,
        warnings,
    };
    let result = if offer.state == DomainState::Active {
        run.live(&mut peer, offer, started_at, tuning(d, &m, prefs))
            .await
    } else {
        run.cold(&mut peer, offer).await
    };
    let mut t = d.table.lock().await;
    if let Some(dom) = t.get_mut(&m.name) {
        dom.busy = None;
        // A migration that ended without an unsettled error leaves no mark.
        if dom
            .rec
            .migration
            .as_ref()
            .is_some_and(|mk| mk.error.is_none())
        {
            let mut rec = dom.rec.clone();
            rec.migration = None;
            if let Err(e) = crate::daemon::commit(&d.db, dom, rec) {
                tracing::error!(domain = %m.name, "cannot clear the migration mark: {e}");
            }
        }
    }
    result
}

/// The target's channel endpoint from the `Prepared` message.
fn endpoint(addr: &str, fingerprint: &str, token: &str) -> Result<Endpoint> {
    let bad = || fail("the target sent a malformed channel endpoint");
    let token: [u8; tunnel::TOKEN_LEN] = hex::decode(token)
        .ok()
        .and_then(|t| t.try_into().ok())
        .ok_or_else(bad)?;
    Ok(Endpoint {
        addr: addr.parse().map_err(|_| bad())?,
        fingerprint: fingerprint.parse().map_err(|_| bad())?,
        token,
    })
}

fn lost(e: ldm_peer::Error) -> crate::error::Error {
    fail(format!("lost the connection to the target: {e}"))
}

fn unexpected(m: Option<ToSource>) -> crate::error::Error {
    match m {
        Some(ToSource::Error { message }) => fail(message),
        None => fail("the target closed the connection"),
        Some(other) => fail(format!("the target answered out of turn: {other:?}")),
    }
}

struct Run<'a> {
    d: Arc<Daemon>,
    m: &'a MigrateRequest,
    tx: &'a mpsc::Sender<Response>,
    view: Arc<std::sync::Mutex<OperationView>>,
    cancel: watch::Receiver<bool>,
    gone: watch::Receiver<bool>,
    t0: Instant,
    warnings: Vec<String>,
}

impl Run<'_> {
    fn cancelled(&self) -> bool {
        *self.cancel.borrow() || *self.gone.borrow()
    }

    async fn report(&self, p: ldm_api::migration::Progress) {
        {
            let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
            v.phase = p.phase;
            v.progress = p.percent;
        }
        let _ = self.tx.send(Response::Event(Event::Progress(p))).await;
    }

    async fn info(&self, message: String) {
        let _ = self.tx.send(Response::Event(Event::Info { message })).await;
    }

    fn summary(
        &self,
        live: bool,
        downtime_ms: u64,
        bytes: u64,
        passes: u64,
        channels: u32,
        rate: f64,
    ) -> Reply {
        Reply::Migrated(Summary {
            name: self.m.name.clone(),
            target_name: self
                .m
                .new_name
                .clone()
                .unwrap_or_else(|| self.m.name.clone()),
            target: format!("{}:{}", self.m.host, self.m.port),
            live,
            total_ms: self.t0.elapsed().as_millis() as u64,
            downtime_ms,
            bytes_sent: bytes,
            passes,
            channels,
            rate_mib_s: rate,
            qemu_ms: 0,
            setup_ms: 0,
            bulk_rate_mib_s: 0.0,
            warnings: self.warnings.clone(),
        })
    }

    /// A bound or inactive domain: only its definition and binding move.
    async fn cold(&self, peer: &mut Peer, offer: DomainOffer) -> Result<Reply> {
        self.info(format!(
            "Phase 2: creating {} on the target",
            offer.spec.name
        ))
        .await;
        peer.ch
            .send(&ToTarget::Prepare {
                offer,
                started_at: None,
                tuning: MigrationTuning::default(),
            })
            .await
            .map_err(lost)?;
        match peer.ch.recv::<ToSource>().await.map_err(lost)? {
            Some(ToSource::Prepared { .. }) => {}
            other => return Err(unexpected(other)),
        }
        if self.cancelled() {
            let _ = peer
                .ch
                .send(&ToTarget::Abort {
                    reason: "cancelled".into(),
                })
                .await;
            return Err(refuse(ErrorKind::Cancelled, "migration cancelled"));
        }
        self.info("Phase 5: handing over".into()).await;
        let sent = peer
            .ch
            .send(&ToTarget::Commit {
                console_tail: String::new(),
            })
            .await
            .is_ok();
        let reply = if sent {
            tokio::time::timeout(COMMIT_TIMEOUT, peer.ch.recv::<ToSource>()).await
        } else {
            Ok(Ok(None))
        };
        match reply {
            Ok(Ok(Some(ToSource::Committed { .. }))) => {
                let mut t = self.d.table.lock().await;
                self.d.db.delete_domain(&self.m.name)?;
                t.remove(&self.m.name);
                Ok(self.summary(false, 0, 0, 0, 0, 0.0))
            }
            Ok(Ok(Some(ToSource::Error { message }))) => Err(fail(message)),
            _ => {
                let note = format!(
                    "The migration to {}:{} lost its connection while handing over. If `ldm list` on {} shows this domain, remove it here (`ldm unbind-domain` if bound, then `ldm remove-domain {}`); otherwise clear this state with `ldm cancel-operation migration {}`.",
                    self.m.host, self.m.port, self.m.host, self.m.name, self.m.name
                );
                self.mark_error(&note, false).await?;
                Err(fail(note))
            }
        }
    }

    async fn mark_error(&self, note: &str, suspended: bool) -> Result<()> {
        let mut t = self.d.table.lock().await;
        let Some(dom) = t.get_mut(&self.m.name) else {
            return Ok(());
        };
        let mut rec = dom.rec.clone();
        if suspended {
            rec.state = DomainState::Suspended;
        }
        rec.migration = Some(MigrationMark {
            role: Role::Source,
            peer: format!("{}:{}", self.m.host, self.m.port),
            error: Some(note.to_string()),
        });
        crate::daemon::commit(&self.d.db, dom, rec)
    }

    /// An active domain: phases 2 to 5 with QEMU moving the memory.
    async fn live(
        &self,
        peer: &mut Peer,
        offer: DomainOffer,
        started_at: Option<u64>,
        tuning: MigrationTuning,
    ) -> Result<Reply> {
        let d = &self.d;
        let name = &self.m.name;
        let (qmp, uuid) = {
            let t = d.table.lock().await;
            let dom = get(&t, name)?;
            let rt = dom
                .rt
                .as_ref()
                .ok_or_else(|| fail("the domain's QEMU is not attached"))?;
            (rt.qmp.clone(), dom.rec.spec.uuid.clone())
        };
        let socket = d.paths.qmp_socket(&uuid);
        self.info(format!(
            "Phase 2: preparing {} on the target ({} channels, downtime target {} ms{})",
            offer.spec.name,
            tuning.multifd_channels,
            tuning.downtime_limit_ms,
            if tuning.max_bandwidth_bytes > 0 {
                format!(", {} MiB/s cap", tuning.max_bandwidth_bytes >> 20)
            } else {
                String::new()
            }
        ))
        .await;
        peer.ch
            .send(&ToTarget::Prepare {
                offer,
                started_at,
                tuning: tuning.clone(),
            })
            .await
            .map_err(lost)?;
        let endpoint = match peer.ch.recv::<ToSource>().await.map_err(lost)? {
            Some(ToSource::Prepared {
                data_addr: Some(a),
                data_fingerprint: Some(f),
                data_token: Some(t),
            }) => endpoint(&a, &f, &t)?,
            other => return Err(unexpected(other)),
        };
        let dir = d.paths.migration_dir(&uuid);
        let out = dir.join("out.sock");
        let target_addr = endpoint.addr;
        let started = async {
            let tunnel = tunnel::connect(&out, endpoint).await?;
            let mut g = QmpGuard::lock(&qmp, &socket).await?;
            tuning.apply(g.q()).await?;
            g.q().migrate(&format!("unix:{}", out.display())).await?;
            Ok::<_, crate::error::Error>(tunnel)
        }
        .await;
        let _tunnel = match started {
            Ok(t) => t,
            Err(e) => {
                self.abort(peer, &qmp, &socket, &format!("{e}")).await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        self.info(format!(
            "Phase 3: copying memory to {target_addr} ({} encrypted channels)",
            tuning.multifd_channels as u32 + 1
        ))
        .await;
        let outcome = self.watch(&qmp, &socket).await;
        let _ = std::fs::remove_dir_all(&dir);
        let (info, t_done) = match outcome {
            Ok(x) => x,
            Err(e) => {
                self.abort(peer, &qmp, &socket, &e.to_string()).await;
                return Err(e);
            }
        };
        // Phase 5: from here on the source never resumes by itself.
        let console_tail = {
            let t = d.table.lock().await;
            t.get(name)
                .and_then(|dom| dom.rt.as_ref())
                .map(|rt| String::from_utf8_lossy(&rt.console.dump()).into_owned())
                .unwrap_or_default()
        };
        let sent = peer
            .ch
            .send(&ToTarget::Commit { console_tail })
            .await
            .is_ok();
        let commit_sent_ms = t_done.elapsed().as_millis() as u64;
        self.report(progress::progress(&info)).await;
        let reply = if sent {
            tokio::time::timeout(COMMIT_TIMEOUT, peer.ch.recv::<ToSource>()).await
        } else {
            Ok(Ok(None))
        };
        let handoff_ms = t_done.elapsed().as_millis() as u64;
        match reply {
            Ok(Ok(Some(ToSource::Committed { resumed_after_ms }))) => {
                // The guest's pause: QEMU's downtime (source stopped to
                // stream complete), then until Commit left, then until the
                // target had resumed it.
                let downtime_ms = info.downtime.unwrap_or(0) + commit_sent_ms + resumed_after_ms;
                let pid = {
                    let mut t = d.table.lock().await;
                    d.db.delete_domain(name)?;
                    t.remove(name).and_then(|dom| dom.rt.map(|r| r.pid))
                };
                if let Some(pid) = pid {
                    kill_qemu(&qmp, &socket, pid).await;
                }
                let ram = info.ram.clone().unwrap_or_default();
                let total_s = info.total_time.unwrap_or(1).max(1) as f64 / 1000.0;
                tracing::info!(
                    domain = %name,
                    qemu_total_ms = info.total_time.unwrap_or(0),
                    setup_ms = info.setup_time.unwrap_or(0),
                    qemu_downtime_ms = info.downtime.unwrap_or(0),
                    handoff_ms,
                    downtime_ms,
                    transferred = ram.transferred,
                    zero_pages = ram.duplicate,
                    passes = ram.dirty_sync_count,
                    "migration complete; source copy destroyed"
                );
                let qemu_ms = info.total_time.unwrap_or(0);
                let setup_ms = info.setup_time.unwrap_or(0);
                let mut reply = self.summary(
                    true,
                    downtime_ms,
                    ram.transferred,
                    ram.dirty_sync_count,
                    tuning.multifd_channels as u32,
                    ram.transferred as f64 / 1_048_576.0 / total_s,
                );
                if let Reply::Migrated(s) = &mut reply {
                    s.qemu_ms = qemu_ms;
                    s.setup_ms = setup_ms;
                    s.bulk_rate_mib_s = ram.transferred as f64
                        / 1_048_576.0
                        / (qemu_ms.saturating_sub(setup_ms).max(1) as f64 / 1000.0);
                }
                Ok(reply)
            }
            Ok(Ok(Some(ToSource::Error { message }))) => {
                // The target destroyed its copy: this one is still the master.
                let mut g = QmpGuard::lock(&qmp, &socket).await?;
                g.q().cont().await?;
                Err(fail(format!("{message}; the domain keeps running here")))
            }
            _ => {
                let note = format!(
                    "The migration to {}:{} lost its connection after the final state was sent, before the target confirmed. This copy is paused and will not resume by itself. If `ldm list` on {} shows {} active, that copy is the master: remove this one with `ldm stop-domain -f {n}`, `ldm unbind-domain {n}`, `ldm remove-domain {n}`. If it does not, resume this copy with `ldm cancel-operation migration {n}`.",
                    self.m.host,
                    self.m.port,
                    self.m.host,
                    self.m.new_name.clone().unwrap_or_else(|| name.clone()),
                    n = name
                );
                tracing::error!(domain = %name, "hand-off unconfirmed: domain left paused in error state");
                self.mark_error(&note, true).await?;
                Err(fail(note))
            }
        }
    }

    /// Follows the migration until QEMU completes it; cancels on request.
    async fn watch(
        &self,
        qmp: &Arc<tokio::sync::Mutex<Option<ldm_qemu::Qmp>>>,
        socket: &std::path::Path,
    ) -> Result<(ldm_qemu::MigrationInfo, Instant)> {
        let mut g = QmpGuard::lock(qmp, socket).await?;
        let mut last_report = Instant::now() - Duration::from_secs(1);
        let mut last_sample = Instant::now();
        let mut remaining_history: Vec<u64> = Vec::new();
        loop {
            if self.cancelled() {
                return Err(refuse(
                    ErrorKind::Cancelled,
                    format!(
                        "migration of {} cancelled; the domain keeps running here",
                        self.m.name
                    ),
                ));
            }
            // Wake on QEMU's MIGRATION events, so completion is seen at once.
            let ev = g.q().next_event(Duration::from_millis(25)).await?;
            let event_status = ev
                .as_ref()
                .filter(|e| e.event == "MIGRATION")
                .and_then(|e| e.data["status"].as_str().map(str::to_string));
            let due = last_report.elapsed() >= Duration::from_millis(250);
            if event_status.is_none() && !due {
                continue;
            }
            let info = g.q().query_migrate().await?;
            match info.status {
                MigrationStatus::Completed => return Ok((info, Instant::now())),
                MigrationStatus::Failed | MigrationStatus::Cancelled => {
                    return Err(fail(format!(
                        "the migration stream failed: {}; the domain keeps running here",
                        info.error_desc
                            .clone()
                            .unwrap_or_else(|| "no reason given".into())
                    )))
                }
                _ => {}
            }
            if due {
                last_report = Instant::now();
                let p = progress::progress(&info);
                self.report(p.clone()).await;
                if last_sample.elapsed() >= Duration::from_secs(1) {
                    last_sample = Instant::now();
                    if let Some(r) = &info.ram {
                        remaining_history.push(r.remaining);
                        if remaining_history.len() > STALL_SAMPLES {
                            remaining_history.remove(0);
                            if progress::stalled(&remaining_history) {
                                return Err(fail(
                                    "the migration does not converge: the guest dirties memory faster than it can be sent. Raise the downtime target (--downtime-limit) or the bandwidth cap, or lower the guest's load; the domain keeps running here"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Stops the QEMU migration if it runs, makes sure the guest runs here,
    /// and has the target destroy its copy.
    async fn abort(
        &self,
        peer: &mut Peer,
        qmp: &Arc<tokio::sync::Mutex<Option<ldm_qemu::Qmp>>>,
        socket: &std::path::Path,
        reason: &str,
    ) {
        if let Ok(mut g) = QmpGuard::lock(qmp, socket).await {
            let _ = g.q().migrate_cancel().await;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                match g.q().query_migrate().await {
                    Ok(i)
                        if matches!(
                            i.status,
                            MigrationStatus::Cancelling
                                | MigrationStatus::Active
                                | MigrationStatus::Device
                                | MigrationStatus::Setup
                        ) =>
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => break,
                }
            }
            if let Ok(st) = g.q().query_status().await {
                if !st.running {
                    if let Err(e) = g.q().cont().await {
                        tracing::error!("cannot resume the source after a failed migration: {e}");
                    }
                }
            }
        }
        tracing::warn!(domain = %self.m.name, reason, "migration aborted; domain runs on the source");
        if peer
            .ch
            .send(&ToTarget::Abort {
                reason: reason.to_string(),
            })
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(Duration::from_secs(10), peer.ch.recv::<ToSource>()).await;
        }
    }
}

/// `cancel-operation migration NAME`: on a migrating source, stops the
/// migration (the source keeps running); on a source left paused by a lost
/// hand-off, resumes it.
pub async fn cancel(d: &Daemon, name: &str) -> Result<()> {
    {
        let mut t = d.table.lock().await;
        let dom = t
            .get_mut(name)
            .ok_or_else(|| crate::daemon::not_found(name))?;
        if let Some(b) = &dom.busy {
            let role = b.view.lock().unwrap_or_else(|p| p.into_inner()).role;
            if role == Role::Target {
                return Err(refuse(
                    ErrorKind::State,
                    format!("this host is the target of the migration of {name}: only the source host can cancel it"),
                ));
            }
            let _ = b.cancel.send(true);
        } else if dom
            .rec
            .migration
            .as_ref()
            .is_some_and(|m| m.error.is_some())
        {
            let mut rec = dom.rec.clone();
            if let Some(rt) = &dom.rt {
                let mut g = QmpGuard::lock(&rt.qmp, &d.paths.qmp_socket(&rec.spec.uuid)).await?;
                g.q().cont().await?;
                rec.state = DomainState::Active;
            }
            rec.migration = None;
            crate::daemon::commit(&d.db, dom, rec)?;
            tracing::info!(domain = name, "source copy resumed by the administrator");
            return Ok(());
        } else {
            return Err(refuse(
                ErrorKind::State,
                format!("no migration of {name} is in progress on this host"),
            ));
        }
    }
    // Wait for the migration to wind down, so the caller sees the result.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = d.table.lock().await;
        if t.get(name).is_none_or(|dom| dom.busy.is_none()) {
            return Ok(());
        }
    }
    Err(refuse(
        ErrorKind::Internal,
        format!("the migration of {name} did not stop within 60 s"),
    ))
}

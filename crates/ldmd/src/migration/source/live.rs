//! The live move of an active domain: QEMU copies memory through the
//! encrypted channels while ldm follows it, then the hand-off.

use super::run::Run;
use super::{fail, lost, unexpected};
use crate::daemon::get;
use crate::error::{refuse, Result};
use crate::migration::connect::Peer;
use crate::migration::progress;
use crate::migration::protocol::{DomainOffer, ToSource, ToTarget};
use crate::migration::tunnel;
use crate::ops::machine::{kill_qemu, QmpGuard};
use ldm_api::{ErrorKind, Reply};
use ldm_qemu::{MigrationStatus, MigrationTuning};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A migration whose remaining memory has not shrunk for this many progress
/// samples (one a second) is given up.
const STALL_SAMPLES: usize = 120;

impl Run<'_> {
    /// An active domain: phases 2 to 5 with QEMU moving the memory.
    pub(super) async fn live(
        &self,
        peer: &mut Peer,
        offer: DomainOffer,
        started_at: Option<u64>,
        tuning: MigrationTuning,
    ) -> Result<Reply> {
        let d = &self.d;
        let name = &self.m.name;
        let (qmp, uuid) = {
            let t = d.table();
            let dom = get(&t, name)?;
            let rt = dom
                .rt
                .as_ref()
                .ok_or_else(|| fail("the domain's QEMU is not attached"))?;
            (rt.qmp.clone(), dom.rec.spec.uuid)
        };
        let socket = d.paths.qmp_socket(&uuid);
        // Now that the domain is claimed, clear what an earlier migration
        // may have left in QEMU (the checks only looked).
        if let Some(failure) = super::leftover::check_released(name, &qmp, &socket, true).await {
            let _ = peer
                .ch
                .send(&ToTarget::Abort {
                    reason: failure.clone(),
                })
                .await;
            return Err(fail(failure));
        }
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
            Some(ToSource::Prepared { data: Some(ep) }) => ep,
            other => return Err(unexpected(other)),
        };
        crate::testhook::hold("source-prepared").await;
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
        crate::testhook::hold("source-copying").await;
        let outcome = self.watch(peer, &qmp, &socket).await;
        let _ = std::fs::remove_dir_all(&dir);
        let (info, t_done) = match outcome {
            Ok(x) => x,
            Err(e) => {
                self.abort(peer, &qmp, &socket, &e.to_string()).await;
                return Err(e);
            }
        };
        // Phase 5: from here on the source never resumes by itself.
        crate::testhook::hold("source-switchover").await;
        let console_tail = {
            let t = d.table();
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
        crate::testhook::hold("source-commit-sent").await;
        self.report(progress::progress(&info)).await;
        let reply = self.confirmation(peer, sent).await;
        let handoff_ms = t_done.elapsed().as_millis() as u64;
        match reply {
            Some(ToSource::Committed { resumed_after_ms }) => {
                // The guest's pause: QEMU's downtime (source stopped to
                // stream complete), then until Commit left, then until the
                // target had resumed it.
                let downtime_ms = info.downtime.unwrap_or(0) + commit_sent_ms + resumed_after_ms;
                if let Some(pid) = self.drop_source_copy().await? {
                    kill_qemu(&qmp, &socket, pid).await;
                }
                let ram = info.ram.clone().unwrap_or_default();
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
                Ok(self.summary(Some((&info, downtime_ms, tuning.multifd_channels as u32))))
            }
            Some(ToSource::Error { message }) => {
                // The target destroyed its copy: this one is still the master.
                let mut g = QmpGuard::lock(&qmp, &socket).await?;
                g.q().cont().await?;
                Err(fail(format!("{message}; the domain keeps running here")))
            }
            _ => {
                let note = format!(
                    "The migration to {} lost its connection after the final state was sent, before the target confirmed. {}",
                    self.target_label(),
                    super::paused_copy_advice(&self.m.host, &self.target_name(), name)
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
        peer: &mut Peer,
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
            let migration_event = ev.is_some_and(|e| e.event == "MIGRATION");
            let due = last_report.elapsed() >= Duration::from_millis(250);
            if !migration_event && !due {
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
                // The target's listings show the same progress. A lost
                // connection shows up when the hand-off is sent.
                let _ = peer
                    .ch
                    .send(&ToTarget::Progress {
                        phase: p.phase,
                        percent: p.percent,
                    })
                    .await;
                self.report(p).await;
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
                    Ok(i) if i.status.is_under_way() => {
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

//! QEMU's side of a live move: start the copy through the encrypted
//! channels, follow it through QEMU's events, stop it on rollback.
//!
//! The copy is followed through QMP events (`MIGRATION`, `STOP`,
//! `RESUME`), not through queries: while QEMU sends the final state it
//! may not answer commands, and a query that times out there is "no
//! news", never a conclusion. Statistics are read once a second while the
//! guest runs, and once more when QEMU reports completion.

use super::driver::Driver;
use super::fail;
use super::machine::Event;
use crate::error::Result;
use crate::migration::deadline::{Wait, HEARTBEAT};
use crate::migration::progress::{self, Monotonic};
use crate::migration::protocol::{ResumeSteps, ToTarget};
use crate::migration::tunnel::{self, Tunnel};
use crate::ops::machine::QmpGuard;
use ldm_api::migration::{PauseBreakdown, Phase};
use ldm_qemu::{MigrationInfo, MigrationStatus, Qmp, QmpEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

mod postcopy;
pub(super) use postcopy::switched;

/// A migration whose remaining memory has not shrunk for this many
/// statistics samples (one a second) does not converge and is given up.
const STALL_SAMPLES: usize = 120;

/// The domain's QMP connection and socket.
pub(super) type QemuHandle = (Arc<Mutex<Option<Qmp>>>, PathBuf);

/// What the source knows about QEMU's copy.
#[derive(Default)]
pub(super) struct Copy {
    /// QMP of the domain and the migration's directory, once started.
    qemu: Option<(QemuHandle, PathBuf)>,
    tunnel: Option<Tunnel>,
    /// QEMU's latest statistics.
    pub(super) info: MigrationInfo,
    /// When QEMU paused the source for the last pages.
    paused_at: Option<Instant>,
    /// When QEMU reported completion.
    completed_at: Option<Instant>,
    pub(super) percent: Monotonic,
    /// Bytes sent at the last sample that showed headway, and when.
    headway: Option<(u64, Instant)>,
    remaining: Vec<u64>,
    last_beat: Option<Instant>,
    /// Why the source could not be resumed after a rollback.
    pub(super) resume_problem: Option<String>,
    /// The disk mirrors of a storage copy, until completed or abandoned.
    pub(super) mirror: Option<super::storage::Mirror>,
    /// When QEMU's `migrate` started.
    started_at: Option<Instant>,
    /// When the source asked QEMU to switch to post-copy.
    postcopy_at: Option<Instant>,
}

impl Copy {
    /// The copy of a post-copy a restarted ldmd takes up again: the
    /// domain's QMP and the migration's directory; statistics start afresh.
    pub(super) fn adopted(qemu: QemuHandle, dir: PathBuf) -> Copy {
        Copy {
            qemu: Some((qemu, dir)),
            postcopy_at: Some(Instant::now()),
            ..Default::default()
        }
    }

    /// The guest's pause step by step: QEMU's downtime (source stopped to
    /// stream complete), then until Commit left, the link, and the
    /// target's steps until it resumed. A target that reports no steps
    /// has its whole time counted as loading.
    pub(super) fn pause(
        &self,
        commit_sent: Option<Instant>,
        committed_at: Option<Instant>,
        resumed_after_ms: u64,
        steps: Option<ResumeSteps>,
    ) -> PauseBreakdown {
        let between = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as u64,
            _ => 0,
        };
        let steps = steps.unwrap_or(ResumeSteps {
            load_ms: resumed_after_ms,
            ..Default::default()
        });
        PauseBreakdown {
            qemu_downtime_ms: self.info.downtime.unwrap_or(0),
            completion_to_commit_ms: between(self.completed_at, commit_sent),
            link_ms: between(commit_sent, committed_at)
                .saturating_sub(steps.reply_ms.max(resumed_after_ms)),
            target_record_ms: steps.record_ms,
            target_load_ms: steps.load_ms,
            target_cont_ms: steps.cont_ms,
            target_resume_event_ms: steps.resume_event_ms,
        }
    }

    /// From the switch to post-copy to QEMU's completion, ms (a move that
    /// switched).
    pub(super) fn postcopy_ms(&self) -> Option<u64> {
        let (a, b) = (self.postcopy_at?, self.completed_at?);
        Some(b.saturating_duration_since(a).as_millis() as u64)
    }

    pub(super) fn log_done(&self, name: &str, downtime_ms: u64, pause: &PauseBreakdown) {
        let info = &self.info;
        let ram = info.ram.clone().unwrap_or_default();
        tracing::info!(
            domain = %name,
            qemu_total_ms = info.total_time.unwrap_or(0),
            setup_ms = info.setup_time.unwrap_or(0),
            qemu_downtime_ms = info.downtime.unwrap_or(0),
            downtime_ms,
            completion_to_commit_ms = pause.completion_to_commit_ms,
            link_ms = pause.link_ms,
            target_record_ms = pause.target_record_ms,
            target_load_ms = pause.target_load_ms,
            target_cont_ms = pause.target_cont_ms,
            transferred = ram.transferred,
            zero_pages = ram.duplicate,
            passes = ram.dirty_sync_count,
            postcopy_ms = self.postcopy_ms(),
            postcopy_requests = ram.postcopy_requests,
            "migration complete; source copy destroyed"
        );
    }
}

impl Driver<'_> {
    /// The domain's QMP, if it runs.
    pub(super) async fn qemu_handle(&self) -> Option<QemuHandle> {
        let d = &self.run.d;
        let t = d.table();
        let dom = t.get(&self.run.m.name)?;
        let rt = dom.rt.as_ref()?;
        Some((rt.qmp.clone(), d.paths.qmp_socket(&dom.rec.spec.uuid)))
    }

    /// Opens the data channels and starts QEMU's `migrate`.
    pub(super) async fn start_copy(&mut self) -> Result<()> {
        let (qmp, socket) = self
            .qemu_handle()
            .await
            .ok_or_else(|| fail("the domain's QEMU is not attached"))?;
        let endpoint = self
            .endpoint
            .take()
            .ok_or_else(|| fail("no data channel from the target"))?;
        let dir = {
            let t = self.run.d.table();
            let uuid = t.get(&self.run.m.name).map(|dom| dom.rec.spec.uuid);
            self.run.d.paths.migration_dir(&uuid.unwrap_or_default())
        };
        let out = dir.join("out.sock");
        let addr = endpoint.addr;
        self.copy.qemu = Some(((qmp.clone(), socket.clone()), dir.clone()));
        let token = endpoint.token;
        let ep = endpoint.clone();
        let tunnel = tokio::time::timeout(
            Wait::PeerReply.get(),
            tunnel::connect(&out, endpoint, token),
        )
        .await
        .map_err(|_| fail(format!("the data channel to {addr} did not open in time")))??;
        self.copy.tunnel = Some(tunnel);
        let mut g = QmpGuard::lock(&qmp, &socket).await?;
        if self.offer.copy_storage && !self.offer.spec.disks.is_empty() {
            // The disks first: memory moves once they are in sync.
            self.mirror_disks(g.q(), &ep, &dir).await?;
        }
        // Events of an earlier migration (this QEMU may have come in by
        // one) must not be read as this one's.
        g.q().take_events();
        self.tuning.apply(g.q()).await?;
        g.q().migrate(&format!("unix:{}", out.display())).await?;
        self.copy.started_at = Some(Instant::now());
        self.run.info(format!(
            "Phase 3: copying memory to {addr} ({} encrypted channel{}{})",
            self.tuning.channels(),
            if self.tuning.channels() == 1 { "" } else { "s" },
            match self.run.m.postcopy {
                _ if !self.tuning.postcopy => "",
                ldm_api::migration::PostcopyMode::Always => "; post-copy after the first pass",
                _ => "; post-copy if pre-copy does not converge",
            }
        ));
        Ok(())
    }

    /// Follows the copy until something happens that the machine must
    /// decide: QEMU paused the source, completed or failed; cancel; the
    /// target's news; a deadline.
    pub(super) async fn follow_copy(&mut self) -> Event {
        let Some(((qmp, socket), _)) = self.copy.qemu.clone() else {
            return Event::Failed("no QEMU copy to follow".into());
        };
        let mut g = match QmpGuard::lock(&qmp, &socket).await {
            Ok(g) => g,
            Err(e) => return Event::Failed(format!("the domain's QEMU does not answer: {e}")),
        };
        let usual = g.q().timeout();
        g.q().set_timeout(Wait::QemuCommand.get());
        let ev = self.follow(g.q()).await;
        g.q().set_timeout(usual);
        ev
    }

    async fn follow(&mut self, q: &mut Qmp) -> Event {
        loop {
            // Cancel is refused in post-copy: it ends no wait there.
            if self.run.cancelled() && self.copy.postcopy_at.is_none() {
                return Event::Cancel;
            }
            if let Some(ev) = self.peer_news().await {
                return ev;
            }
            match q.next_event(Duration::from_millis(100)).await {
                Ok(Some(e)) => {
                    if let Some(ev) = self.qemu_event(&e, q).await {
                        return ev;
                    }
                }
                Ok(None) => {}
                Err(e) => return Event::Failed(format!("lost the domain's QEMU: {e}")),
            }
            // In post-copy the source stays paused to the end; headway
            // (below) is the deadline then.
            if self.copy.postcopy_at.is_none()
                && self
                    .copy
                    .paused_at
                    .is_some_and(|t| t.elapsed() > Wait::Switchover.get())
            {
                return Event::Deadline;
            }
            if self.copy.last_beat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                self.copy.last_beat = Some(Instant::now());
                if let Some(ev) = self.sample(q).await {
                    return ev;
                }
                let phase = if self.copy.postcopy_at.is_some() {
                    Phase::Postcopy
                } else if self.copy.paused_at.is_some() {
                    Phase::Suspend
                } else {
                    progress::phase(self.copy.info.status)
                };
                if let Err(ev) = self.heartbeat(phase).await {
                    return ev;
                }
            }
        }
    }

    /// A message from the target during the copy, without waiting.
    pub(super) async fn peer_news(&mut self) -> Option<Event> {
        let Some(peer) = self.peer.as_mut() else {
            return Some(Event::PeerLost("no connection to the target".into()));
        };
        let r = tokio::time::timeout(
            Duration::ZERO,
            peer.ch.recv::<crate::migration::protocol::ToSource>(),
        )
        .await;
        match r {
            Err(_) => None,
            Ok(Ok(Some(crate::migration::protocol::ToSource::Error { message }))) => {
                Some(Event::TargetRefused(message))
            }
            Ok(Ok(Some(crate::migration::protocol::ToSource::PostcopyRunning {
                resumed_after_ms,
            }))) => {
                tracing::info!(domain = %self.run.m.name, resumed_after_ms, "the target runs the guest in post-copy");
                self.run.info(
                    "Post-copy: the guest runs on the target while the rest of its memory follows"
                        .into(),
                );
                Some(Event::PostcopyRunning)
            }
            Ok(Ok(Some(other))) => Some(Event::PeerLost(format!(
                "the target sent {other:?} during the copy"
            ))),
            Ok(Ok(None)) => Some(Event::PeerLost("the target closed the connection".into())),
            Ok(Err(e)) => Some(Event::PeerLost(e.to_string())),
        }
    }

    /// What a QMP event means for the copy.
    async fn qemu_event(&mut self, e: &QmpEvent, q: &mut Qmp) -> Option<Event> {
        match e.event.as_str() {
            "MIGRATION" => {
                let status: MigrationStatus = e
                    .data
                    .get("status")
                    .and_then(|s| serde_json::from_value(s.clone()).ok())
                    .unwrap_or(MigrationStatus::Unknown);
                tracing::debug!(domain = %self.run.m.name, %status, "QEMU migration status");
                match status {
                    MigrationStatus::Completed => {
                        // Confirmed by QEMU's own report when it answers.
                        match q.query_migrate().await {
                            Ok(info) if info.status != MigrationStatus::Completed => {
                                tracing::warn!(domain = %self.run.m.name, status = %info.status, "ignoring a completion event QEMU does not confirm");
                                return None;
                            }
                            Ok(info) => self.copy.info = info,
                            Err(_) => {}
                        }
                        self.copy.completed_at = Some(Instant::now());
                        Some(Event::QemuCompleted)
                    }
                    MigrationStatus::Failed | MigrationStatus::Cancelled => {
                        Some(Event::Failed(self.stream_failure(q).await))
                    }
                    MigrationStatus::PostcopyPaused => Some(postcopy_paused()),
                    MigrationStatus::PreSwitchover if self.copy.mirror.is_some() => {
                        // Paused: the mirrors catch the last writes, then
                        // QEMU sends the final state.
                        if let Err(e) = self.complete_mirrors(q).await {
                            return Some(Event::Failed(e));
                        }
                        if let Err(e) = q.migrate_continue().await {
                            return Some(Event::Failed(format!(
                                "cannot continue the migration after the storage copy: {e}"
                            )));
                        }
                        self.paused()
                    }
                    MigrationStatus::PreSwitchover if self.tuning.pause_before_switchover => {
                        if let Err(e) = q.migrate_continue().await {
                            return Some(Event::Failed(format!(
                                "cannot continue the migration: {e}"
                            )));
                        }
                        self.paused()
                    }
                    MigrationStatus::Device | MigrationStatus::PreSwitchover => self.paused(),
                    _ => None,
                }
            }
            "STOP" => self.paused(),
            "RESUME" => {
                self.copy.paused_at = None;
                None
            }
            "SHUTDOWN" => Some(Event::Failed(
                "the domain's QEMU shut down during the migration".into(),
            )),
            _ => None,
        }
    }

    fn paused(&mut self) -> Option<Event> {
        if self.copy.paused_at.is_some() {
            return None;
        }
        self.copy.paused_at = Some(Instant::now());
        Some(Event::QemuPaused)
    }

    async fn stream_failure(&self, q: &mut Qmp) -> String {
        let desc = q
            .query_migrate()
            .await
            .ok()
            .and_then(|i| i.error_desc)
            .unwrap_or_else(|| "no reason given".into());
        format!("the migration stream failed: {desc}")
    }

    /// Reads QEMU's statistics while the guest runs (a busy QEMU is no
    /// news) and checks headway and convergence.
    async fn sample(&mut self, q: &mut Qmp) -> Option<Event> {
        if self.copy.paused_at.is_some() && self.copy.postcopy_at.is_none() {
            return None;
        }
        let info = match q.query_migrate().await {
            Ok(i) => i,
            // A QEMU that does not answer makes no headway either: one
            // switching to post-copy over a stalled link holds its main
            // loop while it writes the device state.
            Err(ldm_qemu::Error::QmpTimeout { .. }) => {
                let stalled = self
                    .copy
                    .headway
                    .is_some_and(|(_, since)| since.elapsed() > Wait::CopyHeadway.get());
                if stalled {
                    tracing::warn!(domain = %self.run.m.name, "the copy made no headway and QEMU does not answer");
                    return Some(Event::Deadline);
                }
                return None;
            }
            Err(e) => return Some(Event::Failed(format!("lost the domain's QEMU: {e}"))),
        };
        match info.status {
            MigrationStatus::Completed => {
                self.copy.completed_at = Some(Instant::now());
                self.copy.info = info;
                return Some(Event::QemuCompleted);
            }
            MigrationStatus::Failed | MigrationStatus::Cancelled => {
                return Some(Event::Failed(self.stream_failure(q).await))
            }
            MigrationStatus::PostcopyPaused => return Some(postcopy_paused()),
            _ => {}
        }
        let ram = info.ram.clone().unwrap_or_default();
        self.copy.info = info;
        let now = Instant::now();
        match self.copy.headway {
            Some((sent, _)) if ram.transferred > sent => {
                self.copy.headway = Some((ram.transferred, now))
            }
            Some((_, since)) if now.duration_since(since) > Wait::CopyHeadway.get() => {
                tracing::warn!(
                    domain = %self.run.m.name,
                    status = %self.copy.info.status,
                    transferred = ram.transferred,
                    remaining = ram.remaining,
                    "the copy made no headway"
                );
                return Some(Event::Deadline);
            }
            Some(_) => {}
            None => self.copy.headway = Some((ram.transferred, now)),
        }
        if self.copy.postcopy_at.is_some() {
            return None;
        }
        if self.tuning.postcopy {
            let p = ldm_api::postcopy::Precopy {
                elapsed_ms: self
                    .copy
                    .started_at
                    .map_or(0, |t| t.elapsed().as_millis() as u64),
                dirty_syncs: ram.dirty_sync_count,
                remaining_bytes: ram.remaining,
                rate_bytes_s: ram.mbps * 1e6 / 8.0,
                throttle_percent: self.copy.info.cpu_throttle_percentage.unwrap_or(0),
            };
            let limit = self.tuning.downtime_limit_ms;
            if ldm_api::postcopy::switch_now(self.run.m.postcopy, &p, limit) {
                return Some(Event::PostcopyDue);
            }
        }
        self.copy.remaining.push(ram.remaining);
        if self.copy.remaining.len() > STALL_SAMPLES {
            self.copy.remaining.remove(0);
            if progress::stalled(&self.copy.remaining) {
                return Some(Event::Failed(
                    "the migration does not converge: the guest dirties memory faster than it can be sent. Raise the downtime target (--downtime-limit) or the bandwidth cap, or lower the guest's load".into(),
                ));
            }
        }
        None
    }

    /// Shows progress here and sends it to the target (its heartbeat).
    pub(super) async fn heartbeat(&mut self, phase: Phase) -> std::result::Result<(), Event> {
        let mut p = progress::progress(&self.copy.info);
        p.phase = phase;
        p.percent = self.copy.percent.next(p.percent);
        p.downtime_limit_ms = Some(self.tuning.downtime_limit_ms);
        let msg = ToTarget::Progress {
            phase: p.phase,
            percent: p.percent,
        };
        self.run.report(p);
        self.send(&msg).await
    }

    /// Rollback before the point of no return: cancels QEMU's migration
    /// (yanking its channels if cancel is refused), waits for it to end,
    /// and resumes the guest if it is paused. A QEMU that does not answer
    /// leaves the domain suspended with `e`, never listed as running.
    pub(super) async fn stop_copy_and_resume(&mut self) {
        let Some(((qmp, socket), dir)) = self.copy.qemu.take() else {
            return;
        };
        let r = async {
            let mut g = QmpGuard::lock(&qmp, &socket).await?;
            let usual = g.q().timeout();
            g.q().set_timeout(Wait::QemuCommand.get());
            self.abandon_mirrors(g.q()).await;
            let r = stop_and_resume(g.q()).await;
            g.q().set_timeout(usual);
            r
        };
        let r = tokio::time::timeout(Wait::Release.get() * 2, r)
            .await
            .unwrap_or_else(|_| Err(fail("QEMU did not answer in time")));
        self.copy.tunnel = None;
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = r {
            let name = &self.run.m.name;
            let note = format!(
                "The migration to {} was rolled back (the target was told to destroy its copy), but this domain's QEMU did not resume ({e}). Resume it with `ldm cancel-operation migration {name}`, or stop it with `ldm stop-domain -f {name}`.",
                self.run.target_label()
            );
            tracing::error!(domain = %name, "{note}");
            let _ = self.run.mark_error(&note, true).await;
            self.copy.resume_problem = Some(e.to_string());
        }
    }
}

/// QEMU's `postcopy-paused`, from its event or its report: a channel of
/// the post-copy broke (the machine pauses it and reconnects).
fn postcopy_paused() -> Event {
    Event::Failed("QEMU paused the post-copy: a migration channel broke".into())
}

async fn stop_and_resume(q: &mut Qmp) -> Result<()> {
    if q.migrate_cancel().await.is_err() {
        let _ = q.yank_migration().await;
    }
    let until = Instant::now() + Wait::Release.get();
    while Instant::now() < until {
        match q.query_migrate().await {
            Ok(i) if i.status.is_under_way() => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => break,
        }
    }
    if !q.query_status().await?.running {
        q.cont().await?;
    }
    Ok(())
}

//! Following QEMU's copy: its events, its statistics (headway,
//! convergence, the switch to post-copy when due), the target's news
//! without waiting, and the heartbeat that shows progress here and there.
//!
//! The copy is followed through QMP events (`MIGRATION`,
//! `MIGRATION_PASS`, `STOP`, `RESUME`), not through queries: while QEMU
//! sends the final state it may not answer commands, and a query that
//! times out there is "no news", never a conclusion. Statistics are read
//! once a second while the guest runs, at each pass while a switch to
//! post-copy may come, and once more when QEMU reports completion.

use crate::migration::deadline::{Wait, HEARTBEAT};
use crate::migration::progress;
use crate::migration::protocol::ToTarget;
use crate::migration::source::driver::Driver;
use crate::migration::source::machine::Event;
use crate::ops::machine::QmpGuard;
use ldm_api::migration::Phase;
use ldm_qemu::{MigrationStatus, Qmp, QmpEvent};
use std::time::{Duration, Instant};

/// A migration whose remaining memory has not shrunk for this many
/// statistics samples (one a second) does not converge and is given up.
const STALL_SAMPLES: usize = 120;
/// Until QEMU's first figure of the guest's dirty rate during the copy
/// is read, the statistics are read this often for it: after the first
/// pass the rest of a move often takes less than the heartbeat, and QEMU
/// reports no figure once completed.
const DIRTIED_READ: Duration = Duration::from_millis(250);
impl Driver<'_> {
    /// Follows the copy until something happens that the machine must
    /// decide: QEMU paused the source, completed or failed; cancel; the
    /// target's news; a deadline.
    pub(in crate::migration::source) async fn follow_copy(&mut self) -> Event {
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
            } else if self.wants_dirtied() {
                self.read_dirtied(q).await;
            }
        }
    }

    /// Pre-copy runs, a ratio can be had (the rate sampled before the
    /// move is not too low) and QEMU's first figure of the dirty rate
    /// is still to be read.
    fn wants_dirtied(&self) -> bool {
        self.copy
            .sampled_dirty_mib
            .is_some_and(|s| s >= ldm_api::dirty_during::MIN_SAMPLED_MIB_S)
            && self.copy.paused_at.is_none()
            && self.copy.postcopy_at.is_none()
            && !self.copy.dirtied.has_figure()
            && self
                .copy
                .dirtied_read
                .is_none_or(|t| t.elapsed() >= DIRTIED_READ)
    }

    /// Reads QEMU's statistics for the dirty rate alone (a QEMU that
    /// does not answer is no news; headway and completion are the
    /// heartbeat's and the events').
    async fn read_dirtied(&mut self, q: &mut Qmp) {
        self.copy.dirtied_read = Some(Instant::now());
        let Ok(info) = q.query_migrate().await else {
            return;
        };
        if info.status != MigrationStatus::Active {
            return;
        }
        let ram = info.ram.unwrap_or_default();
        let throttle = info.cpu_throttle_percentage.unwrap_or(0);
        self.copy.dirtied.observe(
            ram.dirty_sync_count,
            ram.dirty_pages_rate,
            ram.page_size,
            throttle.min(100) as u8,
        );
    }

    /// A message from the target during the copy, without waiting.
    pub(in crate::migration::source) async fn peer_news(&mut self) -> Option<Event> {
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
            "MIGRATION_PASS" => self.on_pass(q).await,
            "STOP" => {
                self.copy.note_run_state(e);
                self.paused()
            }
            "RESUME" => {
                self.copy.note_run_state(e);
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
        let throttle = self.copy.info.cpu_throttle_percentage.unwrap_or(0);
        self.copy.dirtied.observe(
            ram.dirty_sync_count,
            ram.dirty_pages_rate,
            ram.page_size,
            throttle.min(100) as u8,
        );
        if self.postcopy_due() {
            return Some(Event::PostcopyDue);
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

    /// The move may still switch to post-copy: it allows one, and QEMU
    /// neither switched nor paused the source.
    fn may_switch(&self) -> bool {
        self.tuning.postcopy && self.copy.postcopy_at.is_none() && self.copy.paused_at.is_none()
    }

    /// Whether the switch to post-copy is due by QEMU's last statistics.
    fn postcopy_due(&self) -> bool {
        if !self.may_switch() {
            return false;
        }
        let ram = self.copy.info.ram.clone().unwrap_or_default();
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
        ldm_api::postcopy::switch_now(self.run.m.postcopy, &p, self.tuning.downtime_limit_ms)
    }

    /// QEMU began a pass: with post-copy allowed, the switch is decided
    /// now rather than at the next heartbeat. After the first pass the
    /// rest of a pre-copy can take less than a heartbeat, and a
    /// `--postcopy=always` move that QEMU completed first never switched.
    async fn on_pass(&mut self, q: &mut Qmp) -> Option<Event> {
        if !self.may_switch() {
            return None;
        }
        let info = q.query_migrate().await.ok()?;
        if info.status != MigrationStatus::Active {
            return None;
        }
        self.copy.info = info;
        self.postcopy_due().then_some(Event::PostcopyDue)
    }

    /// Shows progress here and sends it to the target (its heartbeat).
    pub(in crate::migration::source) async fn heartbeat(
        &mut self,
        phase: Phase,
    ) -> std::result::Result<(), Event> {
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
}

/// QEMU's `postcopy-paused`, from its event or its report: a channel of
/// the post-copy broke (the machine pauses it and reconnects).
fn postcopy_paused() -> Event {
    Event::Failed("QEMU paused the post-copy: a migration channel broke".into())
}

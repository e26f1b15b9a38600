//! QEMU's side of a live move: start the copy through the encrypted
//! channels, follow it through QEMU's events (`live/follow.rs`), stop it
//! on rollback; the post-copy's switch, pause and resumption are in
//! `live/postcopy.rs`. `Copy` is what the source knows of the copy, and
//! the pause it reports.

use super::driver::Driver;
use super::fail;
use super::machine::Event;
use crate::error::Result;
use crate::migration::deadline::Wait;
use crate::migration::progress::Monotonic;
use crate::migration::protocol::{ResumeSteps, ToTarget};
use crate::migration::tunnel::{self, Tunnel};
use crate::ops::machine::QmpGuard;
use ldm_api::migration::{PauseBreakdown, Phase};
use ldm_qemu::{MigrationInfo, Qmp};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

mod follow;
mod postcopy;
pub(super) use postcopy::switched;

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
    /// QEMU's `STOP` event of the pause under way, by QEMU's clock.
    stopped_event: Option<ldm_qemu::QmpTimestamp>,
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
    /// The dirty rate QEMU sampled before the move, MiB/s, if read.
    pub(super) sampled_dirty_mib: Option<u64>,
    /// QEMU's dirty rate pass by pass during the pre-copy.
    pub(super) dirtied: ldm_api::dirty_during::DuringCopy,
    /// When the statistics were last read for the dirty rate alone.
    dirtied_read: Option<Instant>,
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
            source_stopped_at_us: self.stopped_at_us(),
        }
    }

    /// When QEMU stopped the guest for the pause, µs since the Unix epoch
    /// by QEMU's clock, if its `STOP` event was seen.
    pub(super) fn stopped_at_us(&self) -> Option<i64> {
        self.stopped_event.map(|t| {
            t.seconds
                .saturating_mul(1_000_000)
                .saturating_add(t.microseconds)
        })
    }

    /// Notes QEMU's `STOP` (the first of a pause) or `RESUME` event.
    pub(super) fn note_run_state(&mut self, e: &ldm_qemu::QmpEvent) {
        match e.event.as_str() {
            "STOP" if self.stopped_event.is_none() => self.stopped_event = e.timestamp,
            "RESUME" => self.stopped_event = None,
            _ => {}
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

#[cfg(test)]
mod tests {
    use super::Copy;
    use ldm_qemu::{QmpEvent, QmpTimestamp};

    fn event(name: &str, seconds: i64, microseconds: i64) -> QmpEvent {
        QmpEvent {
            event: name.into(),
            data: serde_json::Value::Null,
            timestamp: Some(QmpTimestamp {
                seconds,
                microseconds,
            }),
        }
    }

    #[test]
    fn the_pause_starts_at_the_first_stop_since_the_guest_last_ran() {
        let mut c = Copy::default();
        assert_eq!(c.stopped_at_us(), None);
        // A cancelled attempt: stopped, then resumed on the source.
        c.note_run_state(&event("STOP", 1_700_000_000, 5));
        c.note_run_state(&event("RESUME", 1_700_000_001, 0));
        assert_eq!(c.stopped_at_us(), None);
        c.note_run_state(&event("STOP", 1_700_000_002, 250_000));
        c.note_run_state(&event("STOP", 1_700_000_003, 0));
        c.note_run_state(&event("MIGRATION", 1_700_000_004, 0));
        assert_eq!(c.stopped_at_us(), Some(1_700_000_002_250_000));
        assert_eq!(
            c.pause(None, None, 0, None).source_stopped_at_us,
            Some(1_700_000_002_250_000)
        );
    }
}

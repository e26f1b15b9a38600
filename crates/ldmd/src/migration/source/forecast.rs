//! The dry run's prediction of a live move: what it measures (the
//! guest's dirty rate, the memory that has to cross, the path to the
//! target) and the model's answer ([`ldm_api::predict`]). The copy's
//! rate is the lowest of the link, the cap and, once this host has moved
//! a domain live, the rate QEMU reached then (under TCG QEMU's copy, not
//! the link, is what limits it).
//!
//! Sampling the dirty rate takes QEMU a second; it starts before the
//! checks and is read after them, so the dry run waits little longer.
//! The path is measured by a probe over the peer connection when the
//! target takes one (`super::super::probe`); otherwise the rate of this
//! host's last live move is used, else an assumed figure, and the dry run
//! says which.

use crate::daemon::Daemon;
use crate::ops::machine::QmpGuard;
use ldm_api::migration::{LinkSource, MemoryEstimate, Summary};
use ldm_api::predict::{predict, Inputs};
use ldm_qemu::Qmp;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The database key of the last live move's bulk rate, MiB/s.
const RATE_KEY: &str = "memory-migration-rate-mib";
/// The database key of the last live move's time outside the copy, ms.
const FIXED_KEY: &str = "memory-migration-fixed-ms";
/// The link rate assumed when nothing was measured, MiB/s.
const ASSUMED_RATE_MIB: u64 = 200;
/// The time outside the copy assumed when no move was measured yet, on
/// top of the dry run's own checks: the target's preparation (an
/// incoming QEMU started) and QEMU's set-up, ms.
const ASSUMED_PREPARE_MS: u64 = 600;
/// What the pause costs besides the last pages: the device state, the
/// hand-off and the target's resume, ms.
const PAUSE_OVERHEAD_MS: u64 = 15;
/// QEMU's sampling period.
const SAMPLE: Duration = Duration::from_secs(1);
/// How long after the period the result may take to appear.
const SAMPLE_GRACE: Duration = Duration::from_secs(2);

/// A dirty-rate measurement under way in the domain's QEMU.
pub(super) struct Sampling {
    qmp: Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: PathBuf,
    pid: u32,
    memory_mib: u64,
    started: Instant,
}

impl Sampling {
    /// Starts QEMU's sampling; `None` (logged) if QEMU refuses.
    pub(super) async fn start(
        name: &str,
        qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
        socket: &Path,
        pid: u32,
        memory_mib: u64,
    ) -> Option<Sampling> {
        let started = Instant::now();
        let r = match QmpGuard::lock(qmp, socket).await {
            Ok(mut g) => g
                .q()
                .calc_dirty_rate(SAMPLE)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = r {
            tracing::info!(domain = name, "no dirty rate for the prediction: {e}");
            return None;
        }
        Some(Sampling {
            qmp: qmp.clone(),
            socket: socket.to_path_buf(),
            pid,
            memory_mib,
            started,
        })
    }

    /// QEMU's result, MiB/s, once its period is over (within a deadline).
    async fn dirty_rate(&self) -> Option<u64> {
        let deadline = self.started + SAMPLE + SAMPLE_GRACE;
        tokio::time::sleep_until((self.started + SAMPLE).into()).await;
        loop {
            let mut g = QmpGuard::lock(&self.qmp, &self.socket).await.ok()?;
            let r = g.q().query_dirty_rate().await.ok()?;
            drop(g);
            if let Some(rate) = r.measured() {
                return Some(rate);
            }
            if Instant::now() >= deadline {
                tracing::info!(status = %r.status, "QEMU did not finish sampling the dirty rate in time");
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The memory that has to cross, MiB: what the guest's RAM holds
    /// resident (never-touched memory is not sent).
    fn to_send_mib(&self) -> u64 {
        let ram_kib = self.memory_mib << 10;
        ldm_qemu::guest_ram_rss_kib(self.pid, ram_kib)
            .or_else(|| ldm_qemu::rss_kib(self.pid))
            .map(|k| k.min(ram_kib) >> 10)
            .unwrap_or(self.memory_mib)
    }
}

/// What the prediction needs besides the sampling.
pub(super) struct Facts {
    /// When the move would switch to post-copy (`Never` when it cannot).
    pub postcopy: ldm_api::migration::PostcopyMode,
    /// The probe's rate, bytes/s, if the target took one.
    pub probed: Option<f64>,
    /// The move's bandwidth cap, MiB/s.
    pub cap_mib: Option<u64>,
    /// The downtime target, ms.
    pub downtime_limit_ms: u64,
    /// The dry run's own checks so far (connection, authentication).
    pub checks_ms: u64,
}

/// The prediction, once QEMU's sampling is in.
pub(super) async fn estimate(d: &Daemon, s: &Sampling, f: Facts) -> Option<MemoryEstimate> {
    let dirty = s.dirty_rate().await?;
    let to_send = s.to_send_mib();
    let last_rate = meta_u64(d, RATE_KEY);
    let (link, source) = match (f.probed, last_rate) {
        (Some(bps), _) => (
            ((bps / 1048576.0).round() as u64).max(1),
            LinkSource::Measured,
        ),
        (None, Some(r)) => (r, LinkSource::LastMigration),
        (None, None) => (ASSUMED_RATE_MIB, LinkSource::Assumed),
    };
    // QEMU's own copy can be slower than the link (under TCG it shares
    // the CPU with the guest); the last move's rate on this host bounds it.
    let qemu_rate = last_rate.filter(|r| source == LinkSource::Measured && *r < link);
    let rate = [Some(link), f.cap_mib, qemu_rate]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(link)
        .max(1);
    let fixed_ms = meta_u64(d, FIXED_KEY).unwrap_or(f.checks_ms + ASSUMED_PREPARE_MS);
    let o = predict(&Inputs {
        memory_bytes: s.memory_mib << 20,
        to_send_bytes: to_send << 20,
        dirty_bytes_s: (dirty << 20) as f64,
        rate_bytes_s: (rate << 20) as f64,
        downtime_limit_ms: f.downtime_limit_ms,
        fixed_ms,
        pause_overhead_ms: PAUSE_OVERHEAD_MS,
    });
    let first_pass_ms = (to_send as f64 / rate as f64 * 1000.0).round() as u64;
    let postcopy_after_ms =
        ldm_api::postcopy::planned_after_ms(f.postcopy, &o, fixed_ms, first_pass_ms);
    Some(MemoryEstimate {
        memory_mib: s.memory_mib,
        to_send_mib: to_send,
        dirty_rate_mib_s: dirty,
        link_mib_s: link,
        link_source: source,
        cap_mib_s: f.cap_mib,
        qemu_rate_mib_s: qemu_rate,
        downtime_limit_ms: f.downtime_limit_ms,
        total_ms: o.finishes.then_some(o.total_ms),
        pause_ms: o.finishes.then_some(o.pause_ms),
        passes: o.summary_passes(),
        sent_mib: o.bytes >> 20,
        converges: o.converges,
        throttle_percent: o.throttle_percent,
        postcopy_after_ms,
    })
}

fn meta_u64(d: &Daemon, key: &str) -> Option<u64> {
    d.db.meta(key)
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
}

/// Keeps a finished live move's bulk rate and its time outside the copy
/// for the next dry run that cannot probe.
pub(super) fn remember(d: &Daemon, s: &Summary) {
    let copy_ms = s.qemu_ms.saturating_sub(s.setup_ms);
    let rate = s.bulk_rate_mib_s.round() as u64;
    if rate > 0 && copy_ms > 0 {
        let _ = d.db.set_meta(RATE_KEY, &rate.to_string());
        let fixed = s.total_ms.saturating_sub(copy_ms).max(1);
        let _ = d.db.set_meta(FIXED_KEY, &fixed.to_string());
    }
}

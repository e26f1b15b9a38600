//! What a live move measures before it starts (the guest's dirty rate,
//! the memory that has to cross, the path to the target), the copy it
//! chooses from that ([`ldm_api::channels`]: multifd pre-copy, or one
//! channel with post-copy ready) and the model's prediction at the
//! chosen channels ([`ldm_api::predict`]), which the dry run prints.
//! The copy's rate is the lowest of the link, the cap and, once this host
//! has moved a domain live, the rate QEMU reached then at the same
//! channel count (under TCG QEMU's copy, not the link, is what limits
//! it, and one channel carries about half of what two do); on a host's
//! first move, the slower of the probed link and the target's
//! first-touch write rate ([`ldm_api::copy_rate`]).
//!
//! Sampling the dirty rate takes QEMU a second for a dry run and 300 ms
//! (with eight times QEMU's default sample of pages) for a move; it starts
//! before the checks and is read after them, so a move (with
//! `--postcopy=auto`) or a dry run waits little longer.
//! The path is measured by a probe over the peer connection when the
//! target takes one (`super::super::probe`); otherwise the rate of this
//! host's last live move is used, else an assumed figure, and the dry run
//! says which.
//!
//! Each live move also keeps the dirty rate the guest kept during its
//! copy ([`ldm_api::dirty_during`]) for its domain
//! ([`crate::migration::dirty_during`]). When the same
//! domain is predicted again from this host, the model takes that rate
//! instead of the sample (under TCG the copy's threads take CPU from the
//! guest's vCPUs, and a sample at rest or during the checks says little
//! of the copy). A ratio of it to the sample was tried and made the
//! predictions no better (docs/benchmarks.md).

use crate::daemon::Daemon;
use crate::ops::machine::QmpGuard;
use ldm_api::channels::{choose, CopyChoice, Facts as ChoiceFacts, Measured};
use ldm_api::copy_rate::{copy_rate, CopyRate, RateFacts};
use ldm_api::dirty_during::DuringCopy;
use ldm_api::migration::{LinkSource, MemoryEstimate, PostcopyMode, Summary};
use ldm_api::postcopy::planned_after_ms;
use ldm_api::predict::{predict, Inputs, Outcome};
use ldm_qemu::Qmp;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The database key of the last live move's bulk rate, MiB/s, whatever
/// its channels (older releases read only this one; see [`rate_key`]).
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
/// QEMU's sampling period for a dry run, which has time to measure well.
pub(super) const DRY_RUN_SAMPLE: Duration = Duration::from_secs(1);
/// QEMU's sampling period for a move with `--postcopy=auto`, which waits
/// for it before the copy starts: short, with QEMU's largest sample of
/// pages to make up for it.
pub(super) const MOVE_SAMPLE: Duration = Duration::from_millis(300);
/// How long after the period the result may take to appear.
const SAMPLE_GRACE: Duration = Duration::from_secs(2);

/// A dirty-rate measurement under way in the domain's QEMU.
pub(super) struct Sampling {
    qmp: Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: PathBuf,
    pid: u32,
    memory_mib: u64,
    started: Instant,
    period: Duration,
}

impl Sampling {
    /// Starts QEMU's sampling; `None` (logged) if QEMU refuses.
    pub(super) async fn start(
        name: &str,
        qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
        socket: &Path,
        pid: u32,
        memory_mib: u64,
        period: Duration,
    ) -> Option<Sampling> {
        let started = Instant::now();
        let r = match QmpGuard::lock(qmp, socket).await {
            Ok(mut g) => g
                .q()
                .calc_dirty_rate(period)
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
            period,
        })
    }

    /// QEMU's result, MiB/s, once its period is over (within a deadline).
    async fn dirty_rate(&self) -> Option<u64> {
        let deadline = self.started + self.period + SAMPLE_GRACE;
        tokio::time::sleep_until((self.started + self.period).into()).await;
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

/// What the choice and the prediction need besides the sampling.
pub(super) struct Facts {
    /// The move's `--postcopy`.
    pub mode: PostcopyMode,
    /// Why the move cannot switch to post-copy at all (`None`: it can).
    pub no_postcopy: Option<String>,
    /// The channels of a multifd copy (the summary's count).
    pub multifd_channels: u32,
    /// The probe's rate, bytes/s, if the target took one.
    pub probed: Option<f64>,
    /// The target's first-touch write rate, MiB/s, if it reported one
    /// (with a probe only).
    pub first_touch_mib: Option<u64>,
    /// The move's bandwidth cap, MiB/s.
    pub cap_mib: Option<u64>,
    /// The downtime target, ms.
    pub downtime_limit_ms: u64,
    /// The checks so far (connection, authentication).
    pub checks_ms: u64,
    /// The domain's UUID.
    pub uuid: String,
}

/// The choice of the copy and, when it could be measured, the
/// prediction of the move at the chosen channels.
pub(super) struct Forecast {
    pub choice: CopyChoice,
    pub memory: Option<MemoryEstimate>,
    /// The dirty rate QEMU sampled, MiB/s, if it was read: the move
    /// compares the rate during its copy with it.
    pub sampled_dirty_mib: Option<u64>,
}

/// What was measured, before a rate is chosen.
struct Base {
    memory_mib: u64,
    to_send_mib: u64,
    /// QEMU's sampled rate, MiB/s.
    sampled_dirty_mib: u64,
    /// The rate this domain kept during its last move from here, MiB/s.
    during_mib: Option<u64>,
    link_mib: u64,
    link_source: LinkSource,
    fixed_ms: u64,
}

impl Base {
    /// The dirty rate the model takes: the domain's rate during its last
    /// move from here, else the sample, MiB/s.
    fn dirty_mib(&self) -> u64 {
        self.during_mib.unwrap_or(self.sampled_dirty_mib)
    }
}

/// The model at `channels`: the rate it takes
/// ([`ldm_api::copy_rate`]: what bounded it) and its prediction.
struct AtRate {
    rate: CopyRate,
    outcome: Outcome,
    first_pass_ms: u64,
}

fn at_rate(d: &Daemon, b: &Base, f: &Facts, channels: u32) -> AtRate {
    let rate = copy_rate(&RateFacts {
        link_mib: b.link_mib,
        link_source: b.link_source,
        cap_mib: f.cap_mib,
        last_mib: last_rate(d, channels),
        first_touch_mib: f.first_touch_mib,
    });
    let rate_mib = rate.rate_mib;
    let outcome = predict(&Inputs {
        memory_bytes: b.memory_mib << 20,
        to_send_bytes: b.to_send_mib << 20,
        dirty_bytes_s: (b.dirty_mib() << 20) as f64,
        rate_bytes_s: (rate_mib << 20) as f64,
        downtime_limit_ms: f.downtime_limit_ms,
        fixed_ms: b.fixed_ms,
        pause_overhead_ms: PAUSE_OVERHEAD_MS,
    });
    let first_pass_ms = (b.to_send_mib as f64 / rate_mib as f64 * 1000.0).round() as u64;
    AtRate {
        rate,
        outcome,
        first_pass_ms,
    }
}

/// What the sampling measured and where the link's rate comes from.
async fn base(d: &Daemon, s: Option<&Sampling>, f: &Facts) -> Result<Base, String> {
    let s = s.ok_or("QEMU did not sample the guest's dirty rate")?;
    let dirty = s
        .dirty_rate()
        .await
        .ok_or("QEMU did not report the guest's dirty rate in time")?;
    let (link_mib, link_source) = match (f.probed, meta_u64(d, RATE_KEY)) {
        (Some(bps), _) => (
            ((bps / 1048576.0).round() as u64).max(1),
            LinkSource::Measured,
        ),
        (None, Some(r)) => (r, LinkSource::LastMigration),
        (None, None) => (ASSUMED_RATE_MIB, LinkSource::Assumed),
    };
    Ok(Base {
        memory_mib: s.memory_mib,
        to_send_mib: s.to_send_mib(),
        sampled_dirty_mib: dirty,
        during_mib: crate::migration::dirty_during::read(&d.db, &f.uuid),
        link_mib,
        link_source,
        fixed_ms: meta_u64(d, FIXED_KEY).unwrap_or(f.checks_ms + ASSUMED_PREPARE_MS),
    })
}

/// The copy this move runs ([`ldm_api::channels::choose`]) and the
/// prediction at its channel count. Measures (waits for QEMU's sampling)
/// only when it matters: for the choice of `auto`, or for a dry run
/// (`predict`).
pub(super) async fn forecast(
    d: &Daemon,
    s: Option<&Sampling>,
    f: Facts,
    predict_move: bool,
) -> Forecast {
    let needed = predict_move || (f.mode == PostcopyMode::Auto && f.no_postcopy.is_none());
    let base = if needed {
        base(d, s, &f).await
    } else {
        Err("not measured".into())
    };
    let n = f.multifd_channels.max(1);
    let multifd = base.as_ref().ok().map(|b| (b, at_rate(d, b, &f, n)));
    let measured = match &multifd {
        Some((b, m)) => Ok(Measured {
            dirty_mib_s: b.dirty_mib(),
            rate_mib_s: m.rate.rate_mib,
            outcome: m.outcome,
            fixed_ms: b.fixed_ms,
            first_pass_ms: m.first_pass_ms,
        }),
        None => Err(base.as_ref().err().cloned().unwrap_or_default()),
    };
    let choice = choose(&ChoiceFacts {
        mode: f.mode,
        no_postcopy: f.no_postcopy.clone(),
        multifd_channels: n,
        measured,
    });
    let memory = match multifd.filter(|_| predict_move) {
        Some((b, m)) => {
            // The prediction at the chosen channels; on one channel the
            // switch rule of the move's mode may fire.
            let (at, mode) = if choice.postcopy() {
                (at_rate(d, b, &f, 1), f.mode)
            } else {
                (m, PostcopyMode::Never)
            };
            let o = at.outcome;
            Some(MemoryEstimate {
                memory_mib: b.memory_mib,
                to_send_mib: b.to_send_mib,
                dirty_rate_mib_s: b.sampled_dirty_mib,
                dirty_during_copy_mib_s: b.during_mib,
                link_mib_s: at.rate.link_mib,
                link_source: b.link_source,
                cap_mib_s: f.cap_mib,
                qemu_rate_mib_s: at.rate.qemu_rate_mib,
                first_touch_mib_s: at.rate.first_touch_mib,
                downtime_limit_ms: f.downtime_limit_ms,
                total_ms: o.finishes.then_some(o.total_ms),
                pause_ms: o.finishes.then_some(o.pause_ms),
                passes: o.summary_passes(),
                sent_mib: o.bytes >> 20,
                converges: o.converges,
                throttle_percent: o.throttle_percent,
                postcopy_after_ms: planned_after_ms(mode, &o, b.fixed_ms, at.first_pass_ms),
            })
        }
        None => None,
    };
    Forecast {
        choice,
        memory,
        sampled_dirty_mib: base.as_ref().ok().map(|b| b.sampled_dirty_mib),
    }
}

/// The bulk rate of this host's last live move at `channels`, MiB/s:
/// the rate stored for that count; for several channels without one, the
/// one-channel rate times the count (under TCG a channel's copy is bound
/// by the CPU it gets, so channels add up; a real link bounds it through
/// the probe); else the rate of the last move of any count (the only
/// key older releases stored).
fn last_rate(d: &Daemon, channels: u32) -> Option<u64> {
    rate_of(|k| meta_u64(d, k), channels)
}

/// [`last_rate`] over the stored values `meta` gives.
fn rate_of(meta: impl Fn(&str) -> Option<u64>, channels: u32) -> Option<u64> {
    meta(&rate_key(channels))
        .or_else(|| {
            (channels > 1)
                .then(|| meta(&rate_key(1)))
                .flatten()
                .map(|r| r.saturating_mul(u64::from(channels)))
        })
        .or_else(|| meta(RATE_KEY))
}

/// The database key of the last live move's bulk rate at `channels`.
fn rate_key(channels: u32) -> String {
    format!("{RATE_KEY}-{channels}ch")
}

fn meta_u64(d: &Daemon, key: &str) -> Option<u64> {
    d.db.meta(key)
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
}

/// Keeps a finished live move's bulk rate (under its channel count, and
/// under the key of any count that older releases read), its time
/// outside the copy and, when it can say, the dirty rate during its copy
/// with the domain's `uuid`, for the next move's choice and prediction.
pub(super) fn remember(d: &Daemon, s: &Summary, uuid: &str, during: &DuringCopy) {
    if let Some(mib) = during.rate_mib_s() {
        let mib = (mib.round() as u64).max(1);
        if let Err(e) = crate::migration::dirty_during::keep(&d.db, uuid, mib) {
            tracing::info!("the dirty rate during the move was not kept: {e}");
        }
    }
    let copy_ms = s.qemu_ms.saturating_sub(s.setup_ms);
    let rate = s.bulk_rate_mib_s.round() as u64;
    if rate > 0 && copy_ms > 0 {
        let _ = d.db.set_meta(RATE_KEY, &rate.to_string());
        let _ =
            d.db.set_meta(&rate_key(s.channels.max(1)), &rate.to_string());
        let fixed = s.total_ms.saturating_sub(copy_ms).max(1);
        let _ = d.db.set_meta(FIXED_KEY, &fixed.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored keys and values, channels, the rate the model takes.
    type Row = (&'static [(&'static str, u64)], u32, Option<u64>);

    #[test]
    fn the_last_rate_at_a_channel_count() {
        #[rustfmt::skip]
        let rows: &[Row] = &[
            // Nothing stored yet.
            (&[], 2, None),
            // An older release's key, whatever the count.
            (&[("memory-migration-rate-mib", 300)], 2, Some(300)),
            (&[("memory-migration-rate-mib", 300)], 1, Some(300)),
            // Each count its own.
            (&[("memory-migration-rate-mib", 180), ("memory-migration-rate-mib-2ch", 390),
               ("memory-migration-rate-mib-1ch", 180)], 2, Some(390)),
            (&[("memory-migration-rate-mib", 180), ("memory-migration-rate-mib-2ch", 390),
               ("memory-migration-rate-mib-1ch", 180)], 1, Some(180)),
            // Several channels never measured: one channel's rate times
            // the count, not the older key (which a one-channel move wrote).
            (&[("memory-migration-rate-mib", 180), ("memory-migration-rate-mib-1ch", 180)], 2, Some(360)),
            // One channel never measured: the last move's rate.
            (&[("memory-migration-rate-mib", 390), ("memory-migration-rate-mib-2ch", 390)], 1, Some(390)),
        ];
        for (stored, channels, want) in rows {
            let meta = |k: &str| stored.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            assert_eq!(rate_of(meta, *channels), *want, "{stored:?} at {channels}");
        }
    }
}

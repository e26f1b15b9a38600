//! The source's side of a storage migration (`--copy-storage`).
//!
//! ```text
//! source QEMU: vdI ──blockdev-mirror──▶ NBD client node ─unix─▶ source ldmd
//!     ══TLS (per-migration certificate, NBD token)══▶ target ldmd ─unix─▶ target NBD server
//! ```
//!
//! Live: every disk is mirrored (`sync=full`, `write-blocking`) into the
//! target's export of the same disk; memory moves only once every mirror is
//! `ready`. QEMU then pauses the source at `pre-switchover`
//! (`pause-before-switchover`), where each ready mirror is completed
//! without a pivot (`block-job-cancel`): the target holds every write made
//! before the pause. Only then does QEMU send the final state. On rollback
//! the mirrors are abandoned (`force`); the source's disks are only ever
//! read.
//!
//! Cold (a bound or inactive domain): `qemu-img convert` reads each back
//! end and writes the target's export through the same tunnel.

use super::driver::Driver;
use super::fail;
use super::machine::Event;
use crate::daemon::Daemon;
use crate::error::Result;
use crate::migration::deadline::{Wait, HEARTBEAT};
use crate::migration::protocol::ToTarget;
use crate::migration::tunnel::{self, Endpoint, Tunnel};
use crate::migration::volumes::VolumeOffer;
use ldm_api::migration::{CopyEstimate, MigrateRequest, Phase, Progress};
use ldm_qemu::Qmp;
use std::path::Path;
use std::time::{Duration, Instant};

/// The database key of the last measured storage copy rate, MiB/s.
const RATE_KEY: &str = "storage-copy-rate-mib";
/// The rate a dry run assumes when nothing better is known, MiB/s.
const ASSUMED_RATE_MIB: u64 = 100;
/// Where the disk channel's socket is, in the migration's directory.
const NBD_OUT: &str = "nbd-out.sock";

/// The dry run's estimate: the bytes each volume holds, at the bandwidth
/// cap, else at the rate this host measured on its last storage copy,
/// else at an assumed rate (said so).
pub(super) fn estimate(d: &Daemon, m: &MigrateRequest, vols: &[VolumeOffer]) -> CopyEstimate {
    let bytes = allocated(vols);
    let measured =
        d.db.meta(RATE_KEY)
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|r| *r > 0);
    let (rate, source) = match (m.bandwidth_mib, measured) {
        (Some(cap), _) => (cap, "the bandwidth cap".to_string()),
        (None, Some(r)) => (r, "measured on this host's last storage copy".to_string()),
        (None, None) => (
            ASSUMED_RATE_MIB,
            "assumed: no storage copy measured on this host yet".to_string(),
        ),
    };
    let rate = rate.max(1);
    CopyEstimate {
        bytes,
        rate_mib_s: rate,
        rate_source: source,
        seconds: bytes.div_ceil(rate << 20),
    }
}

/// The bytes the volumes hold.
fn allocated(vols: &[VolumeOffer]) -> u64 {
    vols.iter().map(|v| v.allocated_bytes).sum()
}

/// Keeps the rate of a finished copy for the next dry run's estimate.
fn remember_rate(d: &Daemon, bytes: u64, ms: u64) {
    let rate = (bytes >> 20) * 1000 / ms.max(1);
    if rate > 0 {
        let _ = d.db.set_meta(RATE_KEY, &rate.to_string());
    }
}

/// The mirrors of a live storage copy.
pub(super) struct Mirror {
    _tunnel: Tunnel,
    /// (job id, NBD client node) of each disk.
    jobs: Vec<(String, String)>,
    started: Instant,
}

fn job_of(i: usize) -> (String, String) {
    let node = ldm_qemu::disks::node_name(i);
    (format!("ldm-mirror-{node}"), format!("ldm-nbd-{node}"))
}

/// The disk channel's token from the target's endpoint.
fn nbd_token(ep: &Endpoint) -> Result<[u8; tunnel::TOKEN_LEN]> {
    ep.nbd_token.ok_or_else(|| {
        fail("the target prepared no disk channel: it cannot take a storage migration (upgrade ldm there)")
    })
}

impl Driver<'_> {
    /// Live: opens the disk channel and mirrors every disk into the
    /// target; returns once every mirror is in sync (or fails, or is
    /// cancelled).
    pub(super) async fn mirror_disks(
        &mut self,
        q: &mut Qmp,
        ep: &Endpoint,
        dir: &Path,
    ) -> Result<()> {
        let disks = self.offer.spec.disks.len();
        let socket = dir.join(NBD_OUT);
        let tunnel = tunnel::connect(&socket, ep.clone(), nbd_token(ep)?).await?;
        let mirror = Mirror {
            _tunnel: tunnel,
            jobs: Vec::new(),
            started: Instant::now(),
        };
        self.run.info(format!(
            "Phase 3: copying {disks} disk(s), {} MiB allocated, to the target's back ends",
            allocated(&self.offer.volumes) >> 20
        ));
        let path = socket.to_string_lossy().into_owned();
        // What an interrupted earlier storage copy may have left in QEMU.
        for i in 0..disks {
            let (job, node) = job_of(i);
            if q.block_job_cancel(&job, true).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = q.job_dismiss(&job).await;
            let _ = q.blockdev_del(&node).await;
        }
        // Recorded first: a rollback detaches whatever was attached.
        let mirror = self.copy.mirror.insert(mirror);
        for i in 0..disks {
            let (job, node) = job_of(i);
            q.blockdev_add_nbd(&node, &path, &ldm_qemu::disks::node_name(i))
                .await?;
            mirror.jobs.push((job.clone(), node.clone()));
            let speed = self.tuning.max_bandwidth_bytes;
            q.blockdev_mirror(&job, &ldm_qemu::disks::node_name(i), &node, speed)
                .await?;
        }
        crate::testhook::hold("source-mirroring").await;
        self.wait_in_sync(q).await
    }

    async fn wait_in_sync(&mut self, q: &mut Qmp) -> Result<()> {
        let mut headway = (0u64, Instant::now());
        let mut beat = Instant::now() - HEARTBEAT;
        loop {
            if self.run.cancelled() {
                return Err(fail("migration cancelled during the storage copy"));
            }
            let jobs = q.query_jobs().await?;
            let ours = self
                .copy
                .mirror
                .as_ref()
                .map(|m| m.jobs.clone())
                .unwrap_or_default();
            let (mut done, mut total, mut ready) = (0u64, 0u64, true);
            for (id, _) in &ours {
                let j = jobs
                    .iter()
                    .find(|j| &j.id == id)
                    .ok_or_else(|| fail(format!("the storage copy's job {id} is gone")))?;
                if let Some(e) = &j.error {
                    return Err(fail(format!("the storage copy failed: {e}")));
                }
                if j.status == "concluded" || j.status == "null" || j.status == "aborting" {
                    return Err(fail(format!("the storage copy's job {id} ended early")));
                }
                ready &= j.status == "ready";
                done += j.current;
                total += j.total;
            }
            if ready {
                let ms = self
                    .copy
                    .mirror
                    .as_ref()
                    .map_or(0, |m| m.started.elapsed().as_millis() as u64);
                self.storage = Some((total, ms));
                // The estimate multiplies what the disks hold: the rate is
                // of that too (zero ranges cross as write-zeroes requests).
                remember_rate(&self.run.d, allocated(&self.offer.volumes), ms);
                self.run.info(format!(
                    "Disks in sync: {} MiB in {:.1} s; copying memory",
                    total >> 20,
                    ms as f64 / 1000.0
                ));
                return Ok(());
            }
            if done > headway.0 {
                headway = (done, Instant::now());
            } else if headway.1.elapsed() > Wait::CopyHeadway.get() {
                return Err(fail(format!(
                    "the storage copy made no headway for {} s",
                    Wait::CopyHeadway.get().as_secs()
                )));
            }
            if beat.elapsed() >= HEARTBEAT {
                beat = Instant::now();
                self.storage_beat(done, total).await?;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Shows the storage copy's progress here and tells the target (the
    /// heartbeat it waits for).
    async fn storage_beat(&mut self, done: u64, total: u64) -> Result<()> {
        if let Some(Event::TargetRefused(m) | Event::PeerLost(m)) = self.peer_news().await {
            return Err(fail(m));
        }
        let elapsed = self.run.t0.elapsed().as_secs_f64().max(0.001);
        let percent = self.copy.percent.next((done * 50 / total.max(1)) as u8);
        self.run.report(Progress {
            phase: Phase::Precopy,
            percent,
            transferred_bytes: done,
            remaining_bytes: total.saturating_sub(done),
            rate_mib_s: done as f64 / 1_048_576.0 / elapsed,
            passes: 0,
            ..Default::default()
        });
        let msg = ToTarget::Progress {
            phase: Phase::Precopy,
            percent,
        };
        self.send(&msg)
            .await
            .map_err(|_| fail("lost the connection to the target during the storage copy"))
    }

    /// At `pre-switchover` (the source paused): completes every mirror
    /// without a pivot, so the target holds every write made so far, and
    /// detaches the NBD nodes.
    pub(super) async fn complete_mirrors(
        &mut self,
        q: &mut Qmp,
    ) -> std::result::Result<(), String> {
        let Some(m) = self.copy.mirror.take() else {
            return Ok(());
        };
        for (job, _) in &m.jobs {
            q.block_job_cancel(job, false)
                .await
                .map_err(|e| format!("cannot complete the storage copy: {e}"))?;
        }
        let until = Instant::now() + Wait::Switchover.get();
        loop {
            let jobs = q.query_jobs().await.map_err(|e| e.to_string())?;
            let mut all = true;
            for (id, _) in &m.jobs {
                match jobs.iter().find(|j| &j.id == id) {
                    Some(j) if j.status == "concluded" => {
                        if let Some(e) = &j.error {
                            return Err(format!("the storage copy did not complete: {e}"));
                        }
                    }
                    Some(_) => all = false,
                    None => return Err(format!("the storage copy's job {id} is gone")),
                }
            }
            if all {
                break;
            }
            if Instant::now() > until {
                return Err("the storage copy did not complete in time".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for (job, node) in &m.jobs {
            let _ = q.job_dismiss(job).await;
            let _ = q.blockdev_del(node).await;
        }
        Ok(())
    }

    /// Rollback: abandons the mirrors (the source's disks were only read)
    /// and detaches the NBD nodes.
    pub(super) async fn abandon_mirrors(&mut self, q: &mut Qmp) {
        let Some(m) = self.copy.mirror.take() else {
            return;
        };
        for (job, _) in &m.jobs {
            let _ = q.block_job_cancel(job, true).await;
        }
        let until = Instant::now() + Wait::Release.get();
        while Instant::now() < until {
            let jobs = q.query_jobs().await.unwrap_or_default();
            if m.jobs.iter().all(|(id, _)| {
                jobs.iter()
                    .find(|j| &j.id == id)
                    .is_none_or(|j| j.status == "concluded" || j.status == "null")
            }) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (job, node) in &m.jobs {
            let _ = q.job_dismiss(job).await;
            if let Err(e) = q.blockdev_del(node).await {
                tracing::warn!(domain = %self.run.m.name, "cannot detach {node}: {e}");
            }
        }
    }

    /// Cold: copies each disk's back end into the target's export with
    /// `qemu-img convert`, through the tunnel.
    pub(super) async fn cold_copy(&mut self) -> std::result::Result<(), Event> {
        let r = self.cold_copy_inner().await;
        let dir = self.source_dir();
        let _ = std::fs::remove_dir_all(&dir);
        r.map_err(|e| {
            if self.run.cancelled() {
                Event::Cancel
            } else {
                Event::Failed(e.to_string())
            }
        })
    }

    async fn cold_copy_inner(&mut self) -> Result<()> {
        let ep = self
            .endpoint
            .clone()
            .ok_or_else(|| fail("no data channel from the target"))?;
        let socket = self.source_dir().join(NBD_OUT);
        let _tunnel = tunnel::connect(&socket, ep.clone(), nbd_token(&ep)?).await?;
        let started = Instant::now();
        let total = allocated(&self.offer.volumes);
        self.run.info(format!(
            "Phase 3: copying {} disk(s), {} MiB allocated, to the target's back ends",
            self.offer.volumes.len(),
            total >> 20
        ));
        for (i, k) in self.offer.spec.disks.clone().iter().enumerate() {
            let row = self
                .run
                .d
                .db
                .vdsdev(&k.volume, &k.service)?
                .ok_or_else(|| fail(format!("volume {} is gone", k.volume_ref())))?;
            let format = self.offer.volumes[i].format;
            let url = format!(
                "nbd+unix:///{}?socket={}",
                ldm_qemu::disks::node_name(i),
                socket.display()
            );
            let child = tokio::process::Command::new("qemu-img")
                .args(convert_args(format, self.tuning.max_bandwidth_bytes))
                .arg(&row.backend)
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| fail(format!("cannot run qemu-img ({e}): install qemu-utils")))?;
            self.wait_convert(child, &k.volume_ref()).await?;
        }
        let ms = started.elapsed().as_millis() as u64;
        self.storage = Some((total, ms));
        remember_rate(&self.run.d, total, ms);
        Ok(())
    }

    /// Waits for one `qemu-img convert`, with heartbeats and cancel.
    async fn wait_convert(&mut self, child: tokio::process::Child, vol: &str) -> Result<()> {
        let out = child.wait_with_output();
        tokio::pin!(out);
        loop {
            tokio::select! {
                r = &mut out => {
                    let o = r.map_err(|e| fail(format!("qemu-img: {e}")))?;
                    if o.status.success() {
                        return Ok(());
                    }
                    return Err(fail(format!(
                        "copying volume {vol} failed: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    )));
                }
                _ = tokio::time::sleep(HEARTBEAT) => {
                    if self.run.cancelled() {
                        return Err(fail("migration cancelled during the storage copy"));
                    }
                    self.storage_beat(0, 1).await?;
                }
            }
        }
    }

    /// This migration's private directory on the source.
    pub(super) fn source_dir(&self) -> std::path::PathBuf {
        let t = self.run.d.table();
        let uuid = t.get(&self.run.m.name).map(|dom| dom.rec.spec.uuid);
        self.run.d.paths.migration_dir(&uuid.unwrap_or_default())
    }
}

/// `qemu-img convert`'s options for a cold copy from an image of `format`
/// into the target's NBD export, at most `rate` bytes/s (0: no cap).
fn convert_args(format: ldm_api::storage::ImageFormat, rate: u64) -> Vec<String> {
    let mut a: Vec<String> = ["convert", "-n", "-f", format.as_str(), "-O", "raw"]
        .map(String::from)
        .to_vec();
    if rate > 0 {
        a.extend(["-r".to_string(), rate.to_string()]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_api::storage::ImageFormat;

    #[test]
    fn a_bandwidth_cap_limits_the_cold_copy() {
        assert!(!convert_args(ImageFormat::Qcow2, 0).contains(&"-r".to_string()));
        let a = convert_args(ImageFormat::Raw, 8 << 20);
        assert_eq!(
            a[a.len() - 2..],
            ["-r".to_string(), (8u64 << 20).to_string()]
        );
    }
}

//! Live migration commands and progress reports.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::commands::{decode, RunState, VmStatus};
use crate::error::{Error, Result};
use crate::qmp::Qmp;

/// The state of a migration, from `query-migrate` or `MIGRATION` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationStatus {
    /// No migration has been started (QEMU then omits the status).
    #[default]
    None,
    /// Connecting and setting up.
    Setup,
    /// Being cancelled.
    Cancelling,
    /// Cancelled; the source keeps running.
    Cancelled,
    /// Copying memory while the guest runs.
    Active,
    /// Post-copy: the guest runs on the target, pages still arriving.
    PostcopyActive,
    /// Post-copy interrupted by a network failure.
    PostcopyPaused,
    /// Post-copy recovery being set up.
    PostcopyRecoverSetup,
    /// Post-copy recovering.
    PostcopyRecover,
    /// Done: on the source the guest is in `postmigrate`.
    Completed,
    /// Failed; see [`MigrationInfo::error_desc`].
    Failed,
    /// COLO fault tolerance.
    Colo,
    /// Guest stopped before switchover, waiting for `migrate-continue`
    /// (with the `pause-before-switchover` capability).
    PreSwitchover,
    /// Guest stopped, device state being sent.
    Device,
    /// Waiting for devices to unplug (failover).
    WaitUnplug,
    /// A status this crate does not know.
    #[serde(other)]
    Unknown,
}

impl MigrationStatus {
    /// QEMU's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStatus::None => "none",
            MigrationStatus::Setup => "setup",
            MigrationStatus::Cancelling => "cancelling",
            MigrationStatus::Cancelled => "cancelled",
            MigrationStatus::Active => "active",
            MigrationStatus::PostcopyActive => "postcopy-active",
            MigrationStatus::PostcopyPaused => "postcopy-paused",
            MigrationStatus::PostcopyRecoverSetup => "postcopy-recover-setup",
            MigrationStatus::PostcopyRecover => "postcopy-recover",
            MigrationStatus::Completed => "completed",
            MigrationStatus::Failed => "failed",
            MigrationStatus::Colo => "colo",
            MigrationStatus::PreSwitchover => "pre-switchover",
            MigrationStatus::Device => "device",
            MigrationStatus::WaitUnplug => "wait-unplug",
            MigrationStatus::Unknown => "unknown",
        }
    }

    /// True while QEMU counts the migration as running (it refuses a new
    /// `migrate` then): everything from `setup` to `cancelling`.
    pub fn is_under_way(self) -> bool {
        !(self.is_finished() || matches!(self, MigrationStatus::None | MigrationStatus::Unknown))
    }

    /// True once the migration can make no more progress by itself
    /// (completed, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            MigrationStatus::Completed | MigrationStatus::Failed | MigrationStatus::Cancelled
        )
    }
}

impl fmt::Display for MigrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RAM statistics of a migration (the `ram` part of `query-migrate`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RamStats {
    /// Bytes sent so far (all streams, including multifd).
    pub transferred: u64,
    /// Bytes of dirty RAM still to send.
    pub remaining: u64,
    /// Guest RAM size in bytes.
    pub total: u64,
    /// Zero pages found (sent as a marker, not as data).
    pub duplicate: u64,
    /// Pages sent in full.
    pub normal: u64,
    /// Bytes sent as full pages.
    pub normal_bytes: u64,
    /// Pages dirtied per second by the guest.
    pub dirty_pages_rate: u64,
    /// Throughput in megabits per second.
    pub mbps: f64,
    /// Completed passes over guest RAM (dirty bitmap syncs).
    pub dirty_sync_count: u64,
    /// Pages sent per second.
    pub pages_per_second: u64,
    /// Page size in bytes.
    pub page_size: u64,
    /// Bytes sent through the multifd channels.
    pub multifd_bytes: u64,
    /// Bytes sent during pre-copy on the main channel.
    pub precopy_bytes: u64,
    /// Bytes sent while the guest was stopped.
    pub downtime_bytes: u64,
    /// Bytes sent during post-copy.
    pub postcopy_bytes: u64,
    /// Post-copy page requests from the target.
    pub postcopy_requests: u64,
    /// Zero-copy sends that fell back to copying.
    pub dirty_sync_missed_zero_copy: u64,
}

/// The reply of `query-migrate`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct MigrationInfo {
    /// Current status ([`MigrationStatus::None`] if never started).
    pub status: MigrationStatus,
    /// Milliseconds since the migration started.
    pub total_time: Option<u64>,
    /// Actual downtime in milliseconds (once completed).
    pub downtime: Option<u64>,
    /// QEMU's estimate of the downtime in milliseconds (while active).
    pub expected_downtime: Option<u64>,
    /// Milliseconds spent in setup.
    pub setup_time: Option<u64>,
    /// RAM statistics (source side, once active).
    pub ram: Option<RamStats>,
    /// Percentage of vCPU time throttled by auto-converge.
    pub cpu_throttle_percentage: Option<u64>,
    /// Why the migration failed.
    pub error_desc: Option<String>,
}

impl Qmp {
    /// `migrate-set-capabilities` with `(name, enabled)` pairs, e.g.
    /// `[("multifd", true)]`.
    pub async fn migrate_set_capabilities(&mut self, caps: &[(&str, bool)]) -> Result<()> {
        let list: Vec<Value> = caps
            .iter()
            .map(|(name, state)| json!({ "capability": name, "state": state }))
            .collect();
        self.execute(
            "migrate-set-capabilities",
            Some(json!({ "capabilities": list })),
        )
        .await
        .map(drop)
    }

    /// `query-migrate-capabilities` as `(name, enabled)` pairs.
    pub async fn query_migrate_capabilities(&mut self) -> Result<Vec<(String, bool)>> {
        #[derive(Deserialize)]
        struct Cap {
            capability: String,
            state: bool,
        }
        let v = self.execute("query-migrate-capabilities", None).await?;
        let caps: Vec<Cap> = decode("query-migrate-capabilities", v)?;
        Ok(caps.into_iter().map(|c| (c.capability, c.state)).collect())
    }

    /// `migrate-set-parameters` with an object of QMP parameter names,
    /// e.g. `{"multifd-channels": 2, "max-bandwidth": 0}`.
    pub async fn migrate_set_parameters(&mut self, params: Value) -> Result<()> {
        self.execute("migrate-set-parameters", Some(params))
            .await
            .map(drop)
    }

    /// `query-migrate-parameters`, as QEMU returns it.
    pub async fn query_migrate_parameters(&mut self) -> Result<Value> {
        self.execute("query-migrate-parameters", None).await
    }

    /// `query-migrate`: progress and statistics.
    pub async fn query_migrate(&mut self) -> Result<MigrationInfo> {
        let v = self.execute("query-migrate", None).await?;
        decode("query-migrate", v)
    }

    /// `migrate`: start sending this machine to `uri`
    /// (e.g. `tcp:10.0.0.2:49152`). Returns at once; follow progress with
    /// [`Qmp::query_migrate`] or [`wait_migration`].
    pub async fn migrate(&mut self, uri: &str) -> Result<()> {
        self.execute("migrate", Some(json!({ "uri": uri })))
            .await
            .map(drop)
    }

    /// `migrate-incoming`: start listening on `uri` (e.g.
    /// `tcp:0.0.0.0:49152`) in a QEMU started with `-incoming defer`.
    ///
    /// With `exit_on_error` false a failed incoming migration leaves QEMU
    /// running so the error can be read with [`Qmp::query_migrate`]; with
    /// true (QEMU's default) QEMU exits and the error is only in its log.
    pub async fn migrate_incoming(&mut self, uri: &str, exit_on_error: bool) -> Result<()> {
        self.execute(
            "migrate-incoming",
            Some(json!({ "uri": uri, "exit-on-error": exit_on_error })),
        )
        .await
        .map(drop)
    }

    /// `migrate_cancel`: abort an outgoing migration; the source guest
    /// resumes.
    pub async fn migrate_cancel(&mut self) -> Result<()> {
        self.execute("migrate_cancel", None).await.map(drop)
    }

    /// `migrate-start-postcopy`: switch a running migration (started with
    /// the `postcopy-ram` capability) to post-copy. QEMU stops the source,
    /// sends the device state, and the destination runs the guest while
    /// the rest of its memory follows.
    pub async fn migrate_start_postcopy(&mut self) -> Result<()> {
        self.execute("migrate-start-postcopy", None).await.map(drop)
    }

    /// `migrate-pause`: in post-copy, shut the migration's channels down
    /// (QEMU goes to `postcopy-paused` on either side) so that it stops
    /// waiting on a link that no longer carries anything.
    pub async fn migrate_pause(&mut self) -> Result<()> {
        // Out of band: the guest may hold the main loop on a missing page.
        self.execute_oob("migrate-pause", None).await.map(drop)
    }

    /// `migrate` with `resume`: on a source whose post-copy is paused
    /// (`postcopy-paused`), send the rest of the memory over a new channel
    /// to `uri`, where the destination listens after `migrate-recover`.
    /// QEMU goes `postcopy-recover-setup`, `postcopy-recover`, then back to
    /// `postcopy-active`.
    pub async fn migrate_resume(&mut self, uri: &str) -> Result<()> {
        self.execute("migrate", Some(json!({ "uri": uri, "resume": true })))
            .await
            .map(drop)
    }

    /// `migrate-recover`: on a destination whose post-copy is paused
    /// (`postcopy-paused`), listen on `uri` for the source's new channel.
    /// QEMU refuses it in any other state; run again while still paused,
    /// it drops the earlier listener.
    pub async fn migrate_recover(&mut self, uri: &str) -> Result<()> {
        // Out of band: the guest may hold the main loop on a missing page.
        self.execute_oob("migrate-recover", Some(json!({ "uri": uri })))
            .await
            .map(drop)
    }

    /// `migrate-continue` from the `pre-switchover` state (only reached
    /// with the `pause-before-switchover` capability): let the source
    /// send the final device state and switch over.
    pub async fn migrate_continue(&mut self) -> Result<()> {
        self.execute(
            "migrate-continue",
            Some(json!({ "state": MigrationStatus::PreSwitchover.as_str() })),
        )
        .await
        .map(drop)
    }
}

/// Polls `query-migrate` every `poll` until the migration is completed,
/// or paused in `pre-switchover`, and returns the last report.
///
/// A failed or cancelled migration is an [`Error::MigrationFailed`];
/// still running after `timeout` is an [`Error::QmpTimeout`]. The lock is
/// taken only for each poll, so other tasks can use the connection.
pub async fn wait_migration(
    qmp: &Mutex<Qmp>,
    poll: Duration,
    timeout: Duration,
) -> Result<MigrationInfo> {
    let deadline = Instant::now() + timeout;
    loop {
        let info = qmp.lock().await.query_migrate().await?;
        match info.status {
            MigrationStatus::Completed | MigrationStatus::PreSwitchover => return Ok(info),
            MigrationStatus::Failed | MigrationStatus::Cancelled => {
                return Err(Error::MigrationFailed {
                    status: info.status.to_string(),
                    desc: info
                        .error_desc
                        .unwrap_or_else(|| "QEMU gave no reason; see its log".into()),
                })
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(timeout_error(qmp, "the migration to finish", timeout).await);
        }
        tokio::time::sleep(poll).await;
    }
}

/// On a migration target, polls until the incoming migration has been
/// loaded (the run state leaves `inmigrate`) and returns the new state:
/// `running` if the source guest was running and QEMU was not started
/// with `-S`, else `paused` (or `prelaunch` if the source never ran).
///
/// A failed incoming migration (with `exit_on_error` false) is an
/// [`Error::MigrationFailed`]. The connection stays locked while waiting;
/// see [`Qmp::wait_incoming`].
pub async fn wait_incoming(
    qmp: &Mutex<Qmp>,
    poll: Duration,
    timeout: Duration,
) -> Result<VmStatus> {
    qmp.lock().await.wait_incoming(poll, timeout).await
}

impl Qmp {
    /// [`wait_incoming`] on a connection the caller already holds.
    pub async fn wait_incoming(&mut self, poll: Duration, timeout: Duration) -> Result<VmStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.query_status().await?;
            if status.status != RunState::Inmigrate {
                return Ok(status);
            }
            let info = self.query_migrate().await?;
            if matches!(
                info.status,
                MigrationStatus::Failed | MigrationStatus::Cancelled
            ) {
                return Err(Error::MigrationFailed {
                    status: info.status.to_string(),
                    desc: info
                        .error_desc
                        .unwrap_or_else(|| "QEMU gave no reason; see its log".into()),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::QmpTimeout {
                    what: "the incoming migration to load".to_string(),
                    path: self.path().to_path_buf(),
                    timeout,
                });
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// How often [`Qmp::wait_loaded`] looks again without news, in case an
/// event was lost.
const LOADED_RECHECK: Duration = Duration::from_millis(250);

impl Qmp {
    /// Like [`Qmp::wait_incoming`], but woken by QEMU's `MIGRATION`
    /// events (the `events` capability must be on) instead of polling:
    /// returns as soon as QEMU reports the incoming migration done. Other
    /// events read meanwhile are dropped.
    pub async fn wait_loaded(&mut self, timeout: Duration) -> Result<VmStatus> {
        let deadline = Instant::now() + timeout;
        // Older events (setup, active) must not wake the wait for nothing;
        // one arriving from here on is buffered and read below.
        self.take_events();
        // Looked up on the first round and whenever no event came, so a
        // failure reported before the wait began is seen too.
        let mut look = true;
        loop {
            let status = self.query_status().await?;
            if status.status != RunState::Inmigrate {
                return Ok(status);
            }
            if look {
                let info = self.query_migrate().await?;
                if matches!(
                    info.status,
                    MigrationStatus::Failed | MigrationStatus::Cancelled
                ) {
                    return Err(incoming_failed(info));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::QmpTimeout {
                    what: "the incoming migration to load".to_string(),
                    path: self.path().to_path_buf(),
                    timeout,
                });
            }
            let Some(ev) = self.next_event(left.min(LOADED_RECHECK)).await? else {
                look = true;
                continue;
            };
            look = false;
            let failed = ev.event == "MIGRATION"
                && matches!(
                    ev.data.get("status").and_then(Value::as_str),
                    Some("failed" | "cancelled")
                );
            if failed {
                return Err(incoming_failed(self.query_migrate().await?));
            }
        }
    }
}

fn incoming_failed(info: MigrationInfo) -> Error {
    Error::MigrationFailed {
        status: info.status.to_string(),
        desc: info
            .error_desc
            .unwrap_or_else(|| "QEMU gave no reason; see its log".into()),
    }
}

async fn timeout_error(qmp: &Mutex<Qmp>, what: &str, timeout: Duration) -> Error {
    Error::QmpTimeout {
        what: what.to_string(),
        path: qmp.lock().await.path().to_path_buf(),
        timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_real_reports() {
        // As returned by QEMU 10.0.2 after a multifd + TLS migration.
        let v = json!({"status": "completed", "setup-time": 48, "downtime": 275,
            "total-time": 1388, "ram": {"total": 268967936, "postcopy-requests": 0,
            "dirty-sync-count": 3, "multifd-bytes": 268529536, "pages-per-second": 47094,
            "downtime-bytes": 0, "page-size": 4096, "remaining": 0, "postcopy-bytes": 0,
            "mbps": 1603.834304477612, "transferred": 268642246,
            "dirty-sync-missed-zero-copy": 0, "precopy-bytes": 160, "duplicate": 282,
            "dirty-pages-rate": 0, "normal-bytes": 267825152, "normal": 65387}});
        let info: MigrationInfo = serde_json::from_value(v).unwrap();
        assert_eq!(info.status, MigrationStatus::Completed);
        assert_eq!(info.downtime, Some(275));
        let ram = info.ram.unwrap();
        assert_eq!(ram.dirty_sync_count, 3);
        assert_eq!(ram.multifd_bytes, 268529536);
        assert!(ram.mbps > 1600.0);

        // No migration yet: QEMU returns an empty object.
        let info: MigrationInfo = serde_json::from_value(json!({})).unwrap();
        assert_eq!(info.status, MigrationStatus::None);

        let info: MigrationInfo = serde_json::from_value(json!({"status": "failed",
            "error-desc": "TLS handshake failed"}))
        .unwrap();
        assert_eq!(info.status, MigrationStatus::Failed);
        assert!(info.status.is_finished());
        assert_eq!(info.error_desc.as_deref(), Some("TLS handshake failed"));
    }

    #[test]
    fn status_names() {
        for s in [
            MigrationStatus::PreSwitchover,
            MigrationStatus::PostcopyRecoverSetup,
            MigrationStatus::WaitUnplug,
            MigrationStatus::Device,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        let s: MigrationStatus = serde_json::from_value(json!("brand-new")).unwrap();
        assert_eq!(s, MigrationStatus::Unknown);
    }
}

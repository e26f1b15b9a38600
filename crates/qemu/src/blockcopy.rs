//! The QMP commands of a storage migration: the target's NBD server and
//! exports, the source's NBD client node and its block mirror.
//!
//! The flow (as libvirt's NBD storage migration): the incoming QEMU exports
//! each disk's format node writable on a Unix socket; the source adds an NBD
//! client node per disk and mirrors the disk into it (`sync=full`,
//! `copy-mode=write-blocking`, so a guest write completes only once it is on
//! both sides); when every job is `ready` the memory migration starts; with
//! the source paused at `pre-switchover`, `block-job-cancel` on a ready
//! mirror completes it without a pivot, leaving the target a point-in-time
//! copy as of that moment.

use serde::Deserialize;
use serde_json::json;

use crate::commands::decode;
use crate::error::Result;
use crate::qmp::Qmp;

/// One block job as `query-block-jobs` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockJob {
    /// The job's id.
    pub device: String,
    /// Bytes done.
    pub offset: u64,
    /// Bytes to do (grows while the guest writes).
    pub len: u64,
    /// In sync: the mirror can complete.
    pub ready: bool,
    /// `created`, `running`, `ready`, `concluded`, …
    pub status: String,
}

impl Qmp {
    /// `nbd-server-start` on the Unix socket `path` (a legacy socket
    /// address: the path under `data`).
    pub async fn nbd_server_start(&mut self, path: &str) -> Result<()> {
        let addr = json!({ "type": "unix", "data": { "path": path } });
        self.execute("nbd-server-start", Some(json!({ "addr": addr })))
            .await
            .map(drop)
    }

    /// `block-export-add`: exports block node `node` over the NBD server
    /// under its own name, writable.
    pub async fn nbd_export_writable(&mut self, node: &str) -> Result<()> {
        let args = json!({
            "type": "nbd", "id": node, "node-name": node, "name": node, "writable": true,
        });
        self.execute("block-export-add", Some(args)).await.map(drop)
    }

    /// `nbd-server-stop`, after removing the exports `nodes` (the incoming
    /// side, before it resumes).
    pub async fn nbd_server_stop(&mut self, nodes: &[String]) -> Result<()> {
        for n in nodes {
            let _ = self
                .execute("block-export-del", Some(json!({ "id": n, "mode": "hard" })))
                .await;
        }
        self.execute("nbd-server-stop", None).await.map(drop)
    }

    /// `blockdev-add` of an NBD client node `node` for export `export` on
    /// the Unix socket `path`.
    pub async fn blockdev_add_nbd(&mut self, node: &str, path: &str, export: &str) -> Result<()> {
        let args = json!({
            "driver": "nbd", "node-name": node, "export": export,
            "server": { "type": "unix", "path": path },
        });
        self.execute("blockdev-add", Some(args)).await.map(drop)
    }

    /// `blockdev-del`.
    pub async fn blockdev_del(&mut self, node: &str) -> Result<()> {
        self.execute("blockdev-del", Some(json!({ "node-name": node })))
            .await
            .map(drop)
    }

    /// `blockdev-mirror` of `device` into `target` as job `job`: the whole
    /// disk, guest writes blocking until they are on the target too, at
    /// most `speed` bytes/s (0: no cap). The job stays until it is
    /// dismissed (`auto-dismiss` off), so its end is read from
    /// `query-block-jobs`, not only from an event.
    pub async fn blockdev_mirror(
        &mut self,
        job: &str,
        device: &str,
        target: &str,
        speed: u64,
    ) -> Result<()> {
        let args = mirror_args(job, device, target, speed);
        self.execute("blockdev-mirror", Some(args)).await.map(drop)
    }

    /// `block-job-cancel`. On a ready mirror without `force` this completes
    /// it without a pivot (the target keeps a copy as of now); with `force`
    /// it abandons the copy.
    pub async fn block_job_cancel(&mut self, job: &str, force: bool) -> Result<()> {
        self.execute(
            "block-job-cancel",
            Some(json!({ "device": job, "force": force })),
        )
        .await
        .map(drop)
    }

    /// `job-dismiss` of a concluded job.
    pub async fn job_dismiss(&mut self, job: &str) -> Result<()> {
        self.execute("job-dismiss", Some(json!({ "id": job })))
            .await
            .map(drop)
    }

    /// `query-block-jobs`.
    pub async fn query_block_jobs(&mut self) -> Result<Vec<BlockJob>> {
        let v = self.execute("query-block-jobs", None).await?;
        decode("query-block-jobs", v)
    }

    /// `query-jobs`: each job's id, status and error, if any.
    pub async fn query_jobs(&mut self) -> Result<Vec<JobInfo>> {
        let v = self.execute("query-jobs", None).await?;
        decode("query-jobs", v)
    }
}

/// One job as `query-jobs` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobInfo {
    /// The job's id.
    pub id: String,
    /// `running`, `ready`, `concluded`, …
    pub status: String,
    /// Why it failed, if it did.
    #[serde(default)]
    pub error: Option<String>,
    /// Bytes done.
    #[serde(rename = "current-progress")]
    pub current: u64,
    /// Bytes to do.
    #[serde(rename = "total-progress")]
    pub total: u64,
}

/// The arguments of `blockdev-mirror` (see [`Qmp::blockdev_mirror`]).
fn mirror_args(job: &str, device: &str, target: &str, speed: u64) -> serde_json::Value {
    let mut args = json!({
        "job-id": job, "device": device, "target": target, "sync": "full",
        "copy-mode": "write-blocking", "auto-dismiss": false,
    });
    if speed > 0 {
        args["speed"] = json!(speed);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bandwidth_cap_is_the_mirrors_speed() {
        let a = mirror_args("j", "vd0", "n", 0);
        assert!(a.get("speed").is_none(), "{a}");
        let a = mirror_args("j", "vd0", "n", 32 << 20);
        assert_eq!(a["speed"], json!(32u64 << 20));
        assert_eq!(a["copy-mode"], "write-blocking");
    }

    #[test]
    fn decodes_real_job_reports() {
        // As QEMU 10.0.2 reports a ready mirror.
        let v = json!([{"auto-finalize": true, "io-status": "ok", "device": "ldm-mirror-vd0",
            "auto-dismiss": false, "busy": false, "len": 1073741824, "offset": 1073741824,
            "status": "ready", "paused": false, "speed": 0, "ready": true, "type": "mirror"}]);
        let jobs: Vec<BlockJob> = decode("query-block-jobs", v).unwrap();
        assert!(jobs[0].ready && jobs[0].offset == jobs[0].len);
        let v = json!([{"current-progress": 5, "status": "concluded", "total-progress": 9,
            "type": "mirror", "id": "ldm-mirror-vd0", "error": "Input/output error"}]);
        let jobs: Vec<JobInfo> = decode("query-jobs", v).unwrap();
        assert_eq!(jobs[0].error.as_deref(), Some("Input/output error"));
    }
}

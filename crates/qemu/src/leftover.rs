//! Making sure a source QEMU holds nothing of an earlier outgoing
//! migration before it starts a new one.
//!
//! QEMU registers a `migration` yank instance when `migrate` starts and
//! drops it only when the migration's cleanup has run, after every channel
//! thread has ended; until then a new `migrate` is refused ("duplicate yank
//! instance", or "migration process in progress" while it is still under
//! way). [`Qmp::release_outgoing_migration`] cancels a migration still under
//! way, waits for the cleanup, and if it does not come yanks the old
//! migration's channels (QEMU's `yank` shuts them down, so threads blocked
//! on them return) and waits again.
//!
//! What yank cannot undo: in QEMU 10.0 a migration whose channel broke
//! while it was being set up can leave its migration thread waiting for a
//! channel thread that has ended, in `failed` (or `cancelling` once
//! cancelled) for good. That is reported as
//! [`Error::MigrationNotReleased`]; only a new QEMU process clears it.

use crate::commands::decode;
use crate::error::{Error, Result};
use crate::qmp::Qmp;
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a finished migration may keep its yank instance before its
/// channels are yanked.
const YANK_AFTER: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(20);

/// One entry of `query-yank`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct YankInstance {
    /// `migration`, `chardev` or `block-node`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The chardev's or node's id; absent for `migration`.
    #[serde(default, alias = "node-name")]
    pub id: Option<String>,
}

impl YankInstance {
    /// True for the migration's own instance.
    pub fn is_migration(&self) -> bool {
        self.kind == "migration"
    }
}

impl Qmp {
    /// `query-yank`: the instances whose connections can be yanked.
    pub async fn query_yank(&mut self) -> Result<Vec<YankInstance>> {
        let v = self.execute("query-yank", None).await?;
        decode("query-yank", v)
    }

    /// `yank` of the migration instance: shuts down every channel of the
    /// current or leftover migration.
    pub async fn yank_migration(&mut self) -> Result<()> {
        self.execute(
            "yank",
            Some(json!({ "instances": [{ "type": "migration" }] })),
        )
        .await
        .map(drop)
    }

    /// Cancels an outgoing migration still under way and waits until QEMU
    /// has released everything of it, yanking its channels if the cleanup
    /// does not come by itself. Returns what it had to do; still held
    /// after `timeout` is an [`Error::MigrationNotReleased`].
    pub async fn release_outgoing_migration(&mut self, timeout: Duration) -> Result<Released> {
        self.settle_outgoing_migration(true, timeout).await
    }

    /// Like [`Qmp::release_outgoing_migration`] but only waits and looks:
    /// cancels and yanks nothing (for a dry run).
    pub async fn await_outgoing_migration_released(&mut self, timeout: Duration) -> Result<()> {
        self.settle_outgoing_migration(false, timeout)
            .await
            .map(drop)
    }

    async fn settle_outgoing_migration(
        &mut self,
        act: bool,
        timeout: Duration,
    ) -> Result<Released> {
        let started = Instant::now();
        let mut released = Released::default();
        loop {
            let status = self.query_migrate().await?.status;
            let held = self.query_yank().await?.iter().any(|y| y.is_migration());
            if !status.is_under_way() && !held {
                return Ok(released);
            }
            if act && status.is_under_way() && !released.cancelled {
                self.migrate_cancel().await?;
                released.cancelled = true;
            } else if act && held && !released.yanked && started.elapsed() >= YANK_AFTER {
                tracing::warn!(
                    path = %self.path().display(),
                    %status,
                    "an earlier migration has not released its channels: yanking them"
                );
                self.yank_migration().await?;
                released.yanked = true;
            }
            if started.elapsed() >= timeout {
                return Err(Error::MigrationNotReleased {
                    status: status.to_string(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// What [`Qmp::release_outgoing_migration`] had to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// A migration was still under way and was cancelled.
    pub cancelled: bool,
    /// A finished migration's channels had to be yanked.
    pub yanked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yank_instances_decode() {
        let v = json!([
            {"type": "chardev", "id": "qmp0"},
            {"type": "block-node", "node-name": "disk0"},
            {"type": "migration"}
        ]);
        let list: Vec<YankInstance> = serde_json::from_value(v).unwrap();
        assert_eq!(list[0].id.as_deref(), Some("qmp0"));
        assert_eq!(list[1].id.as_deref(), Some("disk0"));
        assert!(!list[0].is_migration() && list[2].is_migration());
    }
}

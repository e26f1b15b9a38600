//! Hold points for fault tests: ldmd can be made to stop at a named moment
//! of a migration, so that a test injects a fault (kills a QEMU, cuts the
//! link, freezes a daemon) at exactly that moment and then lets it go on.
//!
//! With `LDMD_TEST_HOLD=point[,point…]` and `LDMD_TEST_HOLD_DIR=DIR`,
//! [`hold`] at a listed point writes `DIR/held-POINT` and waits until that
//! file is removed (at most [`DEADLINE`]). Without `LDMD_TEST_HOLD` it does
//! nothing; nor does it once the test removed `DIR` (disarmed). The points
//! are named after the migration's phases: on the source
//! `source-checked`, `source-prepared`, `source-mirroring` (a storage
//! copy: the disk mirrors started, not yet in sync), `source-copying`,
//! `source-postcopy` (post-copy recorded, QEMU not asked to switch yet),
//! `source-postcopy-switched` (QEMU accepted the switch, `Postcopy` not
//! sent yet), `source-switchover` (QEMU completed, source paused, `Commit`
//! not sent),
//! `source-commit-sent`; on the target `target-prepared`, `target-commit`,
//! `target-committed`. Outside migrations, `start-launching` holds
//! `start-domain` after it claimed its domain, before QEMU is launched.

use crate::error::{refuse, Result};
use ldm_api::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The points to hold at, comma-separated.
pub const HOLD_VAR: &str = "LDMD_TEST_HOLD";
/// Where the `held-POINT` files go; required with [`HOLD_VAR`].
pub const HOLD_DIR_VAR: &str = "LDMD_TEST_HOLD_DIR";
/// The longest a point holds before ldmd goes on by itself.
pub const DEADLINE: Duration = Duration::from_secs(900);
/// How often a hold looks whether its file is gone.
const POLL: Duration = Duration::from_millis(20);

/// Refuses a hold list without a directory, so a misconfigured test fails
/// at start instead of never holding.
pub fn check_env() -> Result<()> {
    if std::env::var_os(HOLD_VAR).is_some() && std::env::var_os(HOLD_DIR_VAR).is_none() {
        return Err(refuse(
            ErrorKind::BadRequest,
            format!("{HOLD_VAR} is set but {HOLD_DIR_VAR} is not: set it to the directory for the held-POINT files"),
        ));
    }
    Ok(())
}

/// Holds at `point` if the environment asks for it; a no-op otherwise.
pub async fn hold(point: &str) {
    let Ok(list) = std::env::var(HOLD_VAR) else {
        return;
    };
    let Some(dir) = std::env::var_os(HOLD_DIR_VAR).map(PathBuf::from) else {
        return;
    };
    if listed(&list, point) {
        hold_in(&dir, point, DEADLINE).await;
    }
}

/// Whether `point` is in the comma-separated `list`.
fn listed(list: &str, point: &str) -> bool {
    list.split(',').any(|p| p.trim() == point)
}

/// The file that marks a hold at `point`.
pub fn held_file(dir: &Path, point: &str) -> PathBuf {
    dir.join(format!("held-{point}"))
}

/// Removes the hold file if the waiting future is dropped (a cancelled
/// migration), so a test does not see a hold that no longer holds.
struct Marker(PathBuf);

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the hold file and waits until it is removed or `deadline` passes.
async fn hold_in(dir: &Path, point: &str, deadline: Duration) {
    if !dir.is_dir() {
        // The test removed the directory: holds are disarmed.
        tracing::debug!(point, "test hold: no hold directory, not holding");
        return;
    }
    let file = held_file(dir, point);
    if let Err(e) = std::fs::write(&file, format!("{}\n", std::process::id())) {
        tracing::error!(point, file = %file.display(), "test hold: cannot write the hold file, not holding: {e}");
        return;
    }
    let marker = Marker(file);
    tracing::warn!(point, file = %marker.0.display(), "test hold: waiting until the file is removed");
    let t0 = Instant::now();
    while marker.0.exists() {
        if t0.elapsed() >= deadline {
            tracing::error!(
                point,
                "test hold: nobody released it within {deadline:?}; going on"
            );
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    tracing::info!(
        point,
        held_ms = t0.elapsed().as_millis() as u64,
        "test hold released"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_listed_only_by_its_full_name() {
        assert!(listed("source-copying", "source-copying"));
        assert!(listed("target-commit, source-copying", "source-copying"));
        assert!(!listed("target-committed", "target-commit"));
        assert!(!listed("", "target-commit"));
    }

    #[tokio::test]
    async fn a_hold_waits_until_its_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = held_file(dir.path(), "source-copying");
        let path = dir.path().to_path_buf();
        let task =
            tokio::spawn(
                async move { hold_in(&path, "source-copying", Duration::from_secs(60)).await },
            );
        let t0 = Instant::now();
        while !file.exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "no hold file");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!task.is_finished(), "the hold let go with its file present");
        std::fs::remove_file(&file).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the hold did not let go after its file was removed")
            .unwrap();
    }

    #[tokio::test]
    async fn a_hold_lets_go_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        hold_in(dir.path(), "target-commit", Duration::from_millis(100)).await;
        assert!(!held_file(dir.path(), "target-commit").exists());
    }

    #[tokio::test]
    async fn a_dropped_hold_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            hold_in(dir.path(), "target-prepared", Duration::from_secs(60)),
        )
        .await;
        assert!(r.is_err(), "the hold ended without its file removed");
        assert!(!held_file(dir.path(), "target-prepared").exists());
    }

    #[tokio::test]
    async fn a_removed_directory_disarms_the_holds() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("holds");
        tokio::time::timeout(
            Duration::from_secs(5),
            hold_in(&gone, "source-copying", Duration::from_secs(60)),
        )
        .await
        .expect("a hold without its directory must not wait");
    }

    #[tokio::test]
    async fn an_unlisted_point_does_not_hold() {
        // The test process does not set LDMD_TEST_HOLD: hold returns at once.
        assert!(std::env::var_os(HOLD_VAR).is_none());
        tokio::time::timeout(Duration::from_secs(5), hold("source-copying"))
            .await
            .expect("hold without LDMD_TEST_HOLD must not wait");
    }
}

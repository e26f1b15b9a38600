//! The domain's QEMU must hold nothing of an earlier outgoing migration,
//! or QEMU refuses the new one half-way. Phase 1 (and the dry run) only
//! looks; the claimed migration, and an ldmd restarted after an
//! interrupted one, release what is left.
//!
//! An interrupted migration (ldmd killed, connection lost) normally leaves
//! QEMU clean, and [`ldm_qemu::Qmp::release_outgoing_migration`] cancels or
//! yanks what is left. QEMU 10.0 can however keep a migration whose
//! channel broke while it was being set up for good (as `failed`, or as
//! `cancelling` once cancelled); then only a restart of the domain's QEMU
//! clears it, and the administrator is told so before anything happens.

use crate::ops::machine::QmpGuard;
use ldm_qemu::{Error as QemuError, Qmp};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long the checks of phase 1 wait (they only look).
const LOOK_WAIT: Duration = Duration::from_secs(2);

/// Waits for QEMU to have released an earlier outgoing migration of
/// `name`; with `act`, cancels one still under way and yanks its channels
/// (only once the domain is claimed by this migration). Returns the
/// failure to report, if any.
pub(crate) async fn check_released(
    name: &str,
    qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: &Path,
    act: bool,
) -> Option<String> {
    let mut g = match QmpGuard::lock(qmp, socket).await {
        Ok(g) => g,
        Err(e) => return Some(format!("Domain {name}: its QEMU does not answer: {e}")),
    };
    let outcome = if act {
        g.q().release_outgoing_migration(crate::migration::deadline::Wait::Release.get())
            .await
            .map(|r| {
                if r.cancelled || r.yanked {
                    tracing::warn!(domain = name, released = ?r, "released an earlier migration left in QEMU");
                }
            })
    } else {
        g.q().await_outgoing_migration_released(LOOK_WAIT).await
    };
    match outcome {
        Ok(()) => None,
        Err(QemuError::MigrationNotReleased { status, .. }) => Some(stuck_message(name, &status)),
        Err(e) => Some(format!(
            "Domain {name}: cannot read its QEMU's migration state: {e}"
        )),
    }
}

/// What the administrator reads when QEMU keeps an earlier migration.
fn stuck_message(name: &str, status: &str) -> String {
    format!(
        "Domain {name}'s QEMU still holds an earlier, interrupted migration and does not release it (QEMU migration status {status}; QEMU 10.0 can keep a migration whose channels broke while they were being set up). The domain runs normally here, but this QEMU cannot migrate again: restart the domain (`ldm stop-domain {name}`, `ldm start-domain {name}`), or stop it and migrate it stopped"
    )
}

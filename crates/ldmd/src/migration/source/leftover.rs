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
//!
//! The same holds for a vCPU removed live under TCG: QEMU 10.0 before
//! 10.0.13 keeps the removed vCPU's memory listener, and the next
//! migration's first dirty-memory sync waits on that vCPU for ever (stuck
//! in `setup`; seen here in about one migration in four; QEMU issue 2517,
//! fixed by destroying a CPU's address spaces on unrealize).
//! [`check_removed_vcpus`] reads the fact from QEMU itself, so a QEMU
//! with the fix passes.

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

/// Under TCG, whether the domain's QEMU still holds a vCPU it unplugged
/// (more CPU address spaces than running vCPUs); the failure to report if
/// so.
pub(crate) async fn check_removed_vcpus(
    name: &str,
    qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: &Path,
) -> Option<String> {
    let mut g = match QmpGuard::lock(qmp, socket).await {
        Ok(g) => g,
        Err(e) => return Some(format!("Domain {name}: its QEMU does not answer: {e}")),
    };
    let spaces = g.q().cpu_address_spaces().await;
    let running = g.q().query_cpus_fast().await;
    match (spaces, running) {
        (Ok(spaces), Ok(running)) => removed_vcpus_message(name, spaces, running),
        (Err(e), _) | (_, Err(e)) => {
            Some(format!("Domain {name}: cannot read its QEMU's vCPUs: {e}"))
        }
    }
}

/// The failure for a TCG QEMU with `spaces` CPU address spaces and
/// `running` vCPUs. Pure.
fn removed_vcpus_message(name: &str, spaces: usize, running: usize) -> Option<String> {
    (spaces > running).then(|| format!(
        "Domain {name} had a vCPU removed while it runs, and its QEMU (under TCG) keeps that vCPU's memory listener; a migration of this QEMU can then hang before it copies anything (a defect of QEMU 10.0 before 10.0.13, absent under KVM). The domain runs normally here: restart it (`ldm stop-domain {name}`, `ldm start-domain {name}`) and migrate it then, or migrate it stopped"
    ))
}

#[cfg(test)]
mod tests {
    use super::removed_vcpus_message;

    #[test]
    fn a_removed_vcpu_under_tcg_is_named_with_what_to_do() {
        assert_eq!(removed_vcpus_message("ldg1", 2, 2), None);
        assert_eq!(removed_vcpus_message("ldg1", 1, 1), None);
        let m = removed_vcpus_message("ldg1", 3, 2).expect("a failure");
        assert!(
            m.contains("vCPU removed") && m.contains("ldm stop-domain ldg1"),
            "{m}"
        );
    }
}

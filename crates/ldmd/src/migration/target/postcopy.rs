//! The post-copy steps of a target copy: the guest run here once its
//! incoming QEMU is in post-copy, the post-copy finished on `Commit`, and
//! a copy the source left: finished if its QEMU holds everything, else
//! paused and kept (stranded), or found failed in the switch, before the
//! guest ran here (`never_ran`).

use super::copy::{qmp_of, Created};
use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use crate::migration::deadline::Wait;
use crate::ops::machine::QmpGuard;
use ldm_api::ErrorKind;
use ldm_qemu::RunState;
use std::sync::Arc;
use std::time::Instant;

/// Post-copy on the target, on the source's `Postcopy` (the source
/// recorded that it never resumes, and asked its QEMU to switch): once
/// the incoming QEMU is in post-copy (or done) and has loaded the device
/// state, the guest runs here. QEMU started with `-S` keeps it paused
/// then; `cont` runs it. Not earlier: the device state follows the
/// source's disks being released, and `cont` takes them.
pub(super) async fn run_postcopy(d: &Arc<Daemon>, c: &Created, console_tail: &str) -> Result<()> {
    use ldm_qemu::MigrationStatus as M;
    {
        let t = d.table();
        if let Some(rt) = t.get(&c.name).and_then(|dom| dom.rt.as_ref()) {
            rt.console.preload(console_tail.as_bytes());
        }
    }
    let (qmp, socket) = qmp_of(d, &c.name)?;
    let mut g = QmpGuard::lock(&qmp, &socket).await?;
    let until = Instant::now() + Wait::IncomingLoad.get();
    let wanted = [M::PostcopyActive, M::Completed];
    wait_incoming_status(g.q(), &wanted, Wait::IncomingLoad.get()).await?;
    loop {
        let st = g.q().query_status().await?;
        if st.running {
            break;
        }
        if st.status != ldm_qemu::RunState::Inmigrate {
            // The guest's first steps fault on pages still at the source;
            // under TCG a faulting vCPU can hold QEMU's main loop, so on a
            // slow link `cont` is answered late: wait as for the load.
            let q = g.q();
            let usual = q.timeout();
            q.set_timeout(Wait::IncomingLoad.get().max(usual));
            let r = q.cont().await;
            q.set_timeout(usual);
            r?;
            break;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(refuse(
                ErrorKind::Hypervisor,
                "the incoming QEMU did not load the device state in time",
            ));
        }
        // Woken by QEMU's STOP/RESUME or migration events, or soon.
        g.q()
            .next_event(left.min(std::time::Duration::from_millis(20)))
            .await?;
    }
    tracing::info!(domain = %c.name, "post-copy: the guest runs here while its memory arrives");
    Ok(())
}

/// Finishes a post-copy on `Commit` (the source's QEMU completed): waits
/// for the incoming QEMU to hold everything; the guest already runs.
pub(super) async fn finish_postcopy(d: &Arc<Daemon>, c: &Created) -> Result<u64> {
    let (qmp, socket) = qmp_of(d, &c.name)?;
    let mut g = QmpGuard::lock(&qmp, &socket).await?;
    let t = Instant::now();
    let done = [ldm_qemu::MigrationStatus::Completed];
    wait_incoming_status(g.q(), &done, Wait::IncomingLoad.get()).await?;
    if !g.q().query_status().await?.running {
        g.q().cont().await?;
    }
    Ok(t.elapsed().as_millis() as u64)
}

/// Whether the incoming QEMU of a stranded post-copy already holds the
/// whole guest (then it is finished here: the guest runs on).
pub(super) async fn postcopy_complete(d: &Arc<Daemon>, c: &Created) -> bool {
    let Ok((qmp, socket)) = qmp_of(d, &c.name) else {
        return false;
    };
    let r = async {
        let mut g = QmpGuard::lock(&qmp, &socket).await?;
        let st = g.q().query_migrate().await?.status;
        if st == ldm_qemu::MigrationStatus::Completed && !g.q().query_status().await?.running {
            g.q().cont().await?;
        }
        Ok::<_, crate::error::Error>(st == ldm_qemu::MigrationStatus::Completed)
    };
    tokio::time::timeout(Wait::QemuCommand.get(), r)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or(false)
}

/// Shuts a stranded post-copy's channels in its QEMU (`migrate-pause`),
/// which then waits in `postcopy-paused` instead of on a dead link.
pub(super) async fn pause_postcopy(d: &Arc<Daemon>, c: &Created) {
    let Ok((qmp, socket)) = qmp_of(d, &c.name) else {
        return;
    };
    let r = async {
        let mut g = QmpGuard::lock(&qmp, &socket).await?;
        g.q().migrate_pause().await?;
        Ok::<_, crate::error::Error>(())
    };
    match tokio::time::timeout(Wait::QemuCommand.get(), r).await {
        Ok(Ok(())) => tracing::info!(domain = %c.name, "post-copy paused in QEMU"),
        Ok(Err(e)) => tracing::info!(domain = %c.name, "migrate-pause: {e}"),
        Err(_) => tracing::warn!(domain = %c.name, "migrate-pause: QEMU did not answer"),
    }
}

/// How the note of a copy whose QEMU failed in the switch begins (a
/// `Recover` for it is refused with the note).
pub const LOST_IN_SWITCH: &str = "post-copy failed in the switch";

/// Whether the incoming QEMU of a post-copy failed (after
/// [`pause_postcopy`]): one whose stream broke before it held the device
/// state fails the migration instead of pausing it, and cannot recover.
pub(super) async fn postcopy_failed(d: &Arc<Daemon>, c: &Created) -> bool {
    matches!(
        settled_status(d, c).await,
        Some((ldm_qemu::MigrationStatus::Failed, _))
    )
}

/// What the incoming QEMU of a post-copy the source left before the guest
/// ran here says: its channels shut first ([`pause_postcopy`]), then its
/// migration and run state read once they settled; none if it does not
/// answer. Only [`never_ran`] of what it says is a failure in the switch;
/// no answer is none (the copy is kept).
pub(super) async fn inspect_switch(
    d: &Arc<Daemon>,
    c: &Created,
) -> Option<(ldm_qemu::MigrationStatus, RunState)> {
    pause_postcopy(d, c).await;
    let found = settled_status(d, c).await;
    tracing::info!(domain = %c.name, ?found, "post-copy lost before the guest ran here: the incoming QEMU says");
    found
}

/// The switch window's one test: a migration QEMU reports `failed` while
/// its run state is still `inmigrate`. `inmigrate` is a QEMU's run state
/// from its start until the incoming migration loaded the device state;
/// a guest that ran (after ldm's `cont`, never sent in `inmigrate`) is
/// never `inmigrate` again. A `failed` incoming migration is never
/// resumed or recovered by QEMU.
pub(super) fn never_ran(migration: ldm_qemu::MigrationStatus, run: RunState) -> bool {
    migration == ldm_qemu::MigrationStatus::Failed && run == RunState::Inmigrate
}

/// Waits (woken by QEMU's events, within `deadline`) until the incoming
/// QEMU's migration is in one of `wanted`; a failed one is an error.
async fn wait_incoming_status(
    q: &mut ldm_qemu::Qmp,
    wanted: &[ldm_qemu::MigrationStatus],
    deadline: std::time::Duration,
) -> Result<ldm_qemu::MigrationStatus> {
    use ldm_qemu::MigrationStatus as M;
    let until = Instant::now() + deadline;
    loop {
        let status = q.query_migrate().await?.status;
        if wanted.contains(&status) {
            return Ok(status);
        }
        if matches!(status, M::Failed | M::Cancelled) {
            return Err(refuse(
                ErrorKind::Hypervisor,
                format!("the incoming migration is {status}"),
            ));
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(refuse(
                ErrorKind::Hypervisor,
                format!(
                    "the incoming migration is still {status} after {} s",
                    deadline.as_secs()
                ),
            ));
        }
        q.next_event(left.min(std::time::Duration::from_millis(100)))
            .await?;
    }
}

/// The incoming QEMU's migration status, once it left `postcopy-active`
/// (`migrate-pause` returns before QEMU's load thread has seen its
/// channel shut), and its run state; none if QEMU does not answer in time.
async fn settled_status(
    d: &Arc<Daemon>,
    c: &Created,
) -> Option<(ldm_qemu::MigrationStatus, RunState)> {
    let (qmp, socket) = qmp_of(d, &c.name).ok()?;
    use ldm_qemu::MigrationStatus as M;
    let r = async {
        let mut g = QmpGuard::lock(&qmp, &socket).await?;
        loop {
            match g.q().query_migrate().await?.status {
                M::PostcopyActive => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                m => {
                    let run = g.q().query_status().await?.status;
                    return Ok::<_, crate::error::Error>((m, run));
                }
            }
        }
    };
    tokio::time::timeout(Wait::QemuCommand.get(), r)
        .await
        .ok()
        .and_then(|r| r.ok())
}

/// Marks the copy of a post-copy the source left: kept (never destroyed
/// by ldm: the guest ran here, or the source cannot take it back), `e`
/// with what to know; the claim goes. `never_ran`: its QEMU failed in the
/// switch, before the guest ran here.
pub(super) fn mark_stranded(d: &Arc<Daemon>, c: &mut Created, reason: &str, never_ran: bool) {
    let claim = c.claim.take();
    let mut t = d.table();
    if let Some(dom) = t.get_mut(&c.name) {
        let mut rec = dom.rec.clone();
        if let Some(mark) = rec.migration.as_mut() {
            let (peer, name) = (&mark.peer, &c.name);
            mark.error = Some(if never_ran {
                format!(
                    "{LOST_IN_SWITCH}: the link to {peer} broke ({reason}) while the guest's device state was arriving, before the guest ran here, and this host's QEMU failed the incoming migration; QEMU cannot recover a post-copy at that point. The guest's memory is only in the paused QEMU on {peer}, which QEMU refuses to resume once it switched: the guest's running state is lost. Restart the domain on {peer} (`ldm stop-domain -f {name}`, then `ldm start-domain {name}` there), then remove this copy (`ldm stop-domain -f {name}`, `ldm unbind-domain {name}`, `ldm remove-domain {name}` here)."
                )
            } else {
                format!(
                    "post-copy paused: link to {peer} lost ({reason}); the guest runs here and waits for the memory the source still holds, until the source reconnects and ldm resumes the post-copy. ldm keeps this copy and never destroys it; do not stop or remove it."
                )
            });
        }
        if let Err(e) = crate::daemon::commit(&d.db, dom, rec) {
            tracing::error!(domain = %c.name, "cannot record the stranded post-copy: {e}");
        }
    }
    drop(t);
    drop(claim);
    tracing::error!(domain = %c.name, %reason, "post-copy stopped short: copy kept");
}

#[cfg(test)]
mod tests {
    use super::never_ran;
    use ldm_qemu::{MigrationStatus as M, RunState as R};

    #[test]
    fn only_a_failed_migration_still_inmigrate_never_ran() {
        assert!(never_ran(M::Failed, R::Inmigrate));
        // The device state loaded (paused, waiting for `cont`), or the
        // guest ran: kept.
        for r in [R::Paused, R::Prelaunch, R::Running, R::Postmigrate] {
            assert!(!never_ran(M::Failed, r), "{r}");
        }
        // Paused, still loading or done: kept, it may recover.
        for m in [
            M::PostcopyPaused,
            M::PostcopyActive,
            M::Active,
            M::Completed,
            M::Cancelled,
        ] {
            assert!(!never_ran(m, R::Inmigrate), "{m}");
        }
    }
}

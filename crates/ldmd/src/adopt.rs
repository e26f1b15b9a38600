//! Re-adoption at start: domains keep running while ldmd is down; when it
//! starts again it finds their QEMU processes through the pid files in its
//! runtime directory and takes them back. Domains whose QEMU died are shown
//! as bound.

use crate::daemon::{commit, Daemon};
use crate::error::Result;
use crate::lifecycle::transition;
use crate::migration::target::restart::Settled;
use crate::ops::machine::{reattach, QmpGuard};
use crate::record::MachineState;
use ldm_api::migration::Role;
use ldm_api::state::Transition;
use ldm_api::DomainState;
use std::sync::Arc;

/// Re-adopts every domain that should be running. Runs before the daemon
/// serves anyone; the table is still only locked for short sections.
pub async fn adopt_all(d: &Arc<Daemon>) -> Result<()> {
    let names: Vec<String> = d.table().keys().cloned().collect();
    for name in names {
        adopt_one(d, &name).await?;
        // A post-copy whose QEMU is still here goes on from its stored
        // state (migration/source/restart.rs).
        if crate::migration::source::restart::spawn(d, &name) {
            continue;
        }
        settle_interrupted_source(d, &name).await?;
        let unconfirmed = d.table().get(&name).is_some_and(|dom| {
            dom.rec
                .migration
                .as_ref()
                .is_some_and(crate::migration::source::resolve::resolvable)
        });
        if unconfirmed {
            // Ask the target what became of a hand-off this ldmd did not
            // see end.
            tracing::warn!(domain = %name, "asking the target about an unconfirmed migration");
            crate::migration::source::resolve::spawn(d.clone(), name);
        }
    }
    Ok(())
}

async fn adopt_one(d: &Arc<Daemon>, name: &str) -> Result<()> {
    let Some(rec) = d.table().get(name).map(|dom| dom.rec.clone()) else {
        return Ok(());
    };
    let pid = ldm_qemu::read_pidfile(&d.paths.pidfile(&rec.spec.uuid))
        .filter(|p| ldm_qemu::pid_alive(*p) && ldm_qemu::process_matches(*p, &rec.spec.uuid));
    // A target copy whose migration did not finish (bound for a live or
    // cold move, inactive for a cold one): settled from the stored state
    // (see migration/target/restart.rs).
    let rec = match crate::migration::target::restart::settle(d, &rec, pid).await? {
        Settled::NotOurs => rec,
        Settled::Removed => {
            d.table().remove(name);
            return Ok(());
        }
        Settled::Kept(r) => {
            if let Some(dom) = d.table().get_mut(name) {
                dom.rec = (*r).clone();
            }
            *r
        }
    };
    match (rec.state.has_process(), pid) {
        (true, Some(p)) => match reattach(d, &rec, p).await {
            Ok(rt) => {
                tracing::info!(domain = %name, pid = p, "re-adopted running domain");
                if let Some(dom) = d.table().get_mut(name) {
                    dom.rt = Some(rt);
                }
            }
            Err(e) => tracing::error!(domain = %name, "cannot re-adopt: {e}"),
        },
        (true, None) => {
            tracing::warn!(domain = %name, "QEMU of domain is gone: domain is bound");
            if let Some(dom) = d.table().get_mut(name) {
                transition(&d.db, dom, Transition::Died, |_| {})?;
            }
        }
        (false, Some(p)) => {
            tracing::warn!(domain = %name, pid = p, "stray QEMU for a stopped domain: stopping it");
            let _ = ldm_qemu::kill(p, libc::SIGKILL);
        }
        (false, None) => {}
    }
    Ok(())
}

/// A domain this host was migrating away when ldmd stopped. If it has no
/// QEMU, or its QEMU still runs the guest, the migration simply failed (the
/// target destroys a copy it never resumed): forget it. If QEMU is paused
/// and the stored state says `Commit` never left (it is recorded before it
/// is sent), the target never resumes its copy: resume this one. If
/// `Commit` may have left (or an older record does not say), the target
/// may run the domain: leave it paused in the error state and ask the
/// target (see migration/source/resolve.rs).
async fn settle_interrupted_source(d: &Arc<Daemon>, name: &str) -> Result<()> {
    let (mark, qmp, uuid) = {
        let t = d.table();
        let Some(dom) = t.get(name) else {
            return Ok(());
        };
        let Some(mark) = dom.rec.migration.clone() else {
            return Ok(());
        };
        (
            mark,
            dom.rt.as_ref().map(|rt| rt.qmp.clone()),
            dom.rec.spec.uuid,
        )
    };
    if mark.role != Role::Source || mark.error.is_some() {
        return Ok(());
    }
    let commit_may_have_left = match &mark.state {
        Some(MachineState::Source(s)) => s.past_point_of_no_return(),
        _ => true,
    };
    let mut running = match &qmp {
        None => true,
        Some(qmp) => still_running(d, name, qmp, &uuid).await,
    };
    if let (false, false, Some(qmp)) = (running, commit_may_have_left, &qmp) {
        tracing::warn!(domain = %name, state = ?mark.state, "the migration stopped before Commit was sent: resuming the source");
        if let Ok(mut g) = QmpGuard::lock(qmp, &d.paths.qmp_socket(&uuid)).await {
            if let Err(e) = g.q().cont().await {
                tracing::error!(domain = %name, "cannot resume the source: {e}");
            }
        }
        running = still_running(d, name, qmp, &uuid).await;
    }
    let mut t = d.table();
    let Some(dom) = t.get_mut(name) else {
        return Ok(());
    };
    if running {
        tracing::warn!(domain = %name, "the migration to {} was interrupted by an ldmd restart; this copy stays the master", mark.peer);
        let mut r = dom.rec.clone();
        r.migration = None;
        return commit(&d.db, dom, r);
    }
    tracing::error!(domain = %name, "ldmd restarted during the hand-off to {}: domain left paused in error state", mark.peer);
    // The mark holds the target as host:port.
    let host = mark
        .peer
        .rsplit_once(':')
        .map_or(mark.peer.as_str(), |(h, _)| h);
    let postcopy = matches!(&mark.state, Some(MachineState::Source(s)) if s.in_postcopy());
    let note = if postcopy {
        format!(
            "ldmd restarted while this domain was in post-copy to {}: the guest ran there and this host holds memory it still needs. Do not resume or remove this copy; `ldm list -l {name}` on {host} shows the domain there.",
            mark.peer
        )
    } else {
        format!(
            "ldmd restarted while this domain was being handed over to {}. {}",
            mark.peer,
            crate::migration::source::paused_copy_advice(host, name, name)
        )
    };
    let marked = crate::record::MigrationMark {
        error: Some(note),
        ..mark
    };
    if dom.rec.state == DomainState::Active {
        transition(&d.db, dom, Transition::Suspend, |r| {
            r.migration = Some(marked)
        })
    } else {
        let mut r = dom.rec.clone();
        r.migration = Some(marked);
        commit(&d.db, dom, r)
    }
}

/// Whether the QEMU of a domain whose migration was interrupted still runs
/// the guest (if QEMU cannot tell, it is taken as running); if so, clears
/// what the interrupted migration left in it.
async fn still_running(
    d: &Daemon,
    name: &str,
    qmp: &Arc<tokio::sync::Mutex<Option<ldm_qemu::Qmp>>>,
    uuid: &uuid::Uuid,
) -> bool {
    let socket = d.paths.qmp_socket(uuid);
    let running = match QmpGuard::lock(qmp, &socket).await {
        Ok(mut g) => g
            .q()
            .query_status()
            .await
            .map(|s| s.running)
            .unwrap_or(true),
        Err(_) => true,
    };
    if running {
        if let Some(problem) =
            crate::migration::source::leftover::check_released(name, qmp, &socket, true).await
        {
            tracing::warn!(domain = %name, "{problem}");
        }
    }
    running
}

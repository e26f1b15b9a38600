//! A post-copy taken up again by a restarted ldmd. The relay between the
//! source's QEMU and the target lived in the old process and went with
//! it, so QEMU's channel broke and its post-copy waits (`postcopy-paused`)
//! while the guest runs on the target. At start, a source record whose
//! stored state is in post-copy (`Postcopy`, `PostcopyPaused`,
//! `PostcopyDone`) and whose QEMU is still there is driven again from that
//! state by the same machine and driver as the move itself: the event
//! [`Event::Restarted`] carries whether QEMU reports its copy complete.
//! Not complete: paused, then reconnected, `Recover`, a new relay and
//! QEMU's `migrate` with `resume` (`recover.rs`), and the move finishes as
//! usual (`Commit`, `Committed`, the source copy destroyed only then).
//! Complete: the target is asked what became of it (`resolve.rs`). The
//! client of the move went with the old ldmd; `ldm list -l` says what
//! happens.

use super::driver::Driver;
use super::live::Copy;
use super::machine::{Event, State};
use super::run::Run;
use crate::daemon::{Busy, ClaimKind, Daemon};
use crate::migration::deadline::Wait;
use crate::migration::protocol::DomainOffer;
use crate::ops::machine::QmpGuard;
use crate::record::{MachineState, MigrationMark};
use ldm_api::migration::{Auth, MigrateRequest, Phase, PostcopyMode, Role};
use ldm_api::DomainState;
use ldm_qemu::{MigrationStatus, MigrationTuning};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// The stored post-copy state of a source mark this module takes up, if
/// it is one: a source in post-copy with an id and the target's secret.
pub(crate) fn postcopy_state(mark: &MigrationMark) -> Option<State> {
    let state = match &mark.state {
        Some(MachineState::Source(
            s @ (State::Postcopy | State::PostcopyPaused { .. } | State::PostcopyDone),
        )) => s.clone(),
        _ => return None,
    };
    (mark.role == Role::Source && !mark.id.is_empty() && mark.secret.is_some()).then_some(state)
}

/// Takes up `name`'s post-copy if its record says it is one and its QEMU
/// was re-adopted; returns whether it did. The domain is claimed before
/// this returns (so no verb interleaves), the rest runs in the background.
pub(crate) fn spawn(d: &Arc<Daemon>, name: &str) -> bool {
    let found = {
        let t = d.table();
        t.get(name).and_then(|dom| {
            let mark = dom.rec.migration.clone()?;
            let state = postcopy_state(&mark)?;
            let rt = dom.rt.as_ref()?;
            let qemu = (rt.qmp.clone(), d.paths.qmp_socket(&dom.rec.spec.uuid));
            let dir = d.paths.migration_dir(&dom.rec.spec.uuid);
            Some((mark, state, qemu, dir, offer_of(d, &dom.rec)))
        })
    };
    let Some((mark, state, qemu, dir, offer)) = found else {
        return false;
    };
    let view = Busy::view(Role::Source, mark.peer.clone(), Phase::Postcopy, 0);
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let busy = Busy {
        view: view.clone(),
        cancel: cancel_tx.clone(),
    };
    let claim = match d.claim(name, ClaimKind::Migration(busy)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(domain = %name, "cannot take up the post-copy: {e}");
            return false;
        }
    };
    tracing::warn!(domain = %name, migration = %mark.id, state = state.name(), target = %mark.peer, "ldmd restarted during a post-copy: taking it up again");
    let d = d.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        let Some((host, port)) = mark
            .peer
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        else {
            tracing::error!(domain = %name, "the stored target {} is not host:port", mark.peer);
            return;
        };
        let m = MigrateRequest {
            name: name.clone(),
            host,
            port,
            user: String::new(),
            new_name: mark.peer_name.clone(),
            auth: Auth::Certificate,
            dry_run: false,
            accept_fingerprint: None,
            downtime_ms: None,
            bandwidth_mib: None,
            copy_storage: false,
            overwrite_storage: false,
            postcopy: PostcopyMode::Always,
        };
        // Nobody reads: the client went with the old ldmd.
        let (tx, _) = mpsc::channel(1);
        let (_gone_tx, gone) = watch::channel(false);
        let run = Run {
            d: d.clone(),
            m: &m,
            tx: &tx,
            view,
            cancel: cancel_rx,
            cancel_tx,
            gone,
            t0: Instant::now(),
            warnings: Vec::new(),
            id: mark.id.clone(),
            choice: None,
        };
        // Post-copy runs on the main channel alone.
        let tuning = MigrationTuning {
            multifd_channels: 1,
            postcopy: true,
            ..Default::default()
        };
        let qemu_completed = qemu_completed(&name, &qemu).await;
        let mut drv = Driver::new(run, None, offer, None, tuning, true);
        drv.restarted = true;
        drv.copy = Copy::adopted(qemu, dir);
        drv.claim = Some(claim);
        let ev = Event::Restarted { qemu_completed };
        match drv.drive_from(state, ev).await {
            Ok(_) => {
                tracing::info!(domain = %name, "the post-copy taken up after the restart completed: the target runs the domain")
            }
            Err(e) => {
                tracing::warn!(domain = %name, "the post-copy taken up after the restart stopped: {e}")
            }
        }
    });
    true
}

/// Whether the source's QEMU reports its copy complete. Any other answer
/// (`postcopy-paused`, `postcopy-active` with its relay gone, no answer)
/// is a post-copy to pause and resume.
async fn qemu_completed(name: &str, (qmp, socket): &super::live::QemuHandle) -> bool {
    let r = async {
        let mut g = QmpGuard::lock(qmp, socket).await?;
        Ok::<_, crate::error::Error>(g.q().query_migrate().await?.status)
    };
    let status = tokio::time::timeout(Wait::QemuCommand.get() * 5, r).await;
    match status {
        Ok(Ok(s)) => {
            tracing::info!(domain = %name, status = %s, "the source's QEMU after the restart");
            s == MigrationStatus::Completed
        }
        Ok(Err(e)) => {
            tracing::warn!(domain = %name, "cannot read the source's migration status after the restart: {e}");
            false
        }
        Err(_) => {
            tracing::warn!(domain = %name, "the source's QEMU did not report its migration status after the restart");
            false
        }
    }
}

/// The offer of the move as far as the record tells (the driver only
/// needs it before post-copy).
fn offer_of(d: &Daemon, rec: &crate::record::DomainRecord) -> DomainOffer {
    let b = rec.binding.as_ref();
    DomainOffer {
        spec: rec.spec.clone(),
        state: DomainState::Active,
        machine_type: b.map(|b| b.machine_type.clone()),
        cpu_model: b.map(|b| b.cpu_model.clone()),
        source_accel: b
            .map(|b| b.accel.clone())
            .unwrap_or_else(|| d.inv.accel.to_string()),
        source_cpu: d.inv.native_cpu_name(),
        source_qemu: d.inv.qemu.as_ref().ok().map(|q| q.version_string()),
        volumes: Vec::new(),
        copy_storage: false,
        overwrite_storage: false,
        boot_memory_kib: None,
    }
}

//! The domain's claim for a migration: taken once the checks passed,
//! with the mark persisted; given back when the migration is over; and
//! the claim that settles an unconfirmed migration.

use super::run::Run;
use super::{fail, machine};
use crate::daemon::{get_mut_idle, Busy, ClaimGuard, ClaimKind, Daemon};
use crate::error::Result;
use crate::record::{MachineState, MigrationMark};
use ldm_api::migration::{Phase, Role};
use ldm_api::DomainState;
use tokio::sync::watch;

/// Claims the domain for this migration: refused if another operation
/// holds it or its state changed since the checks; persists the mark
/// (state `claimed`) and returns the cancel signal and the claim.
pub(super) fn claim(
    run: &Run<'_>,
    state: DomainState,
) -> Result<(watch::Receiver<bool>, ClaimGuard)> {
    let d = &run.d;
    let name = &run.m.name;
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, name)?;
    if dom.rec.state != state {
        return Err(fail(format!(
            "Domain {name} changed state during the checks; try again"
        )));
    }
    let (cancel, rx) = (run.cancel_tx.clone(), run.cancel.clone());
    let mut rec = dom.rec.clone();
    let mut mark = MigrationMark::new(Role::Source, run.target_label(), run.id.clone());
    mark.state = Some(MachineState::Source(machine::State::Claimed));
    mark.peer_name = run.m.new_name.clone();
    rec.migration = Some(mark);
    crate::daemon::commit(&d.db, dom, rec)?;
    let busy = Busy {
        view: run.view.clone(),
        cancel,
    };
    let guard = ClaimGuard::claim(&d.table, &mut t, name, ClaimKind::Migration(busy))?;
    Ok((rx, guard))
}

/// Gives the domain back once the migration is over; a migration that
/// ended without an unsettled error leaves no mark.
pub(super) fn release(d: &Daemon, name: &str, claim: Option<ClaimGuard>) {
    let mut t = d.table();
    if let Some(dom) = t
        .get_mut(name)
        .filter(|dom| claim.as_ref().is_some_and(|c| c.holds(dom)))
    {
        if dom
            .rec
            .migration
            .as_ref()
            .is_some_and(|mk| mk.error.is_none())
        {
            let mut rec = dom.rec.clone();
            rec.migration = None;
            if let Err(e) = crate::daemon::commit(&d.db, dom, rec) {
                tracing::error!(domain = %name, "cannot clear the migration mark: {e}");
            }
        }
    }
    drop(t);
    drop(claim);
}

/// A claim for settling an unconfirmed migration of `name` (the
/// administrator's `cancel-operation`, the background resolver).
pub(crate) fn settle_claim(d: &Daemon, name: &str) -> Result<ClaimGuard> {
    let busy = Busy {
        view: Busy::view(Role::Source, String::new(), Phase::Handoff, 100),
        cancel: watch::channel(false).0,
    };
    d.claim(name, ClaimKind::Migration(busy))
}

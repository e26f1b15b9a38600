//! `ldm cancel-operation migration`: stops a migration this host sends,
//! or resumes a source copy a lost hand-off left paused.

use super::{machine, settle, settle_claim};
use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use crate::record::MachineState;
use ldm_api::migration::Role;
use ldm_api::ErrorKind;
use std::time::{Duration, Instant};

/// `cancel-operation migration NAME`: on a migrating source, stops the
/// migration (the source keeps running); on a source left paused by a lost
/// hand-off, resumes it.
pub async fn cancel(d: &Daemon, name: &str) -> Result<()> {
    let resume = {
        let t = d.table();
        let dom = t.get(name).ok_or_else(|| crate::daemon::not_found(name))?;
        let past = dom.rec.migration.as_ref().is_some_and(
            |m| matches!(&m.state, Some(MachineState::Source(s)) if s.past_point_of_no_return()),
        );
        let in_postcopy =
            dom.rec.migration.as_ref().is_some_and(
                |m| matches!(&m.state, Some(MachineState::Source(s)) if s.in_postcopy()),
            );
        let switch_lost = dom.rec.migration.as_ref().is_some_and(|m| {
            matches!(
                &m.state,
                Some(MachineState::Source(machine::State::SwitchLost { .. }))
            )
        });
        if switch_lost {
            return Err(refuse(
                ErrorKind::State,
                format!("the migration of {name} was lost in the post-copy switch: QEMU cannot resume this copy and the guest's running state is lost; restart the domain with `ldm stop-domain -f {name}`, then `ldm start-domain {name}`"),
            ));
        }
        if in_postcopy {
            return Err(refuse(
                ErrorKind::State,
                format!("the migration of {name} went into post-copy: the guest ran on the target, which needs memory from this host, so it can no longer be cancelled and this copy never resumes; it finishes by itself once the target is reachable (see `ldm list -l {name}`)"),
            ));
        }
        if let Some(b) = dom.migration() {
            let role = b.view.lock().unwrap_or_else(|p| p.into_inner()).role;
            if role == Role::Target {
                return Err(refuse(
                    ErrorKind::State,
                    format!("this host is the target of the migration of {name}: only the source host can cancel it"),
                ));
            }
            if past {
                return Err(refuse(
                    ErrorKind::State,
                    format!("the migration of {name} has handed over its final state and can no longer be cancelled: wait for the target's confirmation"),
                ));
            }
            let _ = b.cancel.send(true);
            false
        } else if dom
            .rec
            .migration
            .as_ref()
            .is_some_and(|m| m.error.is_some())
        {
            true
        } else if d.checking.cancel(name) {
            // Still in its checks: it ends before claiming anything.
            false
        } else {
            return Err(refuse(
                ErrorKind::State,
                format!("no migration of {name} is in progress on this host"),
            ));
        }
    };
    if resume {
        // The administrator's way out of `e`: the source runs again.
        let claim = settle_claim(d, name)?;
        settle::resume(d, name, true).await?;
        drop(claim);
        tracing::info!(domain = name, "source copy resumed by the administrator");
        return Ok(());
    }
    // Wait for the migration to wind down, so the caller sees the result.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = d.table();
        if t.get(name).is_none_or(|dom| dom.migration().is_none()) && !d.checking.contains(name) {
            return Ok(());
        }
    }
    Err(refuse(
        ErrorKind::Internal,
        format!("the migration of {name} did not stop within 60 s"),
    ))
}

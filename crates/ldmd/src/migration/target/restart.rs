//! A target copy found at start, left by a migration this ldmd did not
//! finish: settled from what is stored. A copy whose `Commit` never
//! arrived was never the master: it goes, and its outcome becomes
//! "rolled back". A copy that received `Commit` (`committing` stored) is
//! resumed if its QEMU holds the whole domain, since the source stays
//! paused for good after `Commit`; if QEMU is gone or incomplete, it goes.
//! A copy whose guest ran here in post-copy (`postcopy` stored) is never
//! destroyed: it is kept and marked.

use super::machine::State;
use super::outcome;
use crate::daemon::Daemon;
use crate::record::{DomainRecord, MachineState};
use ldm_api::migration::Role;
use ldm_api::DomainState;
use ldm_qemu::{Qmp, RunState};
use std::time::Duration;

/// What became of a target copy at start.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    /// Not an unfinished target copy: nothing to do.
    NotOurs,
    /// The domain is this host's: the record as updated.
    Kept(Box<DomainRecord>),
    /// The copy was destroyed.
    Removed,
}

/// Settles `rec` if it is an unfinished target copy; `pid` is its live
/// QEMU, if any.
pub async fn settle(
    d: &Daemon,
    rec: &DomainRecord,
    pid: Option<u32>,
) -> crate::error::Result<Settled> {
    let Some(mark) = rec.migration.as_ref() else {
        return Ok(Settled::NotOurs);
    };
    if mark.role != Role::Target || mark.error.is_some() || rec.state == DomainState::Active {
        return Ok(Settled::NotOurs);
    }
    let name = &rec.spec.name;
    let stored = d.db.outcome(&mark.id).ok().flatten().map(|r| r.outcome);
    let committing = matches!(mark.state, Some(MachineState::Target(State::Committing)))
        || stored.as_deref() == Some(outcome::COMMITTING)
        || stored.as_deref() == Some(outcome::COMMITTED);
    let secret = mark.secret.clone().unwrap_or_default();
    // A live copy had an incoming QEMU (and its pid file); a cold one has
    // only its record, already in the state it had on the source.
    let live = d.paths.pidfile(&rec.spec.uuid).exists();
    if stored.as_deref() == Some(outcome::POSTCOPY) {
        // The guest ran here in post-copy: never destroyed. Its QEMU (if
        // it still runs) waits for the pages the source holds.
        let mut r = rec.clone();
        if pid.is_some() {
            r.state = DomainState::Active;
        }
        if let Some(m) = r.migration.as_mut() {
            m.error = Some(format!(
                "ldmd restarted during a post-copy from {}: the guest ran here and part of its memory is still on the source. ldm keeps this copy and never destroys it; do not stop or remove it.",
                m.peer
            ));
        }
        d.db.put_domain(&r)?;
        tracing::error!(domain = %name, "restarted during post-copy: the copy is kept");
        return Ok(Settled::Kept(Box::new(r)));
    }
    if committing {
        let resumed = match pid {
            Some(_) => resume(&d.paths.qmp_socket(&rec.spec.uuid)).await,
            None => !live,
        };
        if resumed {
            let mut r = rec.clone();
            if live {
                r.state = DomainState::Active;
            }
            r.migration = None;
            d.db.put_domain(&r)?;
            if !mark.id.is_empty() {
                outcome::record(d, &mark.id, name, &secret, outcome::COMMITTED)?;
            }
            tracing::warn!(domain = %name, "finished the hand-off interrupted by a restart: this host runs the domain");
            return Ok(Settled::Kept(Box::new(r)));
        }
    }
    if let Some(p) = pid {
        let _ = ldm_qemu::kill(p, libc::SIGKILL);
    }
    // A storage copy's back ends: those it created go, those it filled are
    // emptied again.
    super::backends::undo(&d.paths.migration_dir(&rec.spec.uuid));
    tracing::warn!(domain = %name, "removing the unfinished target copy of a migration");
    if !mark.id.is_empty() {
        outcome::record(d, &mark.id, name, &secret, outcome::ROLLED_BACK)?;
    }
    d.db.delete_domain(name)?;
    Ok(Settled::Removed)
}

/// Resumes an incoming QEMU that holds the whole domain; false if it
/// does not answer or is not complete.
async fn resume(socket: &std::path::Path) -> bool {
    let r = async {
        let mut q = Qmp::connect(socket).await?;
        let st = q.query_status().await?;
        match st.status {
            RunState::Running => Ok(true),
            RunState::Paused | RunState::Prelaunch => {
                q.cont().await?;
                Ok(true)
            }
            _ => Ok::<_, ldm_qemu::Error>(false),
        }
    };
    tokio::time::timeout(Duration::from_secs(15), r)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or(false)
}

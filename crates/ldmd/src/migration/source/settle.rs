//! The two ways a source copy ends once the outcome is known: destroyed
//! (the target runs the domain) or resumed (it does not). Used by the
//! migration itself, the background resolution and `cancel-operation`.

use crate::daemon::Daemon;
use crate::error::Result;
use crate::lifecycle::transition;
use crate::ops::machine::{kill_qemu, QmpGuard};
use ldm_api::state::Transition;
use ldm_api::DomainState;

/// The target runs the domain: stops the source's QEMU first (so a
/// database error can never leave it paused and forgotten), then forgets
/// the domain here.
pub(crate) async fn destroy(d: &Daemon, name: &str) {
    let rt = {
        let t = d.table();
        t.get(name).and_then(|dom| {
            dom.rt
                .as_ref()
                .map(|rt| (rt.qmp.clone(), rt.pid, dom.rec.spec.uuid))
        })
    };
    if let Some((qmp, pid, uuid)) = rt {
        kill_qemu(&qmp, &d.paths.qmp_socket(&uuid), pid).await;
    }
    {
        let mut t = d.table();
        t.remove(name);
        if let Err(e) = d.db.delete_domain(name) {
            // The stored mark says Commit was sent: a restarted ldmd asks the
            // target again and removes the record then.
            tracing::error!(domain = %name, "cannot remove the migrated domain from the database: {e}");
        }
    }
    // Its taps go with it.
    crate::net::sync(d).await;
}

/// The target has no copy: resumes the source if it is paused and
/// records it as it was (active if it runs), with no unsettled error.
/// With `forget`, the migration mark goes too.
pub(crate) async fn resume(d: &Daemon, name: &str, forget: bool) -> Result<()> {
    let qmp = {
        let t = d.table();
        t.get(name).and_then(|dom| {
            dom.rt
                .as_ref()
                .map(|rt| (rt.qmp.clone(), d.paths.qmp_socket(&dom.rec.spec.uuid)))
        })
    };
    let runs = qmp.is_some();
    if let Some((qmp, socket)) = qmp {
        let mut g = QmpGuard::lock(&qmp, &socket).await?;
        if !g.q().query_status().await?.running {
            g.q().cont().await?;
        }
    }
    let mut t = d.table();
    if let Some(dom) = t.get_mut(name) {
        let edit = |rec: &mut crate::record::DomainRecord| {
            if forget {
                rec.migration = None;
            } else if let Some(mark) = rec.migration.as_mut() {
                mark.error = None;
            }
        };
        if dom.rec.state == DomainState::Suspended {
            // Without a QEMU there is nothing to run: the domain is bound.
            let tr = if runs {
                Transition::Resume
            } else {
                Transition::Died
            };
            transition(&d.db, dom, tr, edit)?;
        } else {
            let mut rec = dom.rec.clone();
            edit(&mut rec);
            crate::daemon::commit(&d.db, dom, rec)?;
        }
    }
    Ok(())
}

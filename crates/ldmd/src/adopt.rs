//! Re-adoption at start: domains keep running while ldmd is down; when it
//! starts again it finds their QEMU processes through the pid files in its
//! runtime directory and takes them back. Domains whose QEMU died are shown
//! as bound.

use crate::daemon::{commit, Daemon};
use crate::error::Result;
use crate::ops::machine::reattach;
use ldm_api::migration::Role;
use ldm_api::DomainState;
use std::sync::Arc;

/// Re-adopts every domain that should be running.
pub async fn adopt_all(d: &Arc<Daemon>) -> Result<()> {
    let mut t = d.table.lock().await;
    let names: Vec<String> = t.keys().cloned().collect();
    for name in names {
        let dom = t.get_mut(&name).expect("key from the table");
        let rec = dom.rec.clone();
        let pid = ldm_qemu::read_pidfile(&d.paths.pidfile(&rec.spec.uuid)).filter(|p| {
            ldm_qemu::pid_alive(*p)
                && uuid::Uuid::parse_str(&rec.spec.uuid)
                    .is_ok_and(|u| ldm_qemu::process_matches(*p, &u))
        });
        // A target copy whose migration never completed: it was never the
        // master, so it goes (the source still has the domain).
        if rec.state == DomainState::Bound
            && rec
                .migration
                .as_ref()
                .is_some_and(|m| m.role == Role::Target && m.error.is_none())
        {
            if let Some(p) = pid {
                let _ = ldm_qemu::kill(p, libc::SIGKILL);
            }
            tracing::warn!(domain = %name, "removing the unfinished target copy of a migration");
            d.db.delete_domain(&name)?;
            t.remove(&name);
            continue;
        }
        match (rec.state.has_process(), pid) {
            (true, Some(p)) => match reattach(d, &rec, p).await {
                Ok(rt) => {
                    tracing::info!(domain = %name, pid = p, "re-adopted running domain");
                    dom.rt = Some(rt);
                }
                Err(e) => tracing::error!(domain = %name, "cannot re-adopt: {e}"),
            },
            (true, None) => {
                tracing::warn!(domain = %name, "QEMU of domain is gone: domain is bound");
                let mut r = rec.clone();
                r.state = DomainState::Bound;
                r.started_at = None;
                commit(&d.db, dom, r)?;
            }
            (false, Some(p)) => {
                tracing::warn!(domain = %name, pid = p, "stray QEMU for a stopped domain: stopping it");
                let _ = ldm_qemu::kill(p, libc::SIGKILL);
            }
            (false, None) => {}
        }
    }
    Ok(())
}

//! bind, unbind, start and stop.

use super::machine::{binding_for, check_boot_files, kill_qemu, launch, QmpGuard};
use crate::daemon::{commit, get_mut_idle, now_secs, Daemon};
use crate::error::{refuse, Result};
use crate::resources::{check_fit, pick_port};
use ldm_api::state::Transition;
use ldm_api::{DomainState, ErrorKind};
use std::time::Duration;

/// How long `stop-domain` waits for the guest to power off before forcing it.
pub const GRACEFUL_STOP: Duration = Duration::from_secs(5);

fn check(t: Transition, name: &str, state: DomainState) -> Result<()> {
    t.check(name, state)
        .map_err(|m| refuse(ErrorKind::State, m))
}

/// `bind-domain`
pub async fn bind(d: &Daemon, name: &str) -> Result<()> {
    let mut t = d.table.lock().await;
    let dom = get_mut_idle(&mut t, name)?;
    check(Transition::Bind, name, dom.rec.state)?;
    let rec0 = dom.rec.clone();
    check_fit(
        &t,
        Some(name),
        d.inv.vcpus,
        d.inv.memory_mib,
        rec0.spec.vcpus,
        rec0.spec.memory_mib,
    )?;
    let port = pick_port(&t, &d.db.vccs()?, d.cfg.console_addr)?;
    let mut rec = rec0;
    rec.binding = Some(binding_for(d, &rec, port));
    rec.state = DomainState::Bound;
    let dom = t.get_mut(name).expect("looked up above");
    commit(&d.db, dom, rec)?;
    tracing::info!(domain = name, port, "domain bound");
    Ok(())
}

/// `unbind-domain`
pub async fn unbind(d: &Daemon, name: &str) -> Result<()> {
    let mut t = d.table.lock().await;
    let dom = get_mut_idle(&mut t, name)?;
    check(Transition::Unbind, name, dom.rec.state)?;
    let mut rec = dom.rec.clone();
    rec.binding = None;
    rec.state = DomainState::Inactive;
    rec.migration = None;
    commit(&d.db, dom, rec)?;
    tracing::info!(domain = name, "domain unbound");
    Ok(())
}

/// `start-domain`
pub async fn start(d: &Daemon, name: &str) -> Result<()> {
    let mut t = d.table.lock().await;
    let dom = get_mut_idle(&mut t, name)?;
    check(Transition::Start, name, dom.rec.state)?;
    d.inv.qemu()?;
    check_boot_files(&dom.rec)?;
    let rt = launch(d, &dom.rec, false).await?;
    let mut rec = dom.rec.clone();
    rec.state = DomainState::Active;
    rec.started_at = Some(now_secs());
    rec.migration = None;
    let pid = rt.pid;
    let qmp = rt.qmp.clone();
    dom.rt = Some(rt);
    if let Err(e) = commit(&d.db, dom, rec) {
        let rt = dom.rt.take();
        kill_qemu(&qmp, &d.paths.qmp_socket(&dom.rec.spec.uuid), pid).await;
        drop(rt);
        return Err(e);
    }
    tracing::info!(domain = name, pid, "domain started");
    Ok(())
}

/// `stop-domain [-f]`: asks the guest to power off and waits a few seconds,
/// then (or at once with -f) stops the virtual machine.
pub async fn stop(d: &Daemon, name: &str, force: bool) -> Result<Option<String>> {
    let (qmp, pid, socket) = {
        let mut t = d.table.lock().await;
        let dom = get_mut_idle(&mut t, name)?;
        // A copy left suspended by an unconfirmed hand-off may only be
        // destroyed (-f); the transition table says so otherwise.
        if !(force && dom.rec.state == DomainState::Suspended) {
            check(Transition::Stop, name, dom.rec.state)?;
        }
        let rt = dom
            .rt
            .as_ref()
            .ok_or_else(|| refuse(ErrorKind::State, "domain has no process"))?;
        (
            rt.qmp.clone(),
            rt.pid,
            d.paths.qmp_socket(&dom.rec.spec.uuid),
        )
    };
    let mut message = None;
    if !force {
        if let Ok(mut g) = QmpGuard::lock(&qmp, &socket).await {
            let _ = g.q().system_powerdown().await;
        }
        if !ldm_qemu::process::wait_exit(pid, GRACEFUL_STOP).await {
            message = Some(format!(
                "the guest of {name} did not power off within {} s; it was stopped",
                GRACEFUL_STOP.as_secs()
            ));
        }
    }
    kill_qemu(&qmp, &socket, pid).await;
    let mut t = d.table.lock().await;
    let dom = t
        .get_mut(name)
        .ok_or_else(|| crate::daemon::not_found(name))?;
    crate::daemon::set_bound(&d.db, dom)?;
    tracing::info!(domain = name, "domain stopped");
    Ok(message)
}

//! bind, unbind, start and stop.
//!
//! `start` and `stop` wait on QEMU: they claim their domain
//! ([`crate::claim`]) and do that waiting without the table, so `ldm list`
//! and every verb on other domains answer meanwhile.

use super::machine::{binding_for, check_boot_files, kill_qemu, launch, QmpGuard};
use crate::daemon::{get_mut_idle, now_secs, ClaimKind, Daemon};
use crate::error::{refuse, Result};
use crate::lifecycle::transition;
use crate::resources::{check_fit, pick_port};
use ldm_api::request::StopMode;
use ldm_api::state::Transition;
use ldm_api::{DomainState, ErrorKind};
use std::time::Duration;
use tokio::sync::watch;

/// How long `stop-domain` waits for the guest to power off before forcing
/// it, unless `-t` says otherwise.
pub const GRACEFUL_STOP: Duration = Duration::from_secs(5);

fn check(t: Transition, name: &str, state: DomainState) -> Result<()> {
    t.check(name, state)
        .map_err(|m| refuse(ErrorKind::State, m))
}

/// `bind-domain`: reserves the resources, then makes the domain's taps;
/// if they cannot be made the domain goes back to inactive.
pub async fn bind(d: &Daemon, name: &str) -> Result<()> {
    let (rec0, port) = bind_record(d, name)?;
    if let Err(e) = super::vnet::ensure_taps(d, &rec0).await {
        {
            let mut t = d.table();
            if let Some(dom) = t.get_mut(name).filter(|dom| dom.claim.is_none()) {
                transition(&d.db, dom, Transition::Unbind, |_| {})?;
            }
        }
        crate::net::sync(d).await;
        return Err(e);
    }
    tracing::info!(domain = name, port, "domain bound");
    Ok(())
}

fn bind_record(d: &Daemon, name: &str) -> Result<(crate::record::DomainRecord, u16)> {
    let mut t = d.table();
    let dom = get_mut_idle(&mut t, name)?;
    check(Transition::Bind, name, dom.rec.state)?;
    let rec0 = dom.rec.clone();
    super::vdisk::resolve(d, &rec0)?;
    super::vnet::check_switches(d, &rec0)?;
    check_fit(
        &t,
        Some(name),
        d.inv.vcpus,
        d.inv.memory_mib,
        rec0.spec.vcpus,
        rec0.spec.memory_mib,
    )?;
    let port = pick_port(&t, &d.db.vccs()?, d.cfg.console_addr)?;
    let binding = binding_for(d, &rec0, port);
    let dom = t.get_mut(name).expect("looked up above");
    transition(&d.db, dom, Transition::Bind, |rec| {
        rec.binding = Some(binding)
    })?;
    Ok((rec0, port))
}

/// `unbind-domain`
pub async fn unbind(d: &Daemon, name: &str) -> Result<()> {
    {
        let mut t = d.table();
        let dom = get_mut_idle(&mut t, name)?;
        transition(&d.db, dom, Transition::Unbind, |_| {})?;
    }
    crate::net::sync(d).await;
    tracing::info!(domain = name, "domain unbound");
    Ok(())
}

/// `start-domain`: claims the domain, launches QEMU without holding the
/// table, then records it as active.
pub async fn start(d: &Daemon, name: &str) -> Result<()> {
    let claim = d.claim(name, ClaimKind::Start)?;
    let rec = {
        let t = d.table();
        let rec = t[claim.name()].rec.clone();
        check(Transition::Start, name, rec.state)?;
        let mut rec = with_pending_applied(d, rec);
        super::hotmem::at_start(&mut rec.spec);
        if let Some(b) = rec.binding.as_mut() {
            b.boot_pad_kib = super::hotmem::boot_pad_at_start(&rec.spec);
        }
        rec
    };
    d.inv.qemu()?;
    check_boot_files(&rec)?;
    super::vnet::ensure_taps(d, &rec).await?;
    crate::testhook::hold("start-launching").await;
    let rt = launch(d, &rec, false).await?;
    let (pid, qmp) = (rt.pid, rt.qmp.clone());
    let recorded = {
        let mut t = d.table();
        match t.get_mut(name).filter(|dom| claim.holds(dom)) {
            Some(dom) => {
                let r = transition(&d.db, dom, Transition::Start, |r| {
                    r.spec = rec.spec.clone();
                    r.binding = rec.binding.clone();
                    r.pending = Default::default();
                    r.started_at = Some(now_secs());
                    r.migration = None;
                });
                if r.is_ok() {
                    dom.rt = Some(rt);
                }
                r
            }
            None => Err(refuse(
                ErrorKind::Internal,
                format!("domain {name} changed while it started"),
            )),
        }
    };
    if let Err(e) = recorded {
        kill_qemu(&qmp, &d.paths.qmp_socket(&rec.spec.uuid), pid).await;
        return Err(e);
    }
    tracing::info!(domain = name, pid, "domain started");
    Ok(())
}

/// A record about to start with its delayed reconfiguration applied: the
/// changed definition, and the CPU model its class has on this host.
fn with_pending_applied(
    d: &Daemon,
    mut rec: crate::record::DomainRecord,
) -> crate::record::DomainRecord {
    if rec.pending.is_empty() {
        return rec;
    }
    rec.pending.apply(&mut rec.spec);
    if let Some(b) = rec.binding.as_mut() {
        b.cpu_model = d.inv.cpu_model_for(rec.spec.cpu_arch);
    }
    rec
}
/// How long `stop-domain -r` waits for the stopped domain's console port
/// to be released before starting the domain again.
const PORT_RELEASE: Duration = Duration::from_secs(5);

/// What `stop-domain` was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct StopHow {
    /// `-f`/`-q`: stop at once.
    pub force: bool,
    /// Normal, halt (never force) or reboot.
    pub mode: StopMode,
    /// How long to wait for the guest (`-t`).
    pub timeout: Duration,
}

impl StopHow {
    /// From a request's fields; the timeout is checked against its range.
    pub fn new(force: bool, mode: StopMode, timeout_secs: Option<u64>) -> Result<StopHow> {
        let timeout = match timeout_secs {
            None => GRACEFUL_STOP,
            Some(s) => Duration::from_secs(
                ldm_api::limits::check_stop_timeout_secs(s)
                    .map_err(|m| refuse(ErrorKind::BadRequest, m))?,
            ),
        };
        if force && mode != StopMode::Normal {
            return Err(refuse(
                ErrorKind::BadRequest,
                "-f and -q stop at once: they exclude -H and -r",
            ));
        }
        Ok(StopHow {
            force,
            mode,
            timeout,
        })
    }
}

/// `stop-domain`: asks the guest to power off and waits up to the timeout,
/// then (or at once with -f/-q) stops the virtual machine; with -H it
/// never forces, with -r it starts the domain again. The domain is claimed
/// throughout, so no migration or other change can interleave. A client
/// that goes away ends the wait as the timeout would.
pub async fn stop(
    d: &Daemon,
    name: &str,
    how: StopHow,
    client_gone: watch::Receiver<bool>,
) -> Result<Option<String>> {
    let message = stop_once(d, name, how, client_gone).await?;
    if how.mode != StopMode::Reboot {
        return Ok(message);
    }
    // The stopped console's listener closes as its aborted task ends: the
    // new one needs the same port.
    let port = d
        .table()
        .get(name)
        .and_then(|dom| dom.rec.binding.as_ref().map(|b| b.console_port));
    if let Some(port) = port {
        let deadline = tokio::time::Instant::now() + PORT_RELEASE;
        while !crate::console::port_free(d.cfg.console_addr, port)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    start(d, name).await.map_err(|e| {
        refuse(
            e.to_api().kind,
            format!("domain {name} stopped but did not start again: {e}"),
        )
    })?;
    Ok(message)
}

async fn stop_once(
    d: &Daemon,
    name: &str,
    how: StopHow,
    mut client_gone: watch::Receiver<bool>,
) -> Result<Option<String>> {
    let tr = if how.force {
        Transition::Destroy
    } else {
        Transition::Stop
    };
    let claim = d.claim(name, ClaimKind::Stop)?;
    let (qmp, pid, socket) = {
        let t = d.table();
        let dom = &t[claim.name()];
        // A copy left suspended by an unconfirmed hand-off may only be
        // destroyed (-f); the transition table says so otherwise.
        check(tr, name, dom.rec.state)?;
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
    if !how.force {
        if let Ok(mut g) = QmpGuard::lock(&qmp, &socket).await {
            let _ = g.q().system_powerdown().await;
        }
        let exited = tokio::select! {
            e = ldm_qemu::process::wait_exit(pid, how.timeout) => e,
            _ = client_gone.wait_for(|g| *g) => false,
        };
        if !exited {
            let secs = how.timeout.as_secs();
            if how.mode == StopMode::Halt {
                return Err(refuse(
                    ErrorKind::State,
                    format!("the guest of {name} did not halt within {secs} s; it keeps running: stop it with `ldm stop-domain {name}` (or -q to stop it at once)"),
                ));
            }
            message = Some(format!(
                "the guest of {name} did not power off within {secs} s; it was stopped"
            ));
        }
    }
    kill_qemu(&qmp, &socket, pid).await;
    let mut t = d.table();
    let dom = claim.domain(&mut t)?;
    transition(&d.db, dom, tr, |_| {})?;
    tracing::info!(domain = name, "domain stopped");
    Ok(message)
}

//! Memory added to and removed from a running domain: its virtio-mem
//! device is asked for a new size, and the verb waits (claiming the
//! domain, FLAGS `r`) until the guest has plugged or unplugged that much.
//! `cancel-operation memdr` stops it where it is. Boot memory, where the
//! guest's own working set lives from its start, is never touched.

use super::machine::QmpGuard;
use crate::daemon::{commit, ClaimKind, Daemon};
use crate::error::{refuse, Result};
use crate::resources::check_fit;
use ldm_api::{format_mib, DomainSpec, DomainState, ErrorKind};
use ldm_qemu::{
    HotMemConfig, BOOT_MEMORY_PAD_KIB, HOTMEM_BLOCK_MIB, MAX_BOOT_PAD_KIB, RAM_SIZE_STEP_KIB,
};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a memory change may take before it is stopped where it is.
pub const RESIZE_DEADLINE: Duration = Duration::from_secs(60);
/// How long the guest may take to plug back what an unfinished removal
/// took.
const UNDO_DEADLINE: Duration = Duration::from_secs(30);

/// The hot-pluggable memory of a domain that runs with `spec`, if any.
pub fn config(spec: &DomainSpec) -> Option<(u64, HotMemConfig)> {
    let (max, boot) = (spec.max_memory_mib?, spec.boot_memory_mib?);
    Some((
        boot,
        HotMemConfig {
            region_mib: max.saturating_sub(boot),
            requested_mib: spec.memory_mib.saturating_sub(boot),
            boot_pad_kib: 0,
        },
    ))
}

/// At a start: the memory the domain boots with, the rest of its
/// `max-memory` hot-pluggable (nothing when there is no room for a block).
pub fn at_start(spec: &mut DomainSpec) {
    spec.boot_memory_mib = spec
        .max_memory_mib
        .filter(|max| max.saturating_sub(spec.memory_mib) >= HOTMEM_BLOCK_MIB)
        .map(|_| spec.memory_mib);
    if let (Some(max), Some(boot)) = (spec.max_memory_mib, spec.boot_memory_mib) {
        // The region is whole blocks.
        let region = (max - boot) / HOTMEM_BLOCK_MIB * HOTMEM_BLOCK_MIB;
        spec.max_memory_mib = Some(boot + region);
    }
}

/// Why a running domain cannot have `want` MiB, if it cannot. Pure.
pub fn check_live_memory(spec: &DomainSpec, want: u64) -> std::result::Result<u64, String> {
    let name = &spec.name;
    let Some((boot, h)) = config(spec) else {
        return Err(format!(
            "domain {name} runs without hot-pluggable memory: stop it, set `ldm set-domain max-memory=SIZE {name}` and start it again (memory changes while it is stopped)"
        ));
    };
    if want < boot {
        return Err(format!(
            "domain {name} booted with {}; while it runs it keeps at least that",
            format_mib(boot)
        ));
    }
    if want > boot + h.region_mib {
        return Err(format!(
            "domain {name} can have at most {} while it runs (max-memory): stop it and raise max-memory",
            format_mib(boot + h.region_mib)
        ));
    }
    if !(want - boot).is_multiple_of(HOTMEM_BLOCK_MIB) {
        return Err(format!(
            "memory changes of a running domain go in steps of {HOTMEM_BLOCK_MIB}M"
        ));
    }
    Ok(want - boot)
}

/// The boot memory pad of a domain starting with `spec` (after
/// [`at_start`]), KiB: [`BOOT_MEMORY_PAD_KIB`] with hot-pluggable memory,
/// so that QEMU 10.0 under TCG keeps tracking the guest's writes to its
/// boot memory during a live migration (the reason is at the constant).
pub fn boot_pad_at_start(spec: &DomainSpec) -> Option<u64> {
    spec.boot_memory_mib.map(|_| BOOT_MEMORY_PAD_KIB)
}

/// The pad of the machine a migration source runs, from the boot memory
/// size its offer carries (`boot_kib`, KiB) and the offered `spec`:
/// `None` when the offer carries none (a source from before the pad,
/// whose machine has none). Untrusted input: a size that is not the
/// spec's boot memory plus a pad QEMU takes as it is, at most
/// [`MAX_BOOT_PAD_KIB`], is refused. Pure.
pub fn offered_pad(
    spec: &DomainSpec,
    boot_kib: Option<u64>,
) -> std::result::Result<Option<u64>, String> {
    let Some(kib) = boot_kib else {
        return Ok(None);
    };
    let Some(boot) = spec.boot_memory_mib else {
        return Err(format!(
            "the offer carries a boot memory size ({kib} KiB) for a domain without hot-pluggable memory"
        ));
    };
    boot.checked_mul(1024)
        .and_then(|whole| kib.checked_sub(whole))
        .filter(|pad| *pad <= MAX_BOOT_PAD_KIB && pad.is_multiple_of(RAM_SIZE_STEP_KIB))
        .map(Some)
        .ok_or_else(|| format!(
            "its boot memory of {kib} KiB is not its {boot} MiB plus at most {MAX_BOOT_PAD_KIB} KiB in steps of {RAM_SIZE_STEP_KIB} KiB"
        ))
}

/// Changes a running domain's memory to `want` MiB and waits for the guest.
pub async fn set_memory(d: &Daemon, name: &str, want: u64) -> Result<Option<String>> {
    let (cancel_tx, mut cancel) = watch::channel(false);
    let claim = d.claim(name, ClaimKind::MemoryDr(cancel_tx))?;
    let (requested, boot, qmp, socket) = {
        let t = d.table();
        let dom = &t[claim.name()];
        let rec = &dom.rec;
        if rec.state != DomainState::Active {
            return Err(refuse(
                ErrorKind::State,
                format!("domain {name} is {}, not active", rec.state),
            ));
        }
        let requested =
            check_live_memory(&rec.spec, want).map_err(|m| refuse(ErrorKind::BadRequest, m))?;
        if want > rec.spec.memory_mib {
            check_fit(
                &t,
                Some(name),
                d.inv.vcpus,
                d.inv.memory_mib,
                rec.spec.vcpus,
                want,
            )?;
        }
        let rt = dom
            .rt
            .as_ref()
            .ok_or_else(|| refuse(ErrorKind::State, "domain has no process"))?;
        let boot = rec.spec.boot_memory_mib.unwrap_or_default();
        (
            requested,
            boot,
            rt.qmp.clone(),
            d.paths.qmp_socket(&rec.spec.uuid),
        )
    };
    let size = {
        let mut g = QmpGuard::lock(&qmp, &socket).await?;
        let before = g.q().hotmem_size().await?;
        g.q().hotmem_request(requested).await?;
        let size = follow(g.q(), requested, RESIZE_DEADLINE, Some(&mut cancel)).await?;
        if size == requested {
            size
        } else if requested < before && !*cancel.borrow() {
            // A removal the guest did not finish in time is undone: it
            // gets back what it gave (plugging does not need its consent).
            g.q().hotmem_request(before).await?;
            follow(g.q(), before, UNDO_DEADLINE, None).await?
        } else {
            // Cancelled, or an addition: stay where the guest is.
            g.q().hotmem_request(size).await?;
            size
        }
    };
    let now = boot + size;
    let mut t = d.table();
    let dom = claim.domain(&mut t)?;
    let mut rec = dom.rec.clone();
    rec.spec.memory_mib = now;
    commit(&d.db, dom, rec)?;
    tracing::info!(domain = name, mib = now, "memory changed live");
    if size == requested {
        return Ok(None);
    }
    let why = if *cancel.borrow() {
        "cancelled"
    } else {
        "the guest did not finish in time"
    };
    Err(refuse(
        ErrorKind::Cancelled,
        format!(
            "the memory change of {name} stopped ({why}): it has {}",
            format_mib(now)
        ),
    ))
}

/// Polls the plugged size until it is `want`, the deadline passes or
/// `cancel` fires; returns the size it reached.
async fn follow(
    q: &mut ldm_qemu::Qmp,
    want: u64,
    deadline: Duration,
    mut cancel: Option<&mut watch::Receiver<bool>>,
) -> Result<u64> {
    let end = Instant::now() + deadline;
    loop {
        let size = q.hotmem_size().await?;
        let cancelled = cancel.as_ref().is_some_and(|c| *c.borrow());
        if size == want || cancelled || Instant::now() >= end {
            return Ok(size);
        }
        let nap = tokio::time::sleep(Duration::from_millis(200));
        match cancel.as_mut() {
            Some(c) => {
                tokio::select! {
                    _ = nap => {}
                    _ = c.changed() => {}
                }
            }
            None => nap.await,
        }
    }
}

/// `cancel-operation memdr`: stops a running memory change where it is.
pub fn cancel(d: &Daemon, name: &str) -> Result<()> {
    let t = d.table();
    let dom = crate::daemon::get(&t, name)?;
    match &dom.claim {
        Some(c) => match &c.kind {
            ClaimKind::MemoryDr(tx) => {
                let _ = tx.send(true);
                Ok(())
            }
            _ => Err(refuse(
                ErrorKind::State,
                format!("domain {name} has no memory change in progress"),
            )),
        },
        None => Err(refuse(
            ErrorKind::State,
            format!("domain {name} has no memory change in progress"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mem: u64, max: Option<u64>) -> DomainSpec {
        let mut s: DomainSpec = serde_json::from_value(serde_json::json!({
            "name": "ldg1", "uuid": "6f1c0a4e-2b7d-4c1e-9a53-0d8f7e6b5a41",
            "cpu_arch": "native", "vcpus": 1, "memory_mib": mem, "vars": {}
        }))
        .unwrap();
        s.max_memory_mib = max;
        s
    }

    #[test]
    fn live_memory_stays_between_boot_and_max() {
        let mut s = spec(1024, Some(2048));
        at_start(&mut s);
        assert_eq!(s.boot_memory_mib, Some(1024));
        let (boot, h) = config(&s).unwrap();
        assert_eq!((boot, h.region_mib, h.requested_mib), (1024, 1024, 0));
        assert_eq!(check_live_memory(&s, 1536), Ok(512));
        assert!(check_live_memory(&s, 512)
            .unwrap_err()
            .contains("booted with 1G"));
        assert!(check_live_memory(&s, 4096)
            .unwrap_err()
            .contains("at most 2G"));
        assert!(check_live_memory(&s, 1025)
            .unwrap_err()
            .contains("steps of 2M"));
        // No max-memory (or no room): fixed memory, and the message says how.
        let mut s = spec(1024, None);
        at_start(&mut s);
        assert_eq!(s.boot_memory_mib, None);
        assert!(check_live_memory(&s, 1536)
            .unwrap_err()
            .contains("set-domain max-memory=SIZE ldg1"));
        let mut s = spec(1024, Some(1024));
        at_start(&mut s);
        assert!(config(&s).is_none());
    }

    #[test]
    fn a_start_pads_the_boot_memory_of_hot_pluggable_memory_only() {
        let mut s = spec(1024, Some(2048));
        at_start(&mut s);
        assert_eq!(boot_pad_at_start(&s), Some(BOOT_MEMORY_PAD_KIB));
        let mut s = spec(1024, None);
        at_start(&mut s);
        assert_eq!(boot_pad_at_start(&s), None);
        // No room for a block: no hot-pluggable memory, no pad.
        let mut s = spec(1024, Some(1025));
        at_start(&mut s);
        assert_eq!(boot_pad_at_start(&s), None);
    }

    #[test]
    fn an_offered_boot_memory_size_is_the_boot_memory_and_a_small_pad() {
        let mut s = spec(1536, Some(2048));
        s.boot_memory_mib = Some(1024);
        // A source from before the pad says nothing: no pad.
        assert_eq!(offered_pad(&s, None), Ok(None));
        assert_eq!(offered_pad(&s, Some(1 << 20)), Ok(Some(0)));
        assert_eq!(offered_pad(&s, Some((1 << 20) + 8)), Ok(Some(8)));
        assert_eq!(
            offered_pad(&s, Some((1 << 20) + MAX_BOOT_PAD_KIB)),
            Ok(Some(MAX_BOOT_PAD_KIB))
        );
        for bad in [
            0,
            (1 << 20) - 8,
            (1 << 20) + 4,
            (1 << 20) + MAX_BOOT_PAD_KIB + 8,
            (1 << 20) + 1024,
            u64::MAX,
        ] {
            let e = offered_pad(&s, Some(bad)).unwrap_err();
            assert!(e.contains("is not its 1024 MiB plus"), "{bad}: {e}");
        }
        s.boot_memory_mib = Some(u64::MAX);
        assert!(offered_pad(&s, Some(8)).is_err());
        // A size without hot-pluggable memory.
        let s = spec(1024, None);
        assert!(offered_pad(&s, Some(1 << 20))
            .unwrap_err()
            .contains("without hot-pluggable memory"));
    }
}

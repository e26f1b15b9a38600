//! vCPUs added to and removed from a running domain: QEMU CPU hotplug
//! within the slots its definition fixes (`max-vcpus`).
//!
//! Slot 0 is the boot CPU; slots 1.. are CPU devices `vcpu1`, `vcpu2`, …
//! (the same ones a fresh start or a migration target puts on the command
//! line, [`ldm_qemu::cpu_slot_device`]). A domain with `n` vCPUs has slots
//! `0..n` plugged: adding plugs the next slots, removing unplugs the last.
//! The guest brings added CPUs online itself; a removal needs the guest to
//! give the CPU back (ACPI eject), and one it does not honour within
//! [`UNPLUG_DEADLINE`] is undone and refused.

use super::machine::QmpGuard;
use crate::daemon::{commit, ClaimKind, Daemon};
use crate::error::{refuse, Result};
use crate::resources::check_fit;
use ldm_api::{DomainState, ErrorKind};
use ldm_qemu::{cpu_slot_id, cpu_slot_props, Qmp};
use std::time::{Duration, Instant};

/// How long the guest has to give back the vCPUs `rm-vcpu` removes.
pub const UNPLUG_DEADLINE: Duration = Duration::from_secs(15);

/// The deadline for unplugging, shortened for tests by
/// `LDMD_TEST_UNPLUG_SECS`.
fn unplug_deadline() -> Duration {
    std::env::var("LDMD_TEST_UNPLUG_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(UNPLUG_DEADLINE)
}

/// Why a running domain cannot have `want` vCPUs, if it cannot. Pure.
pub fn check_live_vcpus(
    name: &str,
    max: Option<u32>,
    want: u32,
) -> std::result::Result<(), String> {
    let Some(max) = max else {
        return Err(format!(
            "domain {name} was defined before vCPUs could change while it runs: stop it, set `ldm set-domain max-vcpus=N {name}` and start it again"
        ));
    };
    if want > max {
        return Err(format!(
            "domain {name} can have at most {max} vCPUs while it runs (max-vcpus={max}): stop it and raise max-vcpus with `ldm set-domain max-vcpus=N {name}`"
        ));
    }
    Ok(())
}

/// Changes a running domain's vCPUs to `want`. The domain is claimed
/// throughout; nothing is recorded unless QEMU (and for a removal, the
/// guest) carried the change out.
pub async fn set_vcpus(d: &Daemon, name: &str, want: u32) -> Result<()> {
    let claim = d.claim(name, ClaimKind::Resize)?;
    let (model, qmp, socket) = {
        let t = d.table();
        let dom = &t[claim.name()];
        let rec = &dom.rec;
        if rec.state != DomainState::Active {
            return Err(refuse(
                ErrorKind::State,
                format!("domain {name} is {}, not active", rec.state),
            ));
        }
        check_live_vcpus(name, rec.spec.max_vcpus, want)
            .map_err(|m| refuse(ErrorKind::BadRequest, m))?;
        if want > rec.spec.vcpus {
            check_fit(
                &t,
                Some(name),
                d.inv.vcpus,
                d.inv.memory_mib,
                want,
                rec.spec.memory_mib,
            )?;
        }
        let rt = dom
            .rt
            .as_ref()
            .ok_or_else(|| refuse(ErrorKind::State, "domain has no process"))?;
        let model = rec
            .binding
            .as_ref()
            .map(|b| b.cpu_model.clone())
            .ok_or_else(|| refuse(ErrorKind::State, "domain is not bound"))?;
        (model, rt.qmp.clone(), d.paths.qmp_socket(&rec.spec.uuid))
    };
    let mut g = QmpGuard::lock(&qmp, &socket).await?;
    let have = plugged(g.q()).await?;
    if want > have {
        plug(g.q(), &model, have, want).await?;
    } else if want < have {
        unplug(g.q(), &model, name, want, have).await?;
    }
    drop(g);
    let mut t = d.table();
    let dom = claim.domain(&mut t)?;
    let mut rec = dom.rec.clone();
    rec.spec.vcpus = want;
    commit(&d.db, dom, rec)?;
    tracing::info!(domain = name, from = have, to = want, "vCPUs changed live");
    Ok(())
}

/// The number of plugged slots: the vCPUs QEMU runs.
async fn plugged(q: &mut Qmp) -> Result<u32> {
    let slots = q.query_hotpluggable_cpus().await?;
    Ok(slots.iter().filter(|s| s.qom_path.is_some()).count() as u32)
}

/// Plugs slots `from..to`; on a failure unplugs what it plugged.
async fn plug(q: &mut Qmp, model: &str, from: u32, to: u32) -> Result<()> {
    for slot in from..to {
        if let Err(e) = q.device_add(cpu_slot_props(model, slot)).await {
            for s in (from..slot).rev() {
                let _ = q.device_del(&cpu_slot_id(s)).await;
            }
            return Err(refuse(
                ErrorKind::Hypervisor,
                format!("QEMU could not add vCPU {slot}: {e}; nothing changed"),
            ));
        }
    }
    Ok(())
}

/// Unplugs slots `to..from` (last first) and waits until the guest gave
/// them back. If it does not within the deadline, the slots it did give
/// back are plugged again and the removal is refused.
async fn unplug(q: &mut Qmp, model: &str, name: &str, to: u32, from: u32) -> Result<()> {
    for slot in (to..from).rev() {
        q.device_del(&cpu_slot_id(slot)).await?;
    }
    let deadline = unplug_deadline();
    let end = Instant::now() + deadline;
    loop {
        let gone = plugged(q).await? <= to;
        if gone {
            return Ok(());
        }
        if Instant::now() >= end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = plugged(q).await?;
    if left < from {
        // Some went: put them back so the domain is as it was.
        let _ = plug(q, model, left, from).await;
    }
    Err(refuse(
        ErrorKind::Hypervisor,
        format!(
            "the guest of {name} did not give back {} vCPU(s) within {} s; it keeps {from}. Is its kernel able to remove CPUs (ACPI hotplug)?",
            from - to,
            deadline.as_secs()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::check_live_vcpus;

    #[test]
    fn live_vcpus_stay_within_the_slots() {
        assert!(check_live_vcpus("ldg1", Some(4), 4).is_ok());
        assert!(check_live_vcpus("ldg1", Some(4), 1).is_ok());
        let e = check_live_vcpus("ldg1", Some(4), 5).unwrap_err();
        assert!(e.contains("at most 4") && e.contains("max-vcpus"), "{e}");
        let e = check_live_vcpus("ldg1", None, 2).unwrap_err();
        assert!(e.contains("set-domain max-vcpus=N ldg1"), "{e}");
    }
}

//! vCPU slots (`max-vcpus`), CPU classes and delayed reconfiguration
//! through the local API of a real daemon: defaults, refusals that change
//! nothing, and what a stopped domain takes at once.

mod common;

use common::Host;
use ldm_api::{CpuArch, ErrorKind, Request, ResourceChange};

fn set(name: &str, arch: Option<CpuArch>, max_vcpus: Option<u32>) -> Request {
    Request::SetDomain {
        name: name.into(),
        cpu_arch: arch,
        downtime_ms: None,
        bandwidth_mib: None,
        max_vcpus,
        max_memory_mib: None,
    }
}

fn vcpu(name: &str, change: ResourceChange, count: u32) -> Request {
    Request::Vcpu {
        name: name.into(),
        change,
        count,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_follow_the_definition_and_refusals_change_nothing() {
    let h = Host::start("slots").await;
    h.add_domain("ldg1", 1, 256, false).await;
    // A new domain has slots up to the host's vCPUs for domains.
    let v = h.domain("ldg1").await.unwrap();
    let total = h.host_view().await.vcpus_total;
    assert_eq!(v.max_vcpus, Some(total.clamp(1, 64)));

    h.ok(set("ldg1", None, Some(4))).await;
    assert_eq!(h.domain("ldg1").await.unwrap().max_vcpus, Some(4));

    // Refused, nothing changed: fewer slots than vCPUs, out of range,
    // removing more than the domain has, a reconfiguration to cancel
    // that is not there.
    h.ok(vcpu("ldg1", ResourceChange::Set, 2)).await;
    let before = h.record("ldg1").unwrap();
    for (req, kind, phrase) in [
        (
            set("ldg1", None, Some(1)),
            ErrorKind::BadRequest,
            "less than the domain's 2 vCPUs",
        ),
        (
            set("ldg1", None, Some(256)),
            ErrorKind::BadRequest,
            "out of range",
        ),
        (
            vcpu("ldg1", ResourceChange::Remove, 2),
            ErrorKind::BadRequest,
            "the domain has only 2",
        ),
        (
            Request::CancelReconf {
                name: "ldg1".into(),
            },
            ErrorKind::State,
            "no delayed reconfiguration",
        ),
        (
            Request::CancelReconf {
                name: "nosuch".into(),
            },
            ErrorKind::NotFound,
            "does not exist",
        ),
    ] {
        let e = h.call(req.clone()).await.unwrap_err();
        assert_eq!(e.kind, kind, "{req:?}: {e}");
        assert!(e.message.contains(phrase), "{req:?}: {e}");
        assert_eq!(
            h.record("ldg1").unwrap(),
            before,
            "{req:?} changed the domain"
        );
    }

    // While not running, more vCPUs than slots raise the slots.
    h.ok(vcpu("ldg1", ResourceChange::Set, 6)).await;
    assert_eq!(h.domain("ldg1").await.unwrap().max_vcpus, Some(6));

    // A bound domain takes a new class at once: its binding's CPU model
    // follows, and nothing waits.
    h.ok(vcpu("ldg1", ResourceChange::Set, 1)).await;
    h.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;
    h.ok(set("ldg1", Some(CpuArch::Generic), None)).await;
    let v = h.domain("ldg1").await.unwrap();
    assert_eq!(v.cpu_arch, CpuArch::Generic);
    assert_eq!(v.machine.unwrap().cpu_model, "kvm64");
    assert!(v.pending.is_empty());
    assert_eq!(v.flags.short(), "------");
    h.ok(set("ldg1", Some(CpuArch::MigrationClass1), None))
        .await;
    let v = h.domain("ldg1").await.unwrap();
    assert_eq!(v.machine.unwrap().cpu_model, "Nehalem-v1");

    // Kept across a restart.
    let mut h = h;
    h.restart().await;
    let v = h.domain("ldg1").await.unwrap();
    assert_eq!(
        (v.cpu_arch, v.max_vcpus),
        (CpuArch::MigrationClass1, Some(6))
    );
}

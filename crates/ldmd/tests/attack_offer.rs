//! An authenticated peer (a management account on the target) plants
//! domain definitions the CLI would refuse. Each Prepare is refused with a
//! reason; nothing appears in `ldm list`, on disk or in the database; no
//! file outside the root is touched.

mod common;

use common::attack::{assert_responsive, snapshot};
use common::peer::{offer, RawPeer};
use common::Host;
use ldm_api::request::UserRole;
use ldm_api::DomainState;
use ldmd::migration::protocol::{DomainOffer, ToSource, ToTarget};
use serde_json::json;

async fn refused(dst: &Host, o: DomainOffer, tuning: ldm_qemu::MigrationTuning) -> String {
    let mut p = RawPeer::authenticate(dst, "admin").await;
    p.send(&ToTarget::Prepare {
        offer: o,
        started_at: None,
        tuning,
        id: String::new(),
    })
    .await;
    match p.recv().await {
        Some(ToSource::Error { message }) => message,
        other => panic!("Prepare of a planted offer answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_definitions_are_refused_and_change_nothing() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    // A file outside the root that a UUID with ../ once made ldmd delete.
    let bystander = tempfile::tempdir().unwrap();
    let victim = bystander.path().join("x.console.log");
    std::fs::write(&victim, b"keep me").unwrap();
    let before = snapshot(&dst);
    let base = offer(&dst, "ldg1", DomainState::Bound, 1, 512).await;
    type Plant = Box<dyn Fn(&mut DomainOffer)>;
    let cases: Vec<(&str, Plant, &str)> = vec![
        (
            "a second primary",
            Box::new(|o| o.spec.name = "primary".into()),
            "control domain",
        ),
        (
            "a name with ../",
            Box::new(|o| o.spec.name = "../v".into()),
            "not a valid domain name",
        ),
        (
            "a name with a newline",
            Box::new(|o| o.spec.name = "ldg1\nldg9          active".into()),
            "not a valid domain name",
        ),
        (
            "0 vCPUs",
            Box::new(|o| o.spec.vcpus = 0),
            "vCPUs is out of range",
        ),
        (
            "u64::MAX memory",
            Box::new(|o| o.spec.memory_mib = u64::MAX),
            "out of range",
        ),
        (
            "kernel=/etc/shadow",
            Box::new(|o| o.spec.vars.kernel = Some("/etc/shadow".into())),
            "not every user there may read it",
        ),
        (
            "a machine type with a property",
            Box::new(|o| o.machine_type = Some("pc-i440fx-10.0,firmware=/etc/shadow".into())),
            "not a QEMU model name",
        ),
        (
            "a CPU model with a flag",
            Box::new(|o| o.cpu_model = Some("max,+vmx".into())),
            "not a QEMU model name",
        ),
        (
            "boot-args with a newline",
            Box::new(|o| o.spec.vars.boot_args = Some("quiet\nkernel=/etc/shadow".into())),
            "control character",
        ),
        (
            "downtime u64::MAX",
            Box::new(|o| o.spec.migration.downtime_ms = Some(u64::MAX)),
            "out of range",
        ),
    ];
    for (what, plant, says) in cases {
        let mut o = base.clone();
        plant(&mut o);
        let m = refused(&dst, o, Default::default()).await;
        assert!(m.contains(says), "{what}: {m}");
        assert!(
            !m.contains('\n'),
            "{what}: the refusal carries a newline: {m}"
        );
    }
    let t = ldm_qemu::MigrationTuning {
        max_bandwidth_bytes: u64::MAX,
        ..Default::default()
    };
    let m = refused(&dst, base.clone(), t).await;
    assert!(m.contains("bandwidth"), "{m}");
    assert_responsive(&dst).await;
    assert!(dst.names().await.is_empty(), "{:?}", dst.names().await);
    assert_eq!(snapshot(&dst), before);
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uuid_with_dot_dot_is_refused_when_decoded() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    let bystander = tempfile::tempdir().unwrap();
    let victim = bystander.path().join("x.console.log");
    std::fs::write(&victim, b"keep me").unwrap();
    let before = snapshot(&dst);
    let mut p = RawPeer::authenticate(&dst, "admin").await;
    let mut o =
        serde_json::to_value(offer(&dst, "ldg1", DomainState::Active, 1, 512).await).unwrap();
    o["spec"]["uuid"] = json!(format!("../../../../../..{}/x", bystander.path().display()));
    p.ch.send(&json!({"msg": "prepare", "offer": o, "started_at": null, "tuning": {}}))
        .await
        .unwrap();
    match p.recv().await {
        Some(ToSource::Error { message }) => {
            assert!(message.contains("refused a message"), "{message}")
        }
        other => panic!("answered {other:?}"),
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(dst.names().await.is_empty());
    assert_eq!(snapshot(&dst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_colliding_with_a_local_uuid_is_refused() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    dst.add_domain("mine", 1, 512, false).await;
    let uuid = dst.record("mine").unwrap().spec.uuid;
    let before = snapshot(&dst);
    let mut o = offer(&dst, "other", DomainState::Bound, 1, 512).await;
    o.spec.uuid = uuid;
    let m = refused(&dst, o, Default::default()).await;
    assert!(m.contains("already has the UUID"), "{m}");
    assert_eq!(dst.names().await, ["mine"]);
    assert_eq!(snapshot(&dst), before);
}

/// The boot memory size of a running domain with hot-pluggable memory is
/// the source's word for the machine the target builds: anything but the
/// spec's boot memory and a small pad QEMU takes as it is is refused
/// before a QEMU starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_boot_memory_size_is_refused() {
    let dst = Host::start("target").await;
    dst.add_user("admin", UserRole::Management).await;
    let before = snapshot(&dst);
    // Booted with 1 GiB, 512 MiB added, at most 2 GiB.
    let mut base = offer(&dst, "ldg1", DomainState::Active, 1, 1536).await;
    base.spec.max_memory_mib = Some(2048);
    base.spec.boot_memory_mib = Some(1024);
    let mib = 1024u64 << 10;
    for (what, kib) in [
        ("a GiB more", mib + (1 << 20)),
        ("half of it", mib / 2),
        ("a size QEMU rounds", mib + 4),
        ("a pad of a whole fast-path length", mib + 256),
        ("u64::MAX", u64::MAX),
    ] {
        let mut o = base.clone();
        o.boot_memory_kib = Some(kib);
        let m = refused(&dst, o, Default::default()).await;
        assert!(
            m.contains("is not its 1024 MiB plus at most"),
            "{what}: {m}"
        );
    }
    // A size for a domain without hot-pluggable memory.
    let mut o = offer(&dst, "ldg1", DomainState::Active, 1, 1024).await;
    o.boot_memory_kib = Some(mib + 8);
    let m = refused(&dst, o, Default::default()).await;
    assert!(m.contains("without hot-pluggable memory"), "{m}");
    assert_responsive(&dst).await;
    assert!(dst.names().await.is_empty(), "{:?}", dst.names().await);
    assert_eq!(snapshot(&dst), before);
}

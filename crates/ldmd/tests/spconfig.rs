//! Saved configurations: `add-spconfig`, `set-spconfig`, `remove-spconfig`,
//! `list-spconfig`, and what ldmd applies at its first start after the host
//! booted (a new boot id). No QEMU: domains saved active come back bound,
//! their start failing for want of a kernel (the e2e tier starts real ones).

mod common;

use common::{Host, Netns};
use ldm_api::request::SpconfigView;
use ldm_api::{DomainState, ErrorKind, Reply, Request};
use std::collections::BTreeMap;

async fn configs(h: &Host) -> Vec<(String, bool, bool)> {
    match h.ok(Request::ListSpconfig).await {
        Reply::Spconfigs { configs } => configs
            .into_iter()
            .map(
                |SpconfigView {
                     name,
                     current,
                     next_poweron,
                 }| (name, current, next_poweron),
            )
            .collect(),
        other => panic!("list-spconfig answered {other:?}"),
    }
}

fn c(name: &str, current: bool, next: bool) -> (String, bool, bool) {
    (name.into(), current, next)
}

async fn states(h: &Host) -> BTreeMap<String, DomainState> {
    h.list()
        .await
        .into_iter()
        .map(|d| (d.name, d.state))
        .collect()
}

/// Domains, services and saved configurations as stored.
fn snapshot(h: &Host) -> String {
    let db = h.db();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        db.domains().unwrap(),
        db.vccs().unwrap(),
        db.vdss().unwrap(),
        db.vdsdevs().unwrap(),
        db.spconfigs().unwrap(),
        db.meta("spconfig-next").unwrap(),
        db.meta("spconfig-current").unwrap(),
    )
}

async fn lab_host() -> Host {
    let h = Host::start("h1").await;
    let img = h.root().join("d1.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let img = img.display().to_string();
    for args in [
        &["add-vds", "primary-vds0", "primary"][..],
        &["add-vdsdev", &img, "vol1@primary-vds0"],
        &["add-vcc", "port-range=6000-6009", "lab-vcc", "primary"],
    ] {
        assert_eq!(h.ldm(args).await, 0, "{args:?}");
    }
    h.add_domain("ldg1", 2, 1024, false).await;
    assert_eq!(
        h.ldm(&["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"])
            .await,
        0
    );
    assert_eq!(h.ldm(&["bind-domain", "ldg1"]).await, 0);
    h.add_domain("ldg2", 1, 512, false).await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_configuration_comes_back_after_a_reboot() {
    let mut h = lab_host().await;
    assert_eq!(configs(&h).await, [c("factory-default", true, true)]);
    assert_eq!(h.ldm(&["add-spconfig", "lab"]).await, 0);
    assert_eq!(
        configs(&h).await,
        [c("factory-default", false, false), c("lab", true, true)]
    );
    let saved = states(&h).await;
    let saved_services = format!(
        "{:?}{:?}",
        h.db().vccs().unwrap(),
        h.db().vdsdevs().unwrap()
    );

    // Change everything.
    assert_eq!(h.ldm(&["unbind-domain", "ldg1"]).await, 0);
    assert_eq!(h.ldm(&["remove-domain", "ldg1", "ldg2"]).await, 0);
    assert_eq!(h.ldm(&["remove-vdsdev", "vol1@primary-vds0"]).await, 0);
    assert_eq!(h.ldm(&["remove-vcc", "lab-vcc"]).await, 0);
    h.add_domain("other", 1, 512, true).await;

    // A restart under the same boot id is not a reboot: nothing applied.
    h.restart().await;
    assert_eq!(h.names().await, ["other"]);

    // The host reboots: lab replaces the configuration.
    h.reboot("boot-2").await;
    assert_eq!(states(&h).await, saved);
    assert_eq!(
        format!(
            "{:?}{:?}",
            h.db().vccs().unwrap(),
            h.db().vdsdevs().unwrap()
        ),
        saved_services
    );
    let ldg1 = h.domain("ldg1").await.unwrap();
    assert_eq!(
        (ldg1.vcpus, ldg1.memory_mib, ldg1.disks.len()),
        (2, 1024, 1)
    );
    assert!(ldg1.cons.is_some(), "ldg1 is bound again with a console");
    assert_eq!(
        configs(&h).await,
        [c("factory-default", false, false), c("lab", true, true)]
    );

    // factory-default selected: the next reboot applies nothing.
    assert_eq!(h.ldm(&["set-spconfig", "factory-default"]).await, 0);
    assert_eq!(
        configs(&h).await,
        [c("factory-default", false, true), c("lab", true, false)]
    );
    assert_eq!(h.ldm(&["unbind-domain", "ldg1"]).await, 0);
    h.reboot("boot-3").await;
    assert_eq!(states(&h).await["ldg1"], DomainState::Inactive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_domain_is_bound_and_started_at_boot() {
    let mut h = lab_host().await;
    assert_eq!(h.ldm(&["add-spconfig", "lab"]).await, 0);
    // Mark ldg1 active in the saved configuration, as if it had run.
    let db = h.db();
    let mut cfg = db.spconfig("lab").unwrap().unwrap();
    for d in &mut cfg.domains {
        if d.spec.name == "ldg1" {
            d.state = ldmd::spconfig::snapshot::SavedState::Active;
        }
    }
    db.delete_spconfig("lab").unwrap();
    db.add_spconfig("lab", &cfg).unwrap();
    assert_eq!(h.ldm(&["unbind-domain", "ldg1"]).await, 0);
    h.reboot("boot-2").await;
    // Bound, and its start tried: without a kernel it stays bound.
    assert_eq!(states(&h).await["ldg1"], DomainState::Bound);
    assert_eq!(states(&h).await["ldg2"], DomainState::Inactive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_are_refused_and_change_nothing() {
    let mut h = lab_host().await;
    assert_eq!(h.ldm(&["add-spconfig", "lab"]).await, 0);
    let before = snapshot(&h);
    for (req, kind) in [
        (
            Request::AddSpconfig { name: "lab".into() },
            ErrorKind::Exists,
        ),
        (
            Request::AddSpconfig {
                name: "factory-default".into(),
            },
            ErrorKind::BadRequest,
        ),
        (
            Request::AddSpconfig {
                name: "bad/name".into(),
            },
            ErrorKind::BadRequest,
        ),
        (
            Request::SetSpconfig {
                name: "nope".into(),
            },
            ErrorKind::NotFound,
        ),
        (
            Request::RemoveSpconfig {
                name: "nope".into(),
            },
            ErrorKind::NotFound,
        ),
        (
            Request::RemoveSpconfig {
                name: "factory-default".into(),
            },
            ErrorKind::BadRequest,
        ),
    ] {
        let what = format!("{req:?}");
        let e = h.call(req).await.expect_err(&what);
        assert_eq!(e.kind, kind, "{what}: {}", e.message);
        assert_eq!(snapshot(&h), before, "{what}");
    }
    for args in [&["set-spconfig", "nope"][..], &["add-spconfig", "lab"]] {
        assert_eq!(h.ldm(args).await, 1, "{args:?}");
    }
    assert_eq!(snapshot(&h), before);

    // Removing the selected one falls back to factory-default.
    assert_eq!(h.ldm(&["remove-spconfig", "lab"]).await, 0);
    assert_eq!(configs(&h).await, [c("factory-default", true, true)]);
    assert_eq!(h.ldm(&["remove-domain", "ldg2"]).await, 0);
    h.reboot("boot-2").await;
    assert_eq!(h.names().await, ["ldg1"]);
}

/// Virtual switches are services of the configuration and vnets part of
/// the domains: both come back, the switch's bridge made again, and a
/// switch added after saving is removed with its bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_and_vnets_come_back_with_their_bridge() {
    let ns = Netns::new();
    let mut h = Host::start_in("h1", &ns).await;
    h.add_domain("ldg1", 1, 512, false).await;
    for args in [
        &["add-vsw", "mtu=1400", "primary-vsw0", "primary"][..],
        &[
            "add-vnet",
            "mac-addr=02:4c:44:00:00:21",
            "vnet0",
            "primary-vsw0",
            "ldg1",
        ],
        &["set-domain", "max-vcpus=3", "ldg1"],
    ] {
        assert_eq!(h.ldm(args).await, 0, "{args:?}");
    }
    let saved_spec = h.db().domains().unwrap()[0].spec.clone();
    let saved_vsws = format!("{:?}", h.db().vsws().unwrap());
    assert_eq!(h.ldm(&["add-spconfig", "lab"]).await, 0);

    // Change them: the vnet and the switch go, another switch comes.
    for args in [
        &["remove-vnet", "vnet0", "ldg1"][..],
        &["remove-vsw", "primary-vsw0"],
        &["add-vsw", "primary-vsw1", "primary"],
    ] {
        assert_eq!(h.ldm(args).await, 0, "{args:?}");
    }
    let bridges_after_change = ns.ldm_links().await;

    h.reboot("boot-2").await;
    assert_eq!(format!("{:?}", h.db().vsws().unwrap()), saved_vsws);
    assert_eq!(h.db().domains().unwrap()[0].spec, saved_spec);
    let sw = match h.ok(Request::ListServices).await {
        Reply::Services { vsw, .. } => vsw,
        other => panic!("list-services answered {other:?}"),
    };
    assert_eq!(sw.len(), 1);
    assert_eq!((sw[0].name.as_str(), sw[0].mtu), ("primary-vsw0", 1400));
    let br = ns
        .link(&sw[0].bridge)
        .await
        .expect("the saved switch's bridge is made again");
    assert_eq!(br.mtu, 1400);
    let links = ns.ldm_links().await;
    assert_ne!(links, bridges_after_change, "primary-vsw1's bridge is gone");
    assert!(links.contains(&sw[0].bridge), "{links:?}");
    assert_eq!(links.len(), 1, "only primary-vsw0's bridge: {links:?}");
}

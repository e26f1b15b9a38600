//! Virtual switches and vnets through the local API of real daemons, each
//! making its bridges and taps in a network namespace of the test's own:
//! what the kernel then has (bridges, uplinks, taps, MTUs, addresses),
//! what the listings show, what a restart re-adopts or deletes, a cold
//! migration's taps, and every bad input refused with the database and
//! the links left as they were.

mod common;

use common::{Host, Netns};
use ldm_api::network::{Mac, VnetView, VswView};
use ldm_api::request::UserRole;
use ldm_api::{DomainState, ErrorKind, Reply, Request};

fn snapshot(h: &Host) -> String {
    let db = h.db();
    format!("{:?}\n{:?}", db.vsws().unwrap(), db.domains().unwrap())
}

async fn refused(h: &Host, ns: &Netns, req: Request, kind: ErrorKind, words: &[&str]) {
    let before = (snapshot(h), ns.ldm_links().await);
    let what = format!("{req:?}");
    let e = h.call(req).await.expect_err(&what);
    assert_eq!(e.kind, kind, "{what}: {e}");
    for w in words {
        assert!(e.message.contains(w), "{what}: '{}' lacks '{w}'", e.message);
    }
    let after = (snapshot(h), ns.ldm_links().await);
    assert_eq!(after, before, "{what} changed the database or the links");
}

async fn switches(h: &Host) -> Vec<VswView> {
    match h.ok(Request::ListServices).await {
        Reply::Services { vsw, .. } => vsw,
        other => panic!("list-services answered {other:?}"),
    }
}

async fn vnets(h: &Host, dom: &str) -> Vec<VnetView> {
    h.domain(dom).await.expect("domain listed").networks
}

fn add_vsw(name: &str, net_dev: Option<&str>, mtu: Option<u32>) -> Request {
    Request::AddVsw {
        name: name.into(),
        net_dev: net_dev.map(Into::into),
        mtu,
        mac: None,
    }
}

fn add_vnet(name: &str, switch: &str, dom: &str, mac: Option<Mac>) -> Request {
    Request::AddVnet {
        name: name.into(),
        switch: switch.into(),
        domain: dom.into(),
        mac,
        mtu: None,
    }
}

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_and_vnets_become_bridges_and_taps() {
    let ns = Netns::new();
    ns.run(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    let mut h = Host::start_in("net", &ns).await;
    h.ok(add_vsw("primary-vsw0", Some("up0"), Some(9000))).await;
    let sw = switches(&h).await;
    assert_eq!(sw.len(), 1);
    let (br_name, br_mtu) = (sw[0].bridge.clone(), sw[0].mtu);
    assert!(
        br_name.starts_with("ldmb-") && br_name.len() <= 15,
        "{br_name}"
    );
    assert_eq!(
        (sw[0].net_dev.as_deref(), br_mtu, &sw[0].problem),
        (Some("up0"), 9000, &None)
    );
    let br = ns.link(&br_name).await.expect("the switch's bridge exists");
    assert_eq!(
        (br.kind.as_deref(), br.mtu, br.up),
        (Some("bridge"), 9000, true)
    );
    let up0 = ns.link("up0").await.unwrap();
    assert_eq!(up0.master, Some(br.index), "the uplink is in the bridge");

    h.add_domain("ldg1", 1, 256, false).await;
    h.ok(add_vnet("vnet0", "primary-vsw0", "ldg1", None)).await;
    h.ok(add_vnet(
        "vnet1",
        "primary-vsw0",
        "ldg1",
        Some(mac("02:00:00:00:00:07")),
    ))
    .await;
    let v = vnets(&h, "ldg1").await;
    assert_eq!(v.len(), 2);
    assert!(
        v[0].mac.in_ldm_range(),
        "assigned from ldm's range: {}",
        v[0].mac
    );
    assert_eq!(v[1].mac, mac("02:00:00:00:00:07"));
    assert_eq!((v[0].mtu, v[0].id, v[1].id), (9000, 0, 1));
    assert!(v[0].tap.is_none(), "an inactive domain has no taps");
    assert!(ns.ldm_links().await.iter().all(|l| l.starts_with("ldmb-")));

    h.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;
    let v = vnets(&h, "ldg1").await;
    let taps: Vec<String> = v
        .iter()
        .map(|n| n.tap.clone().expect("bound: a tap"))
        .collect();
    for (n, tap) in v.iter().zip(&taps) {
        let l = ns.link(tap).await.expect("the tap exists");
        assert_eq!(l.master, Some(br.index), "{tap} is on the bridge");
        assert_eq!((l.mtu, l.up, l.kind.as_deref()), (9000, true, Some("tun")));
        let mut host_side = n.mac.0;
        host_side[0] = 0xfe;
        assert_eq!(l.mac, Some(Mac(host_side)));
    }

    // A restart re-adopts what is in use and deletes what is stale: a tap
    // this ldmd made for a vnet that is gone, not one another ldmd made.
    let owner = h.db().meta("net-owner").unwrap().unwrap();
    ns.run(&["tuntap", "add", "ldmt-00000001", "mode", "tap"]);
    ns.run(&[
        "link",
        "set",
        "ldmt-00000001",
        "alias",
        &format!("ldm {owner} vnet x of gone"),
    ]);
    ns.run(&["tuntap", "add", "ldmt-00000002", "mode", "tap"]);
    ns.run(&[
        "link",
        "set",
        "ldmt-00000002",
        "alias",
        "ldm 0badcafe vnet x of other",
    ]);
    h.restart().await;
    let mut want = vec![br_name.clone(), "ldmt-00000002".to_string()];
    want.extend(taps.iter().cloned());
    want.sort();
    assert_eq!(ns.ldm_links().await, want, "after a restart");
    ns.run(&["link", "del", "ldmt-00000002"]);

    h.ok(Request::RemoveVnet {
        name: "vnet1".into(),
        domain: "ldg1".into(),
    })
    .await;
    assert!(
        ns.link(&taps[1]).await.is_none(),
        "remove-vnet deletes its tap"
    );
    h.ok(Request::Unbind {
        name: "ldg1".into(),
    })
    .await;
    assert_eq!(
        ns.ldm_links().await,
        vec![br_name.clone()],
        "unbind deletes the taps"
    );
    h.ok(Request::RemoveVnet {
        name: "vnet0".into(),
        domain: "ldg1".into(),
    })
    .await;
    h.ok(Request::SetVsw {
        name: "primary-vsw0".into(),
        net_dev: Some(String::new()),
        mtu: Some(1500),
        mac: None,
        clear_mac: false,
    })
    .await;
    assert_eq!(
        ns.link("up0").await.unwrap().master,
        None,
        "the uplink is released"
    );
    assert_eq!(ns.link(&br_name).await.unwrap().mtu, 1500);
    h.ok(Request::RemoveVsw {
        name: "primary-vsw0".into(),
    })
    .await;
    assert!(
        ns.ldm_links().await.is_empty(),
        "remove-vsw deletes the bridge"
    );
    assert!(switches(&h).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_network_input_changes_nothing() {
    let ns = Netns::new();
    ns.run(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    ns.run(&["link", "add", "up1", "type", "veth", "peer", "name", "up1p"]);
    ns.run(&["link", "add", "other-br", "type", "bridge"]);
    ns.run(&["link", "set", "up1", "master", "other-br"]);
    let h = Host::start_in("badnet", &ns).await;
    h.ok(add_vsw("primary-vsw0", Some("up0"), None)).await;
    h.add_domain("ldg1", 1, 256, true).await;
    h.add_domain("ldg2", 1, 256, false).await;
    h.ok(add_vnet(
        "vnet0",
        "primary-vsw0",
        "ldg1",
        Some(mac("02:4c:44:00:00:01")),
    ))
    .await;
    let up0_mac = ns.link("up0").await.unwrap().mac.unwrap();

    refused(
        &h,
        &ns,
        add_vnet("vnet0", "no-such-vsw", "ldg2", None),
        ErrorKind::NotFound,
        &[
            "virtual switch no-such-vsw does not exist",
            "ldm add-vsw no-such-vsw primary",
        ],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vnet(
            "vnet0",
            "primary-vsw0",
            "ldg2",
            Some(mac("02:4c:44:00:00:01")),
        ),
        ErrorKind::Exists,
        &["02:4c:44:00:00:01 is already used by vnet vnet0 of domain ldg1"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vnet("vnet0", "primary-vsw0", "ldg2", Some(up0_mac)),
        ErrorKind::Exists,
        &["is already used by interface up0 of this host"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vnet(
            "vnet0",
            "primary-vsw0",
            "ldg2",
            Some(mac("01:00:5e:00:00:01")),
        ),
        ErrorKind::BadRequest,
        &["not a unicast MAC address"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vnet("vnet0", "primary-vsw0", "ldg1", None),
        ErrorKind::Exists,
        &["domain ldg1 already has a vnet vnet0"],
    )
    .await;
    refused(
        &h,
        &ns,
        Request::AddVnet {
            name: "v".into(),
            switch: "primary-vsw0".into(),
            domain: "ldg2".into(),
            mac: None,
            mtu: Some(70000),
        },
        ErrorKind::BadRequest,
        &["mtu=70000 is out of range: use 1280 to 9000"],
    )
    .await;
    refused(
        &h,
        &ns,
        Request::RemoveVsw {
            name: "primary-vsw0".into(),
        },
        ErrorKind::State,
        &[
            "virtual switch primary-vsw0 is in use by vnet vnet0 of ldg1",
            "ldm remove-vnet",
        ],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("sw1", Some("nosuch0"), None),
        ErrorKind::NotFound,
        &["net-dev nosuch0 does not exist on this host"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("sw1", Some("up1"), None),
        ErrorKind::Exists,
        &["net-dev up1 already belongs to other-br"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("sw1", Some("up0"), None),
        ErrorKind::Exists,
        &["net-dev up0 is already the uplink of virtual switch primary-vsw0"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("primary-vsw0", None, None),
        ErrorKind::Exists,
        &["a service named primary-vsw0 already exists"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("primary-vcc0", None, None),
        ErrorKind::Exists,
        &["a service named primary-vcc0 already exists"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("sw1", None, Some(100)),
        ErrorKind::BadRequest,
        &["mtu=100 is out of range"],
    )
    .await;
    refused(
        &h,
        &ns,
        Request::AddVsw {
            name: "sw1".into(),
            net_dev: None,
            mtu: None,
            mac: Some(mac("03:00:00:00:00:01")),
        },
        ErrorKind::BadRequest,
        &["not a unicast MAC address"],
    )
    .await;
    refused(
        &h,
        &ns,
        add_vsw("-bad", None, None),
        ErrorKind::BadRequest,
        &["is not a valid switch name"],
    )
    .await;
    refused(
        &h,
        &ns,
        Request::SetVsw {
            name: "nosuch".into(),
            net_dev: None,
            mtu: Some(1500),
            mac: None,
            clear_mac: false,
        },
        ErrorKind::NotFound,
        &["virtual switch nosuch does not exist"],
    )
    .await;
    refused(
        &h,
        &ns,
        Request::SetVnet {
            name: "vnet9".into(),
            domain: "ldg1".into(),
            switch: None,
            mac: None,
            mtu: None,
            clear_mtu: true,
        },
        ErrorKind::NotFound,
        &["domain ldg1 has no vnet vnet9"],
    )
    .await;
    // A switch whose uplink vanished: binding a domain on it fails and
    // leaves the domain as it was.
    h.ok(add_vnet("vnet0", "primary-vsw0", "ldg2", None)).await;
    ns.run(&["link", "del", "up0"]);
    refused(
        &h,
        &ns,
        Request::Bind {
            name: "ldg2".into(),
        },
        ErrorKind::State,
        &["net-dev up0 does not exist"],
    )
    .await;
    assert_eq!(h.domain("ldg2").await.unwrap().state, DomainState::Inactive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_domain_moves_with_its_vnets() {
    let (ns_a, ns_b) = (Netns::new(), Netns::new());
    let src = Host::start_in("neta", &ns_a).await;
    let dst = Host::start_in("netb", &ns_b).await;
    dst.add_user("admin", UserRole::Management).await;
    src.ok(add_vsw("primary-vsw0", None, None)).await;
    src.add_domain("ldg1", 1, 256, false).await;
    src.ok(add_vnet(
        "vnet0",
        "primary-vsw0",
        "ldg1",
        Some(mac("02:4c:44:00:00:0a")),
    ))
    .await;
    src.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;
    assert_eq!(src.domain("ldg1").await.unwrap().state, DomainState::Bound);

    // The target has no such switch, and an interface of its own with
    // the vnet's MAC.
    ns_b.run(&[
        "link",
        "add",
        "mine0",
        "address",
        "02:4c:44:00:00:0a",
        "type",
        "veth",
        "peer",
        "name",
        "mine0p",
    ]);
    let mut m = src.migrate_request(&dst, "ldg1", "admin").await;
    m.dry_run = true;
    let Reply::DryRun(r) = src.ok(Request::Migrate(m.clone())).await else {
        panic!("a dry run answers with its checks");
    };
    let has = |t: &str| r.failures.iter().any(|f| f.contains(t));
    assert!(
        has("Virtual switch primary-vsw0 (of vnet vnet0) does not exist on netb")
            && has(
                "The MAC address 02:4c:44:00:00:0a of vnet vnet0 is already used by interface mine0 on netb"
            ),
        "{:?}",
        r.failures
    );
    assert!(dst.domain("ldg1").await.is_none() && ns_b.ldm_links().await.is_empty());

    dst.ok(add_vsw("primary-vsw0", None, None)).await;
    m.dry_run = false;
    let e = src
        .call(Request::Migrate(m.clone()))
        .await
        .expect_err("the MAC is taken on the target");
    assert!(e.message.contains("used by interface mine0 on netb"), "{e}");
    assert!(dst.domain("ldg1").await.is_none());
    assert_eq!(src.domain("ldg1").await.unwrap().state, DomainState::Bound);
    ns_b.run(&["link", "del", "mine0"]);
    let Reply::Migrated(_) = src.ok(Request::Migrate(m)).await else {
        panic!("a migration answers with its summary");
    };
    assert!(
        ns_a.ldm_links()
            .await
            .iter()
            .all(|l| l.starts_with("ldmb-")),
        "the source's tap is gone"
    );
    let v = vnets(&dst, "ldg1").await;
    assert_eq!(v[0].mac, mac("02:4c:44:00:00:0a"), "the MAC is kept");
    let tap = ns_b
        .link(v[0].tap.as_ref().unwrap())
        .await
        .expect("the target has the tap");
    assert_eq!(tap.mac, Some(mac("fe:4c:44:00:00:0a")));
    let br = ns_b.link(&switches(&dst).await[0].bridge).await.unwrap();
    assert_eq!(tap.master, Some(br.index));
}

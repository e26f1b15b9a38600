//! `list-constraints -x` and `add-domain -i` / `set-domain -i` through the
//! `ldm` command line against a real daemon: the XML recreates the same
//! domain, and every bad file or refused change leaves the database as it
//! was.

mod common;

use common::{Host, Netns};
use ldm_api::{DomainSpec, Reply, Request};
use std::path::{Path, PathBuf};

fn snapshot(h: &Host) -> String {
    let db = h.db();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        db.vsws().unwrap(),
        db.vdss().unwrap(),
        db.vdsdevs().unwrap(),
        db.domains().unwrap()
    )
}

async fn constraints(h: &Host, name: &str) -> DomainSpec {
    match h
        .ok(Request::ListConstraints {
            names: vec![name.into()],
        })
        .await
    {
        Reply::Constraints { mut domains } => domains.remove(0),
        other => panic!("list-constraints answered {other:?}"),
    }
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

/// A domain with everything a definition holds: vCPUs, memory, cpu-arch,
/// migration preferences, a boot file, boot-args and a disk.
async fn full_domain(h: &Host) {
    let img = h.root().join("d1.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let kernel = h.root().join("vmlinuz");
    std::fs::write(&kernel, b"k").unwrap();
    let root = h.root().display().to_string();
    let k = format!("kernel={}", kernel.display());
    let img = img.display().to_string();
    for args in [
        vec!["add-vds", "primary-vds0", "primary"],
        vec!["add-vdsdev", &img, "vol1@primary-vds0"],
        vec!["add-domain", "cpu-arch=generic", "ldg1"],
        vec!["set-vcpu", "2", "ldg1"],
        vec!["set-memory", "1536M", "ldg1"],
        vec!["set-domain", "migration-downtime=300", "ldg1"],
        vec!["set-var", &k, "boot-args=console=ttyS0 x=\"a<b&c\"", "ldg1"],
        vec!["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"],
    ] {
        assert_eq!(h.ldm(&args).await, 0, "ldm {args:?} in {root}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_constraints_x_then_add_domain_i_recreates_the_same_domain() {
    let h = Host::start("h1").await;
    full_domain(&h).await;
    let before = constraints(&h, "ldg1").await;
    let file = write(
        h.root(),
        "ldg1.xml",
        &ldm::constraints::xml::to_xml(std::slice::from_ref(&before)),
    );
    let f = file.display().to_string();
    assert_eq!(h.ldm(&["remove-domain", "ldg1"]).await, 0);
    assert!(h.domain("ldg1").await.is_none());
    assert_eq!(h.ldm(&["add-domain", "-i", &f]).await, 0);
    assert_eq!(constraints(&h, "ldg1").await, before);
    let v = h.domain("ldg1").await.unwrap();
    assert_eq!((v.vcpus, v.memory_mib, v.disks.len()), (2, 1536, 1));

    // Adding it again: it exists. Nothing changes.
    let db = snapshot(&h);
    assert_eq!(h.ldm(&["add-domain", "-i", &f]).await, 1);
    assert_eq!(snapshot(&h), db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_domain_i_changes_the_domain_the_file_describes() {
    let h = Host::start("h1").await;
    full_domain(&h).await;
    let mut spec = constraints(&h, "ldg1").await;
    spec.vcpus = 3;
    spec.vars.boot_args = Some("console=ttyS0 quiet".into());
    spec.disks.clear();
    let f = write(
        h.root(),
        "new.xml",
        &ldm::constraints::xml::to_xml(&[spec.clone()]),
    );
    assert_eq!(
        h.ldm(&["set-domain", "-i", &f.display().to_string()]).await,
        0
    );
    assert_eq!(constraints(&h, "ldg1").await, spec);

    // Bound with 3 vCPUs: a file asking for more than the host has left is
    // refused, and so is one for another domain's uuid.
    assert_eq!(h.ldm(&["bind-domain", "ldg1"]).await, 0);
    let db = snapshot(&h);
    let mut big = spec.clone();
    big.vcpus = 9;
    let f = write(h.root(), "big.xml", &ldm::constraints::xml::to_xml(&[big]));
    assert_eq!(
        h.ldm(&["set-domain", "-i", &f.display().to_string()]).await,
        1
    );
    let mut other = spec.clone();
    other.uuid = uuid::Uuid::new_v4();
    let f = write(
        h.root(),
        "other.xml",
        &ldm::constraints::xml::to_xml(&[other]),
    );
    assert_eq!(
        h.ldm(&["set-domain", "-i", &f.display().to_string()]).await,
        1
    );
    assert_eq!(snapshot(&h), db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_and_change_nothing() {
    let h = Host::start("h1").await;
    full_domain(&h).await;
    let spec = constraints(&h, "ldg1").await;
    let good = ldm::constraints::xml::to_xml(&[DomainSpec {
        name: "ldg2".into(),
        uuid: uuid::Uuid::new_v4(),
        disks: Vec::new(),
        ..spec.clone()
    }]);
    let db = snapshot(&h);
    let cases = [
        ("missing.xml", None),
        ("html.xml", Some("<html/>".to_string())),
        ("net.xml", Some(good.replace(">var<", ">network<"))),
        ("mem.xml", Some(good.replace(">1536M<", ">64M<"))),
        ("cpus.xml", Some(good.replace(">2</rasd", ">0</rasd"))),
        (
            "kernel.xml",
            Some(good.replace("vmlinuz", "no-such-kernel")),
        ),
        ("name.xml", Some(good.replace("\"ldg2\"", "\"primary\""))),
        // The uuid of ldg1 under another name.
        (
            "uuid.xml",
            Some(ldm::constraints::xml::to_xml(&[DomainSpec {
                name: "ldg3".into(),
                disks: Vec::new(),
                ..spec.clone()
            }])),
        ),
        // ldg1's volume, already ldg1's disk.
        (
            "vol.xml",
            Some(ldm::constraints::xml::to_xml(&[DomainSpec {
                name: "ldg4".into(),
                uuid: uuid::Uuid::new_v4(),
                ..spec.clone()
            }])),
        ),
        (
            "two.xml",
            Some(ldm::constraints::xml::to_xml(&[spec.clone(), spec.clone()])),
        ),
    ];
    for (file, text) in cases {
        let p = h.root().join(file);
        if let Some(t) = text {
            std::fs::write(&p, t).unwrap();
        }
        assert_eq!(
            h.ldm(&["add-domain", "-i", &p.display().to_string()]).await,
            1,
            "{file}"
        );
        assert_eq!(snapshot(&h), db, "{file}");
    }
    // And the good one works.
    let p = write(h.root(), "good.xml", &good);
    assert_eq!(
        h.ldm(&["add-domain", "-i", &p.display().to_string()]).await,
        0
    );
}

/// Vnets (switch, MAC, MTU) and max-vcpus go through the XML and come
/// back; a file whose vnet names a switch that does not exist, or a MAC
/// another domain has, is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vnets_and_max_vcpus_round_trip_through_the_xml() {
    let ns = Netns::new();
    let h = Host::start_in("h1", &ns).await;
    full_domain(&h).await;
    for args in [
        &["add-vsw", "primary-vsw0", "primary"][..],
        &["set-domain", "max-vcpus=6", "ldg1"],
        &["add-vnet", "vnet0", "primary-vsw0", "ldg1"],
        &[
            "add-vnet",
            "mac-addr=02:4c:44:00:00:09",
            "mtu=1400",
            "vnet1",
            "primary-vsw0",
            "ldg1",
        ],
    ] {
        assert_eq!(h.ldm(args).await, 0, "{args:?}");
    }
    let before = constraints(&h, "ldg1").await;
    assert_eq!(before.max_vcpus, Some(6));
    assert_eq!(before.networks.len(), 2);
    let xml = ldm::constraints::xml::to_xml(std::slice::from_ref(&before));
    let f = write(h.root(), "ldg1.xml", &xml);
    let f = f.display().to_string();

    // While ldg1 exists, a copy under another name and uuid has its MACs;
    // another names a switch that does not exist.
    let copy = DomainSpec {
        name: "ldg2".into(),
        uuid: uuid::Uuid::new_v4(),
        disks: Vec::new(),
        ..before.clone()
    };
    let mut no_switch = copy.clone();
    for (i, n) in no_switch.networks.iter_mut().enumerate() {
        n.mac = format!("02:4c:44:00:01:0{i}").parse().unwrap();
    }
    no_switch.networks[0].switch = "primary-vsw9".into();
    let db = snapshot(&h);
    for (spec, words) in [
        (copy.clone(), ["is already used by vnet", "of domain ldg1"]),
        (no_switch, ["primary-vsw9", "vsw"]),
    ] {
        let e = h
            .call(Request::DefineDomain {
                spec,
                replace: false,
            })
            .await
            .expect_err("refused");
        for w in words {
            assert!(e.message.contains(w), "'{}' lacks '{w}'", e.message);
        }
        assert_eq!(snapshot(&h), db);
    }
    // Through the command line too.
    let c = write(
        h.root(),
        "copy.xml",
        &ldm::constraints::xml::to_xml(&[copy]),
    );
    assert_eq!(
        h.ldm(&["add-domain", "-i", &c.display().to_string()]).await,
        1
    );
    assert_eq!(snapshot(&h), db);

    assert_eq!(h.ldm(&["remove-domain", "ldg1"]).await, 0);
    assert_eq!(h.ldm(&["add-domain", "-i", &f]).await, 0);
    assert_eq!(constraints(&h, "ldg1").await, before);
    let v = h.domain("ldg1").await.unwrap();
    let macs: Vec<String> = v.networks.iter().map(|n| n.mac.to_string()).collect();
    assert_eq!(macs[1], "02:4c:44:00:00:09");

    // Bound, its vnets' taps are in use: a file that changes them is
    // refused; one that keeps them is taken.
    assert_eq!(h.ldm(&["bind-domain", "ldg1"]).await, 0);
    let mut fewer = before.clone();
    fewer.networks.pop();
    let g = write(
        h.root(),
        "fewer.xml",
        &ldm::constraints::xml::to_xml(&[fewer]),
    );
    let db = snapshot(&h);
    assert_eq!(
        h.ldm(&["set-domain", "-i", &g.display().to_string()]).await,
        1
    );
    assert_eq!(snapshot(&h), db);
    let mut more_mem = before.clone();
    more_mem.memory_mib = 1024;
    let g = write(
        h.root(),
        "mem.xml",
        &ldm::constraints::xml::to_xml(&[more_mem.clone()]),
    );
    assert_eq!(
        h.ldm(&["set-domain", "-i", &g.display().to_string()]).await,
        0
    );
    assert_eq!(constraints(&h, "ldg1").await, more_mem);
}

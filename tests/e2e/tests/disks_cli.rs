//! The disk verbs as an administrator types them, without guests: what
//! `list-services`, `ldm list -o disk`, `-l`, `-p`, `--json` and
//! `list-bindings` show, what survives restarts, and each bad input refused
//! with a message, a non-zero exit and nothing changed.

use ldm_e2e::{assert_refused, assert_survives_restarts, fake_image, Host, HostOpts};

fn image(host: &Host, name: &str, mib: u64) -> String {
    let p = host.root().join(name);
    std::fs::File::create(&p)
        .expect("image")
        .set_len(mib << 20)
        .expect("size");
    p.display().to_string()
}

fn define(host: &Host, name: &str) {
    let (k, i) = fake_image(host);
    host.ldm(&["add-domain", name]).ok();
    host.ldm(&[
        "set-var",
        &format!("kernel={}", k.display()),
        &format!("initrd={}", i.display()),
        name,
    ])
    .ok();
}

#[test]
fn disks_show_in_every_listing_and_survive_restarts() {
    let mut host = Host::start(HostOpts::default());
    let img = image(&host, "disk1.img", 64);
    define(&host, "ldg1");
    host.ldm(&["add-vds", "primary-vds0", "primary"]).ok();
    host.ldm(&["add-vdsdev", &img, "vol1@primary-vds0"]).ok();
    host.ldm(&["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"])
        .ok();
    host.ldm(&["bind-domain", "ldg1"]).ok();

    let s = host.ldm(&["list-services"]);
    s.ok();
    assert!(s.stdout.contains("VDS"), "{}", s.stdout);
    let line = s
        .stdout
        .lines()
        .find(|l| l.contains("vol1"))
        .unwrap_or_else(|| panic!("no vol1 in {}", s.stdout));
    assert!(
        line.contains("64M") && line.contains("raw") && line.contains(&img),
        "{line}"
    );
    // The console ports say who they admit.
    assert!(
        s.stdout
            .contains("admit the console and management roles only"),
        "{}",
        s.stdout
    );
    let p = host.ldm(&["list-services", "-p"]);
    assert!(
        p.stdout.contains("|access=role"),
        "the VCC line says who its ports admit: {}",
        p.stdout
    );
    assert!(
        p.stdout
            .contains("VDS|name=primary-vds0|ldom=primary|nvol=1"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.contains(&format!(
            "|vol=vol1|opts=|dev={img}|size=67108864|format=raw|used-by=ldg1/vdisk1"
        )),
        "{}",
        p.stdout
    );

    let o = host.ldm(&["list", "-o", "disk", "ldg1"]);
    o.ok();
    let row = o
        .stdout
        .lines()
        .find(|l| l.contains("vdisk1"))
        .expect("disk row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        ["vdisk1", "vol1@primary-vds0", "0", "primary", img.as_str()]
    );
    let l = host.ldm(&["list", "-l", "ldg1"]);
    assert!(
        l.stdout.contains("DISK") && l.stdout.contains("vdisk1"),
        "{}",
        l.stdout
    );
    let lp = host.ldm(&["list", "-l", "-p", "ldg1"]);
    assert!(
        lp.stdout.contains(&format!(
            "VDISK|name=vdisk1|vol=vol1@primary-vds0|id=0|server=primary|dev={img}|ro=no"
        )),
        "{}",
        lp.stdout
    );
    let j = host.ldm(&["list", "--json", "ldg1"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("json");
    assert_eq!(v[0]["disks"][0]["name"], "vdisk1");
    assert_eq!(v[0]["disks"][0]["volume"], "vol1@primary-vds0");
    let b = host.ldm(&["list-bindings"]);
    b.ok();
    assert!(
        b.stdout.contains("ldg1") && b.stdout.contains("vdisk1") && b.stdout.contains("VCONS"),
        "{}",
        b.stdout
    );
    assert!(!b.stdout.contains("NAME\nprimary"), "{}", b.stdout);
    assert_survives_restarts(&mut host);
}

#[test]
fn bad_disk_input_is_refused_and_changes_nothing() {
    let host = Host::start(HostOpts::default());
    let img = image(&host, "disk1.img", 16);
    let other = image(&host, "disk2.img", 16);
    let missing = host.root().join("missing.img").display().to_string();
    define(&host, "ldg1");
    define(&host, "ldg2");
    assert_refused(
        &host,
        &["add-vds", "primary-vds0", "ldg1"],
        "primary domain",
    );
    host.ldm(&["add-vds", "primary-vds0", "primary"]).ok();
    assert_refused(
        &host,
        &["add-vds", "primary-vds0", "primary"],
        "already exists",
    );
    assert_refused(
        &host,
        &["add-vdsdev", &missing, "vol1@primary-vds0"],
        "does not exist",
    );
    assert_refused(&host, &["add-vdsdev", &img, "vol1"], "VOLUME@SERVICE");
    assert_refused(
        &host,
        &["add-vdsdev", "options=excl", &img, "vol1@primary-vds0"],
        "options=ro",
    );
    assert_refused(
        &host,
        &["add-vdsdev", &img, "vol1@nosuch-vds"],
        "nosuch-vds does not exist",
    );
    host.ldm(&["add-vdsdev", &img, "vol1@primary-vds0"]).ok();
    assert_refused(
        &host,
        &["add-vdsdev", &other, "vol1@primary-vds0"],
        "already exists",
    );
    assert_refused(&host, &["add-vdsdev", &img, "vol2@primary-vds0"], "add -f");
    assert_refused(
        &host,
        &["add-vdisk", "vdisk1", "vol9@primary-vds0", "ldg1"],
        "does not exist",
    );
    host.ldm(&["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"])
        .ok();
    assert_refused(
        &host,
        &["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"],
        "already has a disk",
    );
    assert_refused(
        &host,
        &["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg2"],
        "already disk vdisk1",
    );
    host.ldm(&["bind-domain", "ldg1"]).ok();
    assert_refused(
        &host,
        &["remove-vdsdev", "vol1@primary-vds0"],
        "remove-vdisk vdisk1 ldg1",
    );
    assert_refused(&host, &["remove-vds", "primary-vds0"], "still exports");
    assert_refused(
        &host,
        &["set-vdsdev", "options=ro", "vol1@primary-vds0"],
        "in use",
    );
    assert_refused(
        &host,
        &["remove-vdisk", "vdisk9", "ldg1"],
        "has no disk vdisk9",
    );
    assert_refused(
        &host,
        &["set-vdisk", "volume=vol9@primary-vds0", "vdisk1", "ldg1"],
        "does not exist",
    );
}

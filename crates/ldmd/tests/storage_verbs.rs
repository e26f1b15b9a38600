//! Virtual disk services, volumes and disks through the local API of a real
//! daemon: what `list-services` and `ldm list` show, what survives a
//! restart, and every bad input refused with a message that says what to
//! do, the database left exactly as it was.

mod common;

use common::Host;
use ldm_api::storage::ImageFormat;
use ldm_api::{ErrorKind, Reply, Request};
use std::io::Write;
use std::path::Path;

/// Everything the database holds about disks and domains, to compare.
fn snapshot(h: &Host) -> String {
    let db = h.db();
    format!(
        "{:?}\n{:?}\n{:?}",
        db.vdss().unwrap(),
        db.vdsdevs().unwrap(),
        db.domains().unwrap()
    )
}

fn raw_image(dir: &Path, name: &str, mib: u64) -> String {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    p.display().to_string()
}

fn qcow2_header(dir: &Path, name: &str, bytes: u64) -> String {
    let p = dir.join(name);
    let mut head = vec![0u8; 512];
    head[..4].copy_from_slice(b"QFI\xfb");
    head[24..32].copy_from_slice(&bytes.to_be_bytes());
    std::fs::File::create(&p).unwrap().write_all(&head).unwrap();
    p.display().to_string()
}

fn vdsdev(force: bool, ro: bool, backend: &str, vol: &str) -> Request {
    Request::AddVdsdev {
        force,
        readonly: ro,
        create: false,
        backend: backend.into(),
        volume: vol.into(),
        service: "primary-vds0".into(),
    }
}

fn vdisk(disk: &str, vol: &str, dom: &str) -> Request {
    Request::AddVdisk {
        disk: disk.into(),
        volume: vol.into(),
        service: "primary-vds0".into(),
        domain: dom.into(),
    }
}

/// The request fails with `kind`, its message contains `words`, and the
/// database did not change.
async fn refused(h: &Host, req: Request, kind: ErrorKind, words: &[&str]) {
    let before = snapshot(h);
    let what = format!("{req:?}");
    let e = h.call(req).await.expect_err(&what);
    assert_eq!(e.kind, kind, "{what}: {e}");
    for w in words {
        assert!(e.message.contains(w), "{what}: '{}' lacks '{w}'", e.message);
    }
    assert_eq!(snapshot(h), before, "{what} changed the database");
}

async fn services(h: &Host) -> Vec<ldm_api::storage::VdsView> {
    match h.ok(Request::ListServices).await {
        Reply::Services { vds, .. } => vds,
        other => panic!("list-services answered {other:?}"),
    }
}

#[tokio::test]
async fn disks_are_defined_listed_and_kept() {
    let imgs = tempfile::tempdir().unwrap();
    let raw = raw_image(imgs.path(), "disk1.img", 64);
    let q = qcow2_header(imgs.path(), "disk2.qcow2", 1 << 30);
    let mut h = Host::start("disks").await;
    h.ok(Request::AddVds {
        name: "primary-vds0".into(),
    })
    .await;
    h.ok(vdsdev(false, false, &raw, "vol1")).await;
    h.ok(vdsdev(false, true, &q, "vol2")).await;
    h.add_domain("ldg1", 1, 256, false).await;
    h.ok(vdisk("vdisk1", "vol1", "ldg1")).await;
    h.ok(vdisk("vdisk2", "vol2", "ldg1")).await;

    let vds = services(&h).await;
    assert_eq!(vds.len(), 1);
    let vols = &vds[0].volumes;
    assert_eq!(vols.len(), 2);
    assert_eq!(vols[0].name, "vol1");
    assert_eq!(vols[0].size_bytes, Some(64 << 20));
    assert_eq!(vols[0].format, Some(ImageFormat::Raw));
    assert_eq!(
        vols[0].used_by,
        [("ldg1".to_string(), "vdisk1".to_string())]
    );
    assert_eq!(vols[1].format, Some(ImageFormat::Qcow2));
    assert_eq!(vols[1].size_bytes, Some(1 << 30));
    assert!(vols[1].readonly);

    h.restart().await;
    let d = h.domain("ldg1").await.unwrap();
    let names: Vec<(&str, &str, u32)> = d
        .disks
        .iter()
        .map(|k| (k.name.as_str(), k.volume.as_str(), k.id))
        .collect();
    assert_eq!(
        names,
        [
            ("vdisk1", "vol1@primary-vds0", 0),
            ("vdisk2", "vol2@primary-vds0", 1)
        ]
    );
    assert_eq!(d.disks[0].backend.as_deref(), Some(raw.as_str()));
    h.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;

    // set-vdisk moves a disk to another volume; remove-vdisk keeps the order
    // of the others.
    let raw3 = raw_image(imgs.path(), "disk3.img", 8);
    h.ok(vdsdev(false, false, &raw3, "vol3")).await;
    h.ok(Request::SetVdisk {
        disk: "vdisk1".into(),
        volume: "vol3".into(),
        service: "primary-vds0".into(),
        domain: "ldg1".into(),
    })
    .await;
    h.ok(Request::RemoveVdisk {
        disk: "vdisk2".into(),
        domain: "ldg1".into(),
    })
    .await;
    let d = h.domain("ldg1").await.unwrap();
    assert_eq!(d.disks.len(), 1);
    assert_eq!(d.disks[0].volume, "vol3@primary-vds0");
    h.ok(Request::RemoveVdsdev {
        volume: "vol2".into(),
        service: "primary-vds0".into(),
    })
    .await;
    assert_eq!(services(&h).await[0].volumes.len(), 2);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let imgs = tempfile::tempdir().unwrap();
    let raw = raw_image(imgs.path(), "disk1.img", 16);
    let h = Host::start("bad").await;
    refused(
        &h,
        vdsdev(false, false, &raw, "vol1"),
        ErrorKind::NotFound,
        &["primary-vds0 does not exist", "ldm add-vds"],
    )
    .await;
    h.ok(Request::AddVds {
        name: "primary-vds0".into(),
    })
    .await;
    refused(
        &h,
        Request::AddVds {
            name: "primary-vds0".into(),
        },
        ErrorKind::Exists,
        &["already exists"],
    )
    .await;
    let missing = imgs.path().join("nope.img").display().to_string();
    refused(
        &h,
        vdsdev(false, false, &missing, "vol1"),
        ErrorKind::BadRequest,
        &["does not exist", "truncate"],
    )
    .await;
    // options=create: only for a back end that does not exist yet, in a
    // directory that does, and never read-only.
    let create = |ro: bool, backend: &str| Request::AddVdsdev {
        force: false,
        readonly: ro,
        create: true,
        backend: backend.into(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    };
    refused(
        &h,
        create(true, &missing),
        ErrorKind::BadRequest,
        &["options=create and options=ro exclude each other"],
    )
    .await;
    refused(
        &h,
        create(false, &raw),
        ErrorKind::Exists,
        &["already exists: export it without options=create"],
    )
    .await;
    let nodir = imgs.path().join("no-dir/new.img").display().to_string();
    refused(
        &h,
        create(false, &nodir),
        ErrorKind::BadRequest,
        &["its directory does not either"],
    )
    .await;
    refused(
        &h,
        create(false, "new.img"),
        ErrorKind::BadRequest,
        &["give an absolute path"],
    )
    .await;
    let dir = imgs.path().display().to_string();
    refused(
        &h,
        vdsdev(false, false, &dir, "vol1"),
        ErrorKind::BadRequest,
        &["neither a regular file nor a block device"],
    )
    .await;
    h.ok(vdsdev(false, false, &raw, "vol1")).await;
    let other = raw_image(imgs.path(), "disk2.img", 16);
    refused(
        &h,
        vdsdev(false, false, &other, "vol1"),
        ErrorKind::Exists,
        &["vol1@primary-vds0 already exists"],
    )
    .await;
    // The same file under another path is the same back end.
    let alias = format!("{}/./disk1.img", imgs.path().display());
    refused(
        &h,
        vdsdev(false, false, &alias, "vol9"),
        ErrorKind::Exists,
        &["already exported as vol1@primary-vds0", "-f"],
    )
    .await;
    h.ok(vdsdev(true, false, &raw, "vol1b")).await;

    h.add_domain("ldg1", 1, 256, false).await;
    h.add_domain("ldg2", 1, 256, false).await;
    refused(
        &h,
        vdisk("vdisk1", "nope", "ldg1"),
        ErrorKind::NotFound,
        &["nope@primary-vds0 does not exist", "add-vdsdev"],
    )
    .await;
    refused(
        &h,
        vdisk("vdisk1", "vol1", "ldg9"),
        ErrorKind::NotFound,
        &["ldg9 does not exist"],
    )
    .await;
    refused(
        &h,
        vdisk("a-disk-name-too-long-for-serial", "vol1", "ldg1"),
        ErrorKind::BadRequest,
        &["20"],
    )
    .await;
    h.ok(vdisk("vdisk1", "vol1", "ldg1")).await;
    refused(
        &h,
        vdisk("vdisk1", "vol1b", "ldg1"),
        ErrorKind::Exists,
        &["already has a disk vdisk1"],
    )
    .await;
    refused(
        &h,
        vdisk("vdisk1", "vol1", "ldg2"),
        ErrorKind::Exists,
        &["already disk vdisk1 of domain ldg1"],
    )
    .await;
    h.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;
    refused(
        &h,
        Request::RemoveVdsdev {
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        },
        ErrorKind::State,
        &[
            "disk vdisk1 of domain ldg1 (bound)",
            "remove-vdisk vdisk1 ldg1",
        ],
    )
    .await;
    refused(
        &h,
        Request::SetVdsdev {
            readonly: true,
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        },
        ErrorKind::State,
        &["in use by disk vdisk1 of ldg1 (bound)"],
    )
    .await;
    refused(
        &h,
        Request::RemoveVds {
            name: "primary-vds0".into(),
        },
        ErrorKind::State,
        &["still exports", "vol1@primary-vds0", "remove-vdsdev"],
    )
    .await;
    refused(
        &h,
        Request::RemoveVdisk {
            disk: "vdisk7".into(),
            domain: "ldg1".into(),
        },
        ErrorKind::NotFound,
        &["has no disk vdisk7"],
    )
    .await;

    // A back end that vanished: binding a domain that uses it is refused.
    let gone = raw_image(imgs.path(), "gone.img", 4);
    h.ok(vdsdev(false, false, &gone, "vol2")).await;
    h.ok(vdisk("vdisk2", "vol2", "ldg2")).await;
    std::fs::remove_file(&gone).unwrap();
    refused(
        &h,
        Request::Bind {
            name: "ldg2".into(),
        },
        ErrorKind::State,
        &["disk vdisk2 of domain ldg2", "does not exist"],
    )
    .await;
    assert_eq!(
        h.domain("ldg2").await.unwrap().state,
        ldm_api::DomainState::Inactive
    );
}

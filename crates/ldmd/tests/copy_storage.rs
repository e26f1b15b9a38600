//! `migrate-domain --copy-storage` between in-process daemons whose volumes
//! are not shared: each refusal of the target's back end is named by the
//! dry run and refuses the real migration with nothing changed (database
//! and files); a bound domain's disk is then copied cold (real qemu-img and
//! qemu-storage-daemon, no guest) into a back end the target creates.

mod common;

use common::Host;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Reply, Request};
use std::path::Path;

fn image(path: &Path, mib: u64) -> String {
    std::fs::File::create(path)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    path.display().to_string()
}

/// A sparse image of `mib` MiB with one MiB of `byte` at `at_mib` MiB:
/// data in the middle of a disk.
fn image_with_data(path: &Path, mib: u64, byte: u8, at_mib: u64) -> String {
    use std::os::unix::fs::FileExt;
    let img = image(path, mib);
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[byte; 1 << 20], at_mib << 20).unwrap();
    img
}

async fn export(h: &Host, backend: &str, readonly: bool) {
    h.ok(Request::AddVdsdev {
        force: true,
        readonly,
        create: false,
        backend: backend.into(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    })
    .await;
}

async fn unexport(h: &Host) {
    h.ok(Request::RemoveVdsdev {
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    })
    .await;
}

async fn copy_request(
    src: &Host,
    dst: &Host,
    overwrite: bool,
) -> ldm_api::migration::MigrateRequest {
    let mut m = src.migrate_request(dst, "ldg1", "admin").await;
    m.copy_storage = true;
    m.overwrite_storage = overwrite;
    m
}

async fn dry_run(src: &Host, dst: &Host, overwrite: bool) -> ldm_api::migration::DryRun {
    let mut m = copy_request(src, dst, overwrite).await;
    m.dry_run = true;
    match src.ok(Request::Migrate(m)).await {
        Reply::DryRun(r) => r,
        other => panic!("a dry run answered {other:?}"),
    }
}

/// The only failure of a dry run, which must contain `what`.
async fn refused(src: &Host, dst: &Host, what: &str) {
    let f = dry_run(src, dst, false).await.failures;
    assert!(f.len() == 1 && f[0].contains(what), "{f:?}");
}

fn vds() -> Request {
    Request::AddVds {
        name: "primary-vds0".into(),
    }
}

/// Two hosts with `primary-vds0`, the target with a management user, and
/// on the source a domain `ldg1` (bound first if `bind`) given `vdisk1`:
/// `vol1@primary-vds0`, exported from `src_img`.
async fn hosts_with_a_disk(src_img: &str, bind: bool) -> (Host, Host) {
    let src = Host::start("hostA").await;
    let dst = Host::start("hostB").await;
    dst.add_user("admin", UserRole::Management).await;
    for h in [&src, &dst] {
        h.ok(vds()).await;
    }
    export(&src, src_img, false).await;
    src.add_domain("ldg1", 1, 256, bind).await;
    src.ok(Request::AddVdisk {
        disk: "vdisk1".into(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
        domain: "ldg1".into(),
    })
    .await;
    (src, dst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_target_back_ends_are_refused_and_a_cold_copy_fills_a_new_one() {
    let files = tempfile::tempdir().unwrap();
    let src_img = image_with_data(&files.path().join("a.img"), 16, 0x5a, 4);
    let (src, dst) = hosts_with_a_disk(&src_img, false).await;
    src.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;

    // The target's back end holds data: refused, unless told to overwrite.
    let full = files.path().join("full.img");
    std::fs::write(&full, vec![1u8; 16 << 20]).unwrap();
    export(&dst, &full.display().to_string(), false).await;
    refused(
        &src,
        &dst,
        "which already holds data: add --overwrite-storage",
    )
    .await;
    assert_eq!(
        dry_run(&src, &dst, true).await.failures,
        Vec::<String>::new()
    );
    let before = (src.list().await, dst.list().await);
    let e = src
        .call(Request::Migrate(copy_request(&src, &dst, false).await))
        .await
        .expect_err("refused");
    assert!(e.message.contains("already holds data"), "{e}");
    assert_eq!((src.list().await, dst.list().await), before);
    assert_eq!(std::fs::read(&full).unwrap(), vec![1u8; 16 << 20]);
    unexport(&dst).await;

    // Another size.
    export(&dst, &image(&files.path().join("small.img"), 8), false).await;
    refused(
        &src,
        &dst,
        "vol1@primary-vds0 on hostB is 8388608 bytes (raw), on hostA",
    )
    .await;
    unexport(&dst).await;

    // The source's own file: copying it onto itself is refused, even when
    // told to overwrite.
    export(&dst, &src_img, false).await;
    let f = dry_run(&src, &dst, true).await.failures;
    assert!(
        f.len() == 1
            && f[0]
                .starts_with("volume vol1@primary-vds0 on hostB is the same storage as on hostA")
            && f[0].ends_with(
                "copying a disk onto itself would destroy it; migrate without --copy-storage"
            ),
        "{f:?}"
    );
    unexport(&dst).await;

    // Read-only on the target.
    let empty = image(&files.path().join("b.img"), 16);
    export(&dst, &empty, true).await;
    refused(
        &src,
        &dst,
        "is read-only (options=ro) on hostB, and a storage copy must write it",
    )
    .await;
    unexport(&dst).await;

    // A back end that is gone and cannot be created (its directory is gone).
    let sub = files.path().join("gone");
    std::fs::create_dir(&sub).unwrap();
    let lost = image(&sub.join("b.img"), 16);
    export(&dst, &lost, false).await;
    std::fs::remove_dir_all(&sub).unwrap();
    refused(&src, &dst, "cannot be filled: back end").await;
    unexport(&dst).await;

    // A back end that is gone but can be created: the dry run passes and
    // reports the bytes to copy; the cold copy creates and fills it.
    export(&dst, &empty, false).await;
    std::fs::remove_file(&empty).unwrap();
    let dry = dry_run(&src, &dst, false).await;
    assert_eq!(dry.failures, Vec::<String>::new());
    let c = dry.copy.expect("an estimate");
    assert_eq!(c.bytes, 1 << 20, "{c:?}");
    assert!(!Path::new(&empty).exists(), "the dry run created the file");
    let r = src
        .ok(Request::Migrate(copy_request(&src, &dst, false).await))
        .await;
    let Reply::Migrated(s) = r else {
        panic!("{r:?}")
    };
    assert_eq!(s.storage_bytes, 1 << 20, "{s:?}");
    assert!(src.domain("ldg1").await.is_none());
    assert_eq!(dst.domain("ldg1").await.unwrap().state, DomainState::Bound);
    assert_eq!(
        std::fs::read(&empty).unwrap(),
        std::fs::read(&src_img).unwrap()
    );
}

fn qemu_img(args: &[&str]) -> String {
    let out = std::process::Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img runs");
    assert!(out.status.success(), "qemu-img {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What `qemu-img info` says of `path`: (format, virtual size).
fn image_info(path: &str) -> (String, u64) {
    let v: serde_json::Value =
        serde_json::from_str(&qemu_img(&["info", "--output=json", path])).unwrap();
    (
        v["format"].as_str().unwrap().to_string(),
        v["virtual-size"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qcow2_disk_is_copied_cold_into_a_volume_exported_for_creation() {
    let files = tempfile::tempdir().unwrap();
    let src_img = files.path().join("a.qcow2").display().to_string();
    qemu_img(&["create", "-q", "-f", "qcow2", &src_img, "32M"]);
    // Data at two places of the guest's disk, written through qemu-io.
    for (pattern, at) in [("0x5a", "4M"), ("0xa5", "20M")] {
        let out = std::process::Command::new("qemu-io")
            .args([
                "-f",
                "qcow2",
                "-c",
                &format!("write -P {pattern} {at} 1M"),
                &src_img,
            ])
            .output()
            .expect("qemu-io runs");
        assert!(out.status.success(), "{out:?}");
    }
    let (src, dst) = hosts_with_a_disk(&src_img, false).await;

    // The target exports a back end that does not exist yet.
    let new = files.path().join("b/new-disk").display().to_string();
    std::fs::create_dir(files.path().join("b")).unwrap();
    dst.ok(Request::AddVdsdev {
        force: false,
        readonly: false,
        create: true,
        backend: new.clone(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    })
    .await;
    let Reply::Services { vds, .. } = dst.ok(Request::ListServices).await else {
        panic!("list-services answers with the services");
    };
    let v = &vds[0].volumes[0];
    assert!(
        v.backend == new
            && v.problem
                .as_deref()
                .unwrap_or("")
                .contains("does not exist"),
        "{v:?}"
    );

    let dry = dry_run(&src, &dst, false).await;
    assert_eq!(dry.failures, Vec::<String>::new());
    assert_eq!(dry.copy.expect("an estimate").bytes, 2 << 20);
    assert!(!Path::new(&new).exists(), "the dry run created the file");
    // Under a bandwidth cap, which qemu-img applies to the copy (`-r`).
    let mut m = copy_request(&src, &dst, false).await;
    m.bandwidth_mib = Some(64);
    let r = src.ok(Request::Migrate(m)).await;
    let Reply::Migrated(s) = r else {
        panic!("{r:?}")
    };
    assert_eq!(s.storage_bytes, 2 << 20, "{s:?}");
    assert_eq!(
        dst.domain("ldg1").await.unwrap().state,
        DomainState::Inactive
    );
    assert!(src.domain("ldg1").await.is_none());
    // A real copy, the format kept: a qcow2 image of the same virtual
    // size, with the same contents the guest sees, and sparse.
    assert_eq!(image_info(&new), ("qcow2".into(), 32 << 20));
    qemu_img(&["compare", "-f", "qcow2", "-F", "qcow2", &src_img, &new]);
    let allocated = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&new).unwrap().blocks() * 512
    };
    assert!(allocated < 16 << 20, "{allocated} bytes allocated");
    // The volume is now an ordinary one there.
    let Reply::Services { vds, .. } = dst.ok(Request::ListServices).await else {
        panic!("list-services answers with the services");
    };
    let v = &vds[0].volumes[0];
    assert_eq!(
        (v.problem.clone(), v.size_bytes),
        (None, Some(32 << 20)),
        "{v:?}"
    );
}

/// A loop device over a file, detached on drop.
struct Loop(String);

impl Loop {
    fn attach(file: &Path) -> Loop {
        let out = std::process::Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .expect("run losetup");
        assert!(out.status.success(), "losetup: {out:?}");
        Loop(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.0])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_device_is_filled_only_when_told_to_overwrite_it() {
    let files = tempfile::tempdir().unwrap();
    let src_img = image_with_data(&files.path().join("a.img"), 16, 0x3c, 8);
    let backing = files.path().join("lun.img");
    image(&backing, 16);
    let dev = Loop::attach(&backing);
    let (src, dst) = hosts_with_a_disk(&src_img, true).await;
    export(&dst, &dev.0, false).await;

    // A block device may hold anything: refused unless told.
    refused(&src, &dst, "add --overwrite-storage").await;
    let before = (src.list().await, dst.list().await);
    let e = src
        .call(Request::Migrate(copy_request(&src, &dst, false).await))
        .await
        .expect_err("refused");
    assert!(e.message.contains("--overwrite-storage"), "{e}");
    assert_eq!((src.list().await, dst.list().await), before);

    // Told: the cold copy writes the device.
    let r = src
        .ok(Request::Migrate(copy_request(&src, &dst, true).await))
        .await;
    let Reply::Migrated(s) = r else {
        panic!("{r:?}")
    };
    assert_eq!(s.storage_bytes, 1 << 20, "{s:?}");
    assert_eq!(dst.domain("ldg1").await.unwrap().state, DomainState::Bound);
    let on_device = std::fs::read(&dev.0).unwrap();
    assert_eq!(on_device, std::fs::read(&src_img).unwrap());
}

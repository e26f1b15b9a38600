//! Storage migration (`migrate-domain --copy-storage`) between two ldmd on
//! 127.0.0.1 and 127.0.0.2 whose volumes are *not* shared: each host
//! exports `vol1@primary-vds0` from its own file. The disk moves while
//! diskwork writes; a cancel during the copy leaves the source running and
//! the target without the domain or the file it created; a bound domain's
//! disk is copied cold. The disk is `LDM_COPY_DISK_MIB` MiB (default 256;
//! the figures in docs/storage.md were taken with 1024).

use ldm_e2e::disks::{
    diskwork_starts, last_diskwork, sparse_image, wait_console, wait_for_diskwork,
};
use ldm_e2e::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn disk_mib() -> u64 {
    std::env::var("LDM_COPY_DISK_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Two hosts with an account `admin`, trusting each other, each with
/// `primary-vds0`; the password file.
fn start_pair(hold_dir: Option<&Path>) -> (Host, Host, PathBuf) {
    let mut oa = HostOpts::default();
    if let Some(dir) = hold_dir {
        oa = oa
            .env("LDMD_TEST_HOLD", "source-mirroring")
            .env("LDMD_TEST_HOLD_DIR", dir.to_str().unwrap());
    }
    let p = Pair::with(oa, HostOpts::default());
    for h in [&p.a, &p.b] {
        h.ldm(&["add-vds", "primary-vds0", "primary"]).ok();
    }
    (p.a, p.b, p.pw)
}

fn migrate(from: &Host, to: &Host, pw: &Path, extra: &[&str]) -> Output {
    let target = format!("admin@{}", to.listen_addr().unwrap());
    let mut args = vec!["migrate-domain", "-p", pw.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend(["ldg1", target.as_str()]);
    from.ldm(&args)
}

fn export(h: &Host, image: &Path) {
    h.ldm(&[
        "add-vdsdev",
        &image.display().to_string(),
        "vol1@primary-vds0",
    ])
    .ok();
}

/// ldg1 on `a` with vdisk1 on `image`, booted with diskwork at 20 MiB/s.
fn boot_with_disk(a: &Host, image: &Path) -> ldm_e2e::disks::DiskworkLine {
    sparse_image(image, disk_mib());
    export(a, image);
    define_domain(a, "ldg1", 1, "512M", "64,8");
    a.ldm(&[
        "set-var",
        "boot-args=console=ttyS0 memwork=64,8 diskwork=/dev/vda,20",
        "ldg1",
    ])
    .ok();
    a.ldm(&["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"])
        .ok();
    a.ldm(&["bind-domain", "ldg1"]).ok();
    a.ldm(&["start-domain", "ldg1"]).ok();
    let first = wait_for_diskwork(a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!(first.status, "OK", "{first:?}");
    first
}

/// Bytes of `path` that hold data.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

/// Stops and starts ldg1 on `h` and waits for diskwork's first full
/// sweep of what earlier boots wrote.
fn restart_and_verify(h: &Host) {
    h.ldm(&["stop-domain", "ldg1"]).ok();
    h.ldm(&["start-domain", "ldg1"]).ok();
    let text = wait_console(
        h,
        "ldg1",
        "a full sweep after the restart",
        Duration::from_secs(300),
        |t| {
            let from = t.rfind("diskwork start").unwrap_or(0);
            diskwork_starts(&t[from..])
                .first()
                .is_some_and(|s| s.resumed)
                && last_diskwork(&t[from..]).is_some_and(|l| l.sweeps >= 1)
        },
    );
    let from = text.rfind("diskwork start").unwrap_or(0);
    let after = last_diskwork(&text[from..]).expect("checked");
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
}

#[test]
fn guest_disk_copies_to_unshared_storage_while_diskwork_writes() {
    let _lock = guest_lock();
    let (a, b, pw) = start_pair(None);
    let storage = tempfile::tempdir().expect("storage");
    let src = storage.path().join("a-vol1.img");
    let dst = storage.path().join("b-vol1.img");
    let first = boot_with_disk(&a, &src);
    // B's own, empty back end of the same size.
    sparse_image(&dst, disk_mib());
    export(&b, &dst);

    // Without --copy-storage this is different storage: refused.
    migrate(&a, &b, &pw, &["-n"]).fails_with(
        "volume vol1@primary-vds0 on hostB is backed by different storage than on hostA",
    );
    // The dry run of the copy: passes, with the bytes and an estimate.
    let dry = migrate(&a, &b, &pw, &["-n", "--copy-storage"]);
    dry.ok();
    assert!(
        dry.stdout.contains("Storage copy: ") && dry.stdout.contains("would succeed"),
        "{}",
        dry.stdout
    );
    println!("dry run: {}", dry.stdout.trim());

    let out = migrate(&a, &b, &pw, &["--copy-storage", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json output");
    println!(
        "MEASURE: storage copy of a {} MiB disk with diskwork at 20 MiB/s: {} bytes in {} ms; total {} ms, downtime {} ms",
        disk_mib(),
        v["storage_bytes"],
        v["storage_ms"],
        v["total_ms"],
        v["downtime_ms"]
    );
    assert!(v["storage_bytes"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(
        !domains(&a).contains_key("ldg1"),
        "the source's copy is gone"
    );
    assert_eq!(domain(&b, "ldg1")["state"], "active");
    let on_b = wait_for_diskwork(&b, "ldg1", first.seq + 3, Duration::from_secs(60));
    assert_eq!((on_b.errors, on_b.status.as_str()), (0, "OK"), "{on_b:?}");
    let later = wait_for_diskwork(&b, "ldg1", on_b.seq + 2, Duration::from_secs(60));
    assert!(later.written_mib > on_b.written_mib, "{later:?}");
    assert!(allocated(&dst) > 0, "nothing reached B's back end");
    restart_and_verify(&b);
    b.ldm(&["stop-domain", "-f", "ldg1"]).ok();
}

#[test]
fn guest_cancel_during_the_storage_copy_keeps_the_source_and_removes_the_new_file() {
    let _lock = guest_lock();
    let holds = tempfile::tempdir().expect("hold dir");
    let (a, b, pw) = start_pair(Some(holds.path()));
    let storage = tempfile::tempdir().expect("storage");
    let src = storage.path().join("a-vol1.img");
    let dst = storage.path().join("b-vol1.img");
    let first = boot_with_disk(&a, &src);
    // B exports a file that is then removed: the copy creates it.
    sparse_image(&dst, disk_mib());
    export(&b, &dst);
    std::fs::remove_file(&dst).unwrap();

    let held = holds.path().join("held-source-mirroring");
    std::thread::scope(|s| {
        let mig = s.spawn(|| migrate(&a, &b, &pw, &["--copy-storage"]));
        let reached = poll(Duration::from_secs(120), Duration::from_millis(50), || {
            held.exists().then_some(())
        });
        assert!(reached.is_some(), "no hold: {}", a.log());
        // Mirrors are running: the target's file exists now.
        assert!(dst.exists(), "the target did not create its back end");
        let cancel = s.spawn(|| a.ldm(&["cancel-operation", "migration", "ldg1"]));
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::fs::remove_file(&held);
        cancel.join().unwrap().ok();
        let out = mig.join().unwrap();
        assert!(
            out.code == Some(1) && out.stderr.contains("cancelled"),
            "{out:?}"
        );
    });
    assert_eq!(domain(&a, "ldg1")["state"], "active");
    assert_eq!(domain(&a, "ldg1")["flags"], "-n----");
    assert!(!domains(&b).contains_key("ldg1"));
    assert!(!dst.exists(), "the file the target created is still there");
    let still = wait_for_diskwork(&a, "ldg1", first.seq + 3, Duration::from_secs(60));
    assert_eq!(
        (still.errors, still.status.as_str()),
        (0, "OK"),
        "{still:?}"
    );
    a.ldm(&["stop-domain", "-f", "ldg1"]).ok();
}

#[test]
fn guest_bound_domains_disk_is_copied_cold() {
    let _lock = guest_lock();
    let (a, b, pw) = start_pair(None);
    let storage = tempfile::tempdir().expect("storage");
    let src = storage.path().join("a-vol1.img");
    let dst = storage.path().join("b-vol1.img");
    // One boot writes the disk, then the domain stops (bound).
    let first = boot_with_disk(&a, &src);
    let _ = wait_for_diskwork(&a, "ldg1", first.seq + 3, Duration::from_secs(60));
    a.ldm(&["stop-domain", "ldg1"]).ok();
    assert_eq!(domain(&a, "ldg1")["state"], "bound");
    sparse_image(&dst, disk_mib());
    export(&b, &dst);
    std::fs::remove_file(&dst).unwrap();

    let out = migrate(&a, &b, &pw, &["--copy-storage", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json output");
    println!(
        "MEASURE: cold copy of a {} MiB disk: {} bytes in {} ms",
        disk_mib(),
        v["storage_bytes"],
        v["storage_ms"]
    );
    assert!(!domains(&a).contains_key("ldg1"));
    assert_eq!(domain(&b, "ldg1")["state"], "bound");
    assert!(src.exists(), "the source's back end is left alone");
    // The copy boots on B and verifies what the boot on A wrote.
    b.ldm(&["start-domain", "ldg1"]).ok();
    let text = wait_console(
        &b,
        "ldg1",
        "a full sweep on the target",
        Duration::from_secs(300),
        |t| {
            diskwork_starts(t).first().is_some_and(|s| s.resumed)
                && last_diskwork(t).is_some_and(|l| l.sweeps >= 1)
        },
    );
    let after = last_diskwork(&text).expect("checked");
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
    b.ldm(&["stop-domain", "-f", "ldg1"]).ok();
}

//! Live migration of a domain whose disk is on storage both hosts share (a
//! file at the same path, as on an NFS mount), between two ldmd on
//! 127.0.0.1 and 127.0.0.2, with diskwork and memwork as the judges; and
//! the same domain backed on the target by a copy of the image, refused
//! before the source pauses. Prints the downtimes, with and without a disk.

use ldm_e2e::disks::{
    diskwork_starts, last_diskwork, sparse_image, wait_console, wait_for_diskwork, DiskworkLine,
};
use ldm_e2e::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Two hosts with an account `admin`, trusting each other; the password file.
fn start_pair() -> (Host, Host, PathBuf) {
    let p = Pair::start();
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

/// Moves ldg1 `n` times back and forth starting on `a`; after each move the
/// guest's verifiers continue on the target. Returns the downtimes, ms.
fn back_and_forth(a: &Host, b: &Host, pw: &Path, n: usize, disk: bool) -> Vec<u64> {
    let mut mem = wait_for_memwork(a, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let mut dw: Option<DiskworkLine> =
        disk.then(|| wait_for_diskwork(a, "ldg1", 2, FIRST_LINE_TIMEOUT));
    let mut downtimes = Vec::new();
    for i in 0..n {
        let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
        let out = migrate(from, to, pw, &["--json"]);
        out.ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json output");
        downtimes.push(v["downtime_ms"].as_u64().expect("downtime_ms"));
        let m = wait_for_memwork(to, "ldg1", mem.seq + 2, Duration::from_secs(60));
        assert_eq!((m.errors, m.status.as_str()), (0, "OK"), "move {i}: {m:?}");
        mem = m;
        if let Some(before) = &dw {
            let d = wait_for_diskwork(to, "ldg1", before.seq + 2, Duration::from_secs(60));
            assert_eq!((d.errors, d.status.as_str()), (0, "OK"), "move {i}: {d:?}");
            assert!(
                d.written_mib > before.written_mib,
                "move {i}: diskwork stopped writing: {d:?}"
            );
            dw = Some(d);
        }
    }
    downtimes
}

#[test]
fn guest_shared_disk_migrates_back_and_forth_and_a_copy_is_refused() {
    let _lock = guest_lock();
    let (a, b, pw) = start_pair();
    let storage = tempfile::tempdir().expect("shared storage");
    let shared = storage.path().join("vol1.img");
    sparse_image(&shared, 1024);
    for h in [&a, &b] {
        h.ldm(&["add-vds", "primary-vds0", "primary"]).ok();
    }
    export(&a, &shared);
    define_domain(&a, "ldg1", 1, "512M", "64,8");
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
    let first = wait_for_diskwork(&a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!(first.status, "OK", "{first:?}");

    // The target's vol1 is a copy of the image: the dry run names it, and
    // the real migration is refused before the source pauses.
    let copy = storage.path().join("copy.img");
    std::fs::copy(&shared, &copy).unwrap();
    export(&b, &copy);
    let dry = migrate(&a, &b, &pw, &["-n"]);
    dry.fails_with(
        "volume vol1@primary-vds0 on hostB is backed by different storage than on hostA",
    );
    let real = migrate(&a, &b, &pw, &[]);
    real.fails_with(
        "volume vol1@primary-vds0 on hostB is backed by different storage than on hostA",
    );
    assert_eq!(domain(&a, "ldg1")["state"], "active");
    assert_eq!(domain(&a, "ldg1")["flags"], "-n----");
    assert!(!domains(&b).contains_key("ldg1"));
    let still = wait_for_diskwork(&a, "ldg1", first.seq + 2, Duration::from_secs(30));
    assert_eq!(still.status, "OK", "{still:?}");

    // The shared file on both: five live moves, every write accounted for.
    b.ldm(&["remove-vdsdev", "vol1@primary-vds0"]).ok();
    export(&b, &shared);
    let downtimes = back_and_forth(&a, &b, &pw, 5, true);
    println!("MEASURE: downtime with a shared disk (ms): {downtimes:?}");
    // Now on B. A restart verifies every block all earlier boots wrote.
    b.ldm(&["stop-domain", "ldg1"]).ok();
    b.ldm(&["start-domain", "ldg1"]).ok();
    let text = wait_console(
        &b,
        "ldg1",
        "a full sweep after the restart",
        Duration::from_secs(180),
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
    b.ldm(&["stop-domain", "-f", "ldg1"]).ok();
}

#[test]
fn guest_downtime_of_the_same_domain_without_a_disk() {
    let _lock = guest_lock();
    let (a, b, pw) = start_pair();
    boot_domain(&a, "ldg1", 1, "512M", "64,8");
    let downtimes = back_and_forth(&a, &b, &pw, 5, false);
    println!("MEASURE: downtime without a disk (ms): {downtimes:?}");
    b.ldm(&["stop-domain", "-f", "ldg1"]).ok();
}

//! A domain with a disk, booted for real: the guest sees the disk under its
//! name, diskwork writes and verifies it, and after a stop and start the
//! next boot verifies everything the first one wrote.

use ldm_e2e::disks::{
    diskwork_starts, give_disk, last_diskwork, sparse_image, wait_console, wait_for_diskwork,
};
use ldm_e2e::{assert_refused, define_domain, guest_lock, Host, HostOpts, FIRST_LINE_TIMEOUT};
use std::time::Duration;

#[test]
fn guest_disk_is_written_and_verified_across_a_restart() {
    let _lock = guest_lock();
    let host = Host::start(HostOpts::default());
    let image = host.root().join("disk1.img");
    sparse_image(&image, 1024);
    define_domain(&host, "ldg1", 1, "256M", "16,1");
    give_disk(&host, &image, "vol1", "vdisk1", "ldg1");
    host.ldm(&[
        "set-var",
        "boot-args=console=ttyS0 memwork=16,1 diskwork=/dev/disk/by-id/virtio-vdisk1,20",
        "ldg1",
    ])
    .ok();
    host.ldm(&["bind-domain", "ldg1"]).ok();
    host.ldm(&["start-domain", "ldg1"]).ok();

    let text = wait_console(&host, "ldg1", "the disk", FIRST_LINE_TIMEOUT, |t| {
        t.contains("guest: disk vda serial=vdisk1 sectors=2097152")
    });
    assert!(!text.contains("guest: diskwork exited"), "{text}");
    let first = wait_for_diskwork(&host, "ldg1", 5, Duration::from_secs(60));
    assert_eq!(
        (first.errors, first.status.as_str()),
        (0, "OK"),
        "{first:?}"
    );
    assert!(first.written_mib > 0, "diskwork wrote nothing: {first:?}");
    let text = ldm_e2e::console_dump(&host, "ldg1");
    let start = diskwork_starts(&text).pop().expect("a diskwork start line");
    assert!(!start.resumed, "a fresh disk: {start:?}");
    assert_eq!(start.size_mib, 1024);

    // An active domain's disks do not change: the refusal says to stop it.
    let other = host.root().join("disk2.img");
    sparse_image(&other, 16);
    host.ldm(&[
        "add-vdsdev",
        &other.display().to_string(),
        "vol2@primary-vds0",
    ])
    .ok();
    assert_refused(
        &host,
        &["add-vdisk", "vdisk2", "vol2@primary-vds0", "ldg1"],
        "stop it first",
    );
    assert_refused(&host, &["remove-vdisk", "vdisk1", "ldg1"], "stop it first");

    let before = wait_for_diskwork(&host, "ldg1", first.seq + 3, Duration::from_secs(30));
    host.ldm(&["stop-domain", "ldg1"]).ok();
    host.ldm(&["start-domain", "ldg1"]).ok();
    let text = wait_console(
        &host,
        "ldg1",
        "a second diskwork start",
        FIRST_LINE_TIMEOUT,
        |t| diskwork_starts(t).last().is_some_and(|s| s.resumed),
    );
    let again = diskwork_starts(&text).pop().expect("checked");
    let per_mib = 16; // 64 KiB blocks
    assert!(
        again.written_blocks >= before.written_mib * per_mib / 2,
        "the second boot found {} written blocks; the first wrote {} MiB",
        again.written_blocks,
        before.written_mib
    );
    // A full sweep of the new boot verified every block the first wrote.
    let text = wait_console(
        &host,
        "ldg1",
        "a full sweep after the restart",
        Duration::from_secs(120),
        |t| {
            let from = t.rfind("diskwork start").unwrap_or(0);
            last_diskwork(&t[from..]).is_some_and(|l| l.sweeps >= 1)
        },
    );
    let from = text.rfind("diskwork start").unwrap_or(0);
    let after = last_diskwork(&text[from..]).expect("checked");
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
    assert!(!text[from..].contains("diskwork error"), "{text}");
    host.ldm(&["stop-domain", "-f", "ldg1"]).ok();
}

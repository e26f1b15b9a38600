//! Oracle's forms with a real guest: `stop-domain` with a timeout, halt,
//! reboot and quick stop, the transitional FLAGS while a stop runs, and a
//! saved configuration that brings a running domain back after a
//! (simulated) host reboot. Every test here is named `guest_…` and holds
//! the guest lock.

use ldm_e2e::procs::wait_gone;
use ldm_e2e::*;
use std::time::Duration;

/// A guest without ACPI (`acpi=off`): it has no power button, so it
/// ignores the power-off request as a hung guest would.
fn boot_deaf_guest(host: &Host, name: &str) -> MemworkLine {
    let (kernel, initrd) = guest_image();
    define_domain(host, name, 1, "512M", "32,4");
    host.ldm(&[
        "set-var",
        &format!("kernel={}", kernel.display()),
        &format!("initrd={}", initrd.display()),
        "boot-args=console=ttyS0 acpi=off memwork=32,4",
        name,
    ])
    .ok();
    host.ldm(&["bind-domain", name]).ok();
    host.ldm(&["start-domain", name]).ok();
    wait_for_memwork(host, name, 2, FIRST_LINE_TIMEOUT)
}

#[test]
fn guest_stop_timeout_halt_reboot_and_quick() {
    let _lock = guest_lock();
    let host = Host::start(HostOpts::default());
    let first = boot_deaf_guest(&host, "ldg1");
    let pid = qemu_pid(&host, "ldg1").unwrap();

    // No operation: Oracle prints no STATUS section.
    let out = host.ldm(&["list", "-o", "status", "ldg1"]);
    out.ok();
    assert_eq!(out.stdout, "NAME\nldg1\n\n");

    // Halt never forces: the guest ignores the request, the domain keeps
    // running and ldm says so.
    host.ldm(&["stop-domain", "-H", "-t", "2", "ldg1"])
        .fails_with("did not halt within 2 s");
    assert_eq!(domain(&host, "ldg1")["state"], "active");
    assert_eq!(qemu_pid(&host, "ldg1"), Some(pid));
    wait_for_memwork(&host, "ldg1", first.seq + 2, Duration::from_secs(30));

    // Reboot: forced after the timeout, started again, a fresh boot.
    let before = wait_for_memwork(&host, "ldg1", 0, Duration::from_secs(5));
    let out = host.ldm(&["stop-domain", "-r", "-t", "2", "ldg1"]);
    out.ok();
    assert!(
        out.stdout.contains("did not power off within 2 s")
            && out.stdout.contains("LDom ldg1 rebooted"),
        "{}",
        out.stdout
    );
    assert!(wait_gone(pid, Duration::from_secs(10)));
    let pid2 = qemu_pid(&host, "ldg1").expect("running again");
    assert_ne!(pid2, pid);
    let fresh = wait_for_next_boot(&host, "ldg1", &before, FIRST_LINE_TIMEOUT);
    assert_eq!(fresh.status, "OK");

    // While a stop waits for the guest, FLAGS show s (stopping) and t.
    let h = &host;
    let flags_seen = std::thread::scope(|s| {
        let stop = s.spawn(|| h.ldm(&["stop-domain", "-t", "6", "ldg1"]));
        let mut seen = Vec::new();
        while !stop.is_finished() {
            let p = domain(h, "ldg1");
            if !seen.contains(&p["flags"]) {
                seen.push(p["flags"].clone());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.join().unwrap().ok();
        seen
    });
    assert!(
        flags_seen.iter().any(|f| f == "st----"),
        "flags while stopping: {flags_seen:?}"
    );
    let p = domain(&host, "ldg1");
    assert_eq!(
        (p["state"].as_str(), p["flags"].as_str()),
        ("bound", "------")
    );

    // Quick: at once, no waiting for the guest.
    host.ldm(&["start-domain", "ldg1"]).ok();
    let pid3 = qemu_pid(&host, "ldg1").unwrap();
    let out = host.ldm(&["stop-domain", "-q", "ldg1"]);
    out.ok();
    assert!(!out.stdout.contains("did not power off"), "{}", out.stdout);
    assert!(wait_gone(pid3, Duration::from_secs(10)));
    assert_eq!(domain(&host, "ldg1")["state"], "bound");
}

#[test]
fn guest_saved_configuration_restarts_the_domain_after_a_reboot() {
    let _lock = guest_lock();
    let mut host = Host::start(HostOpts::default());
    boot_domain(&host, "ldg1", 1, "512M", "32,4");
    let last = wait_for_memwork(&host, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let uuid = host.ldm(&["list", "-o", "uuid", "-p", "ldg1"]).stdout;
    host.ldm(&["add-spconfig", "lab"]).ok();
    let out = host.ldm(&["list-spconfig"]);
    out.ok();
    assert_eq!(out.stdout, "factory-default\nlab [current]\n");
    // Defined after the save: not part of lab.
    host.ldm(&["add-domain", "scratch"]).ok();

    // Power lost: ldmd and the guest gone at once; the host boots again.
    host.kill9();
    host.kill_all_vms();
    host.set_env("LDMD_BOOT_ID", "e2e-simulated-boot-2");
    host.start_daemon();

    let p = domain(&host, "ldg1");
    assert_eq!(
        (p["state"].as_str(), p["flags"].as_str()),
        ("active", "-n----")
    );
    assert_eq!(host.ldm(&["list", "-o", "uuid", "-p", "ldg1"]).stdout, uuid);
    let fresh = wait_for_next_boot(&host, "ldg1", &last, FIRST_LINE_TIMEOUT);
    assert_eq!(fresh.status, "OK");
    let names: Vec<String> = domains(&host).into_keys().collect();
    assert_eq!(names, ["ldg1", "primary"], "lab replaced the configuration");

    // The same boot again (an ldmd restart): nothing is applied twice.
    let pid = qemu_pid(&host, "ldg1").unwrap();
    host.restart();
    assert_eq!(qemu_pid(&host, "ldg1"), Some(pid));
}

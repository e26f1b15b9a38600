//! Virtual networks end to end, in the lab: two hosts whose `primary-vsw0`
//! is uplinked to the wire, a client namespace, and a domain with a vnet
//! and an address. The client pings the guest and holds a TCP connection
//! to its echo service through five live migrations back and forth; the
//! UDP probe's longest gap per move is printed. A target without the
//! switch is named by the dry run; afterwards no bridge or tap ldm made
//! is left beyond what bound domains use. A cancelled migration, one whose
//! target QEMU dies and one whose target manager is killed leave no tap on
//! the target.

use ldm_e2e::lab::probe::{HeldConnection, UdpProbe, ECHO_PORT};
use ldm_e2e::lab::{guest_addr, UPLINK};
use ldm_e2e::*;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Names of the links ldm made (`ldmb-…`, `ldmt-…`) in namespace `ns`.
fn ldm_links(ns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show"])
        .output()
        .expect("ip runs");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("ldmb-") || n.starts_with("ldmt-"))
        .collect();
    v.sort();
    v
}

/// `primary-vsw0` on `host`, uplinked to the lab's wire.
fn add_switch(host: &Host) {
    host.ldm(&[
        "add-vsw",
        &format!("net-dev={UPLINK}"),
        "primary-vsw0",
        "primary",
    ])
    .ok();
}

fn kinds(links: &[String]) -> (usize, usize) {
    (
        links.iter().filter(|l| l.starts_with("ldmb-")).count(),
        links.iter().filter(|l| l.starts_with("ldmt-")).count(),
    )
}

fn ping_from_client(lab: &Lab) -> Output {
    let busybox = guest_image().0.parent().unwrap().join("busybox");
    let mut c = netns::command(&lab.client_ns(), busybox);
    c.args(["ping", "-c", "3", "-W", "5", &guest_addr(0).to_string()])
        .stdin(Stdio::null());
    ldm_e2e::output::run(c, None, Duration::from_secs(30))
}

/// The `NETWORK` rows of `ldm list -o network -p NAME`: `VNET|…` lines.
fn vnet_lines(host: &Host, name: &str) -> Vec<String> {
    host.ldm(&["list", "-o", "network", "-p", name])
        .ok()
        .stdout
        .lines()
        .filter(|l| l.starts_with("VNET|"))
        .map(str::to_string)
        .collect()
}

#[test]
fn guest_vnet_keeps_its_tcp_connection_across_five_migrations() {
    let _lock = guest_lock();
    let mut lab = Lab::start(LabOpts::hosts(2));
    let a = lab.host(0);
    define_domain(a, "ldg1", 1, "256M", "16,1");
    a.ldm(&[
        "set-var",
        &format!(
            "boot-args=console=ttyS0 memwork=16,1 ldm_ip={}/24",
            guest_addr(0)
        ),
        "ldg1",
    ])
    .ok();
    add_switch(a);
    a.ldm(&["add-vnet", "vnet0", "primary-vsw0", "ldg1"]).ok();
    a.ldm(&["bind-domain", "ldg1"]).ok();

    // The second host has no switch yet: the dry run names it, nothing changes.
    let b = lab.host(1);
    let out = lab.migrate(0, 1, "ldg1", &["-n"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("Virtual switch primary-vsw0 (of vnet vnet0) does not exist")
            || out
                .stderr
                .contains("Virtual switch primary-vsw0 (of vnet vnet0) does not exist"),
        "{out:?}"
    );
    assert!(!domains(b).contains_key("ldg1"));
    assert!(ldm_links(&lab.host_ns(1)).is_empty());
    add_switch(b);

    let a = lab.host(0);
    a.ldm(&["start-domain", "ldg1"]).ok();
    let first = wait_for_memwork(a, "ldg1", 1, FIRST_LINE_TIMEOUT);
    let vnet = vnet_lines(a, "ldg1");
    assert_eq!(vnet.len(), 1, "{vnet:?}");
    let mac = vnet[0]
        .split('|')
        .find_map(|f| f.strip_prefix("mac-addr="))
        .unwrap()
        .to_string();
    assert!(mac.starts_with("02:4c:44:"), "{mac}");
    let text = console_dump(a, "ldg1");
    assert!(
        text.contains(&format!(
            "guest: net eth0 mac={mac} ip={}/24",
            guest_addr(0)
        )),
        "{text}"
    );
    let out = ping_from_client(&lab);
    assert!(
        out.code == Some(0)
            && out
                .stdout
                .contains(&format!("bytes from {}", guest_addr(0))),
        "ping of the guest failed: {out:?}"
    );

    let target = SocketAddr::from((guest_addr(0), ECHO_PORT));
    let held = HeldConnection::open(&lab.client_ns(), target, Duration::from_millis(50))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut gaps = Vec::new();
    for k in 0..5 {
        let (from, to) = (k % 2, 1 - k % 2);
        let probe = UdpProbe::start(&lab.client_ns(), target);
        std::thread::sleep(Duration::from_millis(500));
        lab.migrate(from, to, "ldg1", &[]).ok();
        let before = probe.received();
        poll(Duration::from_secs(30), Duration::from_millis(20), || {
            (probe.received() >= before + 500).then_some(())
        })
        .unwrap_or_else(|| panic!("move {}: the guest stopped answering on host {to}", k + 1));
        let report = probe.stop();
        println!(
            "vnet move {} (host {from} -> host {to}): longest probe gap {:.1} ms; {report}",
            k + 1,
            ldm_e2e::lab::probe::ms(report.longest_gap)
        );
        gaps.push(report.longest_gap);
        assert!(!held.failed(), "move {}: the TCP connection broke", k + 1);
        // The vnet kept its MAC; the source has no tap of it left.
        let now = lab.host(to);
        let row = vnet_lines(now, "ldg1");
        assert!(row[0].contains(&format!("mac-addr={mac}")), "{row:?}");
        assert_eq!(
            kinds(&ldm_links(&lab.host_ns(from))),
            (1, 0),
            "move {}",
            k + 1
        );
        assert_eq!(
            kinds(&ldm_links(&lab.host_ns(to))),
            (1, 1),
            "move {}",
            k + 1
        );
    }
    let held = held.close();
    assert!(held.survived(), "{held:?}");
    println!(
        "vnet longest probe gaps per move (ms): {:?}",
        gaps.iter()
            .map(|g| ldm_e2e::lab::probe::ms(*g))
            .collect::<Vec<_>>()
    );
    // Five moves end on host 1.
    let b = lab.host(1);
    let after = wait_for_memwork(b, "ldg1", first.seq + 2, Duration::from_secs(60));
    assert_eq!((after.errors, after.status.as_str()), (0, "OK"));

    // kill -9 and restart: the tap in use is kept, the guest still answers.
    let taps = ldm_links(&lab.host_ns(1));
    lab.kill_ldmd(1);
    lab.start_ldmd(1);
    assert_eq!(
        ldm_links(&lab.host_ns(1)),
        taps,
        "after kill -9 and restart"
    );
    let out = ping_from_client(&lab);
    assert_eq!(out.code, Some(0), "ping after the restart: {out:?}");

    // Stop keeps the domain bound (its tap stays), unbind deletes the tap,
    // removing the domain and the switch leaves nothing.
    let b = lab.host(1);
    b.ldm(&["stop-domain", "-f", "ldg1"]).ok();
    assert_eq!(kinds(&ldm_links(&lab.host_ns(1))), (1, 1), "after stop");
    b.ldm(&["unbind-domain", "ldg1"]).ok();
    assert_eq!(kinds(&ldm_links(&lab.host_ns(1))), (1, 0), "after unbind");
    b.ldm(&["remove-domain", "ldg1"]).ok();
    b.ldm(&["remove-vsw", "primary-vsw0"]).ok();
    assert!(ldm_links(&lab.host_ns(1)).is_empty());
    lab.host(0).ldm(&["remove-vsw", "primary-vsw0"]).ok();
    assert!(ldm_links(&lab.host_ns(0)).is_empty());
}

/// Starts a slow migration of `ldg1` from host 0 to host 1 and waits until
/// the target has made the vnet's tap for its incoming copy.
fn slow_migration_with_target_tap(lab: &Lab) -> std::process::Child {
    let child = lab.spawn_migrate(0, 1, "ldg1", &["--max-bandwidth", "16"]);
    poll(Duration::from_secs(60), Duration::from_millis(50), || {
        (kinds(&ldm_links(&lab.host_ns(1))) == (1, 1)).then_some(())
    })
    .expect("the target made no tap for its incoming copy");
    child
}

fn finish_failed(child: std::process::Child, what: &str) -> Output {
    let out = ldm_e2e::output::finish("ldm migrate-domain".into(), child, Duration::from_secs(300));
    assert_ne!(
        out.code,
        Some(0),
        "{what}: the migration succeeded: {out:?}"
    );
    out
}

/// The target holds no copy and no tap, the source still has its tap, its
/// guest still answers ping and its memwork goes on past `last`, OK.
fn the_source_runs_on(lab: &Lab, what: &str, last: &MemworkLine) -> MemworkLine {
    poll(Duration::from_secs(30), Duration::from_millis(100), || {
        (!domains(lab.host(1)).contains_key("ldg1") && kinds(&ldm_links(&lab.host_ns(1))) == (1, 0))
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: the target kept its copy or its tap: {:?}",
            ldm_links(&lab.host_ns(1))
        )
    });
    assert_eq!(kinds(&ldm_links(&lab.host_ns(0))), (1, 1), "{what}");
    assert_eq!(domain(lab.host(0), "ldg1")["state"], "active", "{what}");
    let out = ping_from_client(lab);
    assert_eq!(out.code, Some(0), "{what}: ping of the guest: {out:?}");
    let now = wait_for_memwork(lab.host(0), "ldg1", last.seq + 2, Duration::from_secs(60));
    assert_eq!((now.errors, now.status.as_str()), (0, "OK"), "{what}");
    now
}

#[test]
fn guest_failed_and_cancelled_migrations_leave_no_links_on_the_target() {
    let _lock = guest_lock();
    let mut lab = Lab::start(LabOpts::hosts(2));
    for i in 0..2 {
        add_switch(lab.host(i));
    }
    let a = lab.host(0);
    define_domain(a, "ldg1", 1, "512M", "256,100");
    a.ldm(&[
        "set-var",
        &format!(
            "boot-args=console=ttyS0 memwork=256,100 ldm_ip={}/24",
            guest_addr(0)
        ),
        "ldg1",
    ])
    .ok();
    a.ldm(&["add-vnet", "vnet0", "primary-vsw0", "ldg1"]).ok();
    a.ldm(&["bind-domain", "ldg1"]).ok();
    a.ldm(&["start-domain", "ldg1"]).ok();
    let mut last = wait_for_memwork(a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    last = the_source_runs_on(&lab, "before any migration", &last);

    // 1. Cancelled on the source during the copy.
    let child = slow_migration_with_target_tap(&lab);
    lab.host(0)
        .ldm(&["cancel-operation", "migration", "ldg1"])
        .ok();
    let out = finish_failed(child, "cancel");
    assert!(out.stderr.contains("cancelled"), "{out:?}");
    last = the_source_runs_on(&lab, "after the cancel", &last);

    // 2. Failed: the target's incoming QEMU dies during the copy.
    let child = slow_migration_with_target_tap(&lab);
    poll(Duration::from_secs(30), Duration::from_millis(50), || {
        lab.host(1).qemu_pids().first().copied()
    })
    .expect("incoming QEMU on the target");
    let killed = lab.kill_qemus(1);
    assert_eq!(killed.len(), 1, "one incoming QEMU on the target");
    let out = finish_failed(child, "target QEMU killed");
    assert!(out.stderr.contains("failed"), "{out:?}");
    last = the_source_runs_on(&lab, "after the target's QEMU died", &last);

    // 3. Failed: the target's manager is killed during the copy; restarted,
    // it removes the stale tap of the copy it never finished.
    let child = slow_migration_with_target_tap(&lab);
    lab.kill_ldmd(1);
    finish_failed(child, "target ldmd killed");
    lab.start_ldmd(1);
    last = the_source_runs_on(&lab, "after the target's manager restarted", &last);

    // And a move that completes still works, leaving the source's tap gone.
    lab.migrate(0, 1, "ldg1", &[]).ok();
    assert_eq!(kinds(&ldm_links(&lab.host_ns(0))), (1, 0));
    assert_eq!(kinds(&ldm_links(&lab.host_ns(1))), (1, 1));
    let after = wait_for_memwork(lab.host(1), "ldg1", last.seq + 2, Duration::from_secs(60));
    assert_eq!((after.errors, after.status.as_str()), (0, "OK"));
}

//! The network lab itself: hosts in namespaces on one wire, the faults it
//! injects, and its cleanup. No guest, except the last test, which checks
//! consoles and hold points with one.

use ldm_e2e::lab::{host_addr, PEER_PORT, SLOW_KBIT};
use ldm_e2e::*;
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

/// Whether a TCP connection from the client to host `i`'s peer port
/// opens within a second.
fn client_reaches(lab: &Lab, i: usize) -> bool {
    let sa = SocketAddr::from((host_addr(i), PEER_PORT));
    lab.in_client(|| TcpStream::connect_timeout(&sa, Duration::from_secs(1)).is_ok())
}

fn lab_namespaces(lab: &Lab) -> Vec<String> {
    let prefix = lab.client_ns().trim_end_matches("-client").to_string();
    netns::list()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect()
}

#[test]
fn lab_joins_hosts_and_client_on_one_wire_and_leaves_nothing_behind() {
    let mut lab = Lab::start(LabOpts::hosts(2));
    let mut namespaces = lab_namespaces(&lab);
    namespaces.sort();
    assert_eq!(namespaces.len(), 4, "{namespaces:?}");
    for i in 0..2 {
        // ldm reaches ldmd over its Unix socket; ldmd runs in its namespace
        // under its own pid (ip netns exec execs).
        let host = lab.host(i);
        assert!(host.ldm(&["list"]).ok().stdout.contains("primary"));
        let pid = lab.ldmd_pid(i);
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "ldmd");
        assert!(netns::pids(&lab.host_ns(i)).contains(&pid));
        assert!(client_reaches(&lab, i), "the client cannot reach host {i}");
    }
    // The hosts trust each other: a dry run of a cold move passes.
    lab.host(0).ldm(&["add-domain", "ldg0"]).ok();
    lab.migrate(0, 1, "ldg0", &["-n"])
        .ok()
        .stdout_has("would succeed");
    let pids: Vec<u32> = (0..2).map(|i| lab.ldmd_pid(i)).collect();
    drop(lab);
    let left: Vec<String> = netns::list()
        .into_iter()
        .filter(|n| namespaces.contains(n))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    for p in pids {
        assert!(!pid_alive(p), "ldmd {p} survived the lab");
    }
}

#[test]
fn lab_cuts_and_restores_a_link() {
    let lab = Lab::start(LabOpts::hosts(2));
    lab.cut(0);
    assert!(
        !client_reaches(&lab, 0),
        "host 0 is reachable after the cut"
    );
    assert!(client_reaches(&lab, 1), "the cut of host 0 cut host 1");
    lab.restore(0);
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        client_reaches(&lab, 0).then_some(())
    })
    .expect("host 0 unreachable after the link was restored");
}

#[test]
fn lab_slows_a_link_at_both_ends() {
    let lab = Lab::start(LabOpts::hosts(1));
    lab.slow(0, SLOW_KBIT);
    assert!(lab.qdisc(0).contains("tbf"), "{}", lab.qdisc(0));
    assert!(client_reaches(&lab, 0), "a slowed link must still carry");
    lab.unslow(0);
    assert!(!lab.qdisc(0).contains("tbf"), "{}", lab.qdisc(0));
}

#[test]
fn lab_freezes_thaws_kills_and_restarts_an_ldmd() {
    let mut lab = Lab::start(LabOpts::hosts(1));
    lab.freeze(0);
    let child = lab
        .host(0)
        .ldm_command()
        .arg("list")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let waiting = procs::pid_alive(child.id());
    lab.thaw(0);
    let out = output::finish("ldm list".into(), child, Duration::from_secs(30));
    assert!(
        waiting,
        "a frozen ldmd answered `ldm list` (exit {:?}, stdout {:?}, stderr {:?})",
        out.code, out.stdout, out.stderr
    );
    out.ok();
    lab.kill_ldmd(0);
    lab.host(0).ldm(&["list"]).fails();
    lab.start_ldmd(0);
    lab.host(0).ldm(&["list"]).ok();
}

#[test]
fn lab_sweeps_the_namespaces_of_dead_test_processes() {
    // A namespace as a killed test process would leave it, with a process
    // still running inside. (A lab started in parallel by another test may
    // sweep it first: only the outcome is asserted.)
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = format!("{}{dead}-0-h0", netns::PREFIX);
    netns::add(&stale);
    let mut sleeper = netns::command(&stale, "sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // `ip netns exec` enters the namespace after the spawn returns; a sweep
    // before that would miss the process (it would live on outside any
    // named namespace), so wait until the namespace holds it.
    let inside = poll(Duration::from_secs(10), Duration::from_millis(20), || {
        netns::pids(&stale).contains(&sleeper.id()).then_some(())
    });
    if inside.is_none() {
        let _ = sleeper.kill();
        panic!("the process never entered the namespace {stale}");
    }
    let lab = Lab::start(LabOpts::hosts(1));
    assert!(
        !netns::list().contains(&stale),
        "the stale namespace {stale} survived"
    );
    let ended = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        sleeper.try_wait().unwrap()
    });
    if ended.is_none() {
        let _ = sleeper.kill();
        panic!("the process in the stale namespace still runs");
    }
    // The lab's own namespaces are not stale.
    assert_eq!(lab_namespaces(&lab).len(), 3);
}

#[test]
fn guest_lab_consoles_and_hold_points_work_in_namespaces() {
    let _lock = guest_lock();
    let lab = Lab::start(LabOpts::hosts(2).hold(0, "source-copying"));
    let (a, b) = (lab.host(0), lab.host(1));
    boot_domain(a, "ldg1", 1, "256M", "64,8");
    // The harness's console reads go through ldm's Unix socket ...
    let line = wait_for_memwork(a, "ldg1", 1, FIRST_LINE_TIMEOUT);
    assert_eq!(line.status, "OK");
    // ... and the console's TCP port is reachable inside the namespace.
    let port: u16 = domain(a, "ldg1")["cons"].parse().unwrap();
    let mut console = a.console_client(port);
    console.expect("memwork seq=", Duration::from_secs(30));
    // The source holds while QEMU copies, until released.
    let child = lab.spawn_migrate(0, 1, "ldg1", &[]);
    lab.wait_held(0, "source-copying", Duration::from_secs(60));
    let status = a.ldm(&["list", "-o", "status", "ldg1"]).ok().stdout.clone();
    assert!(status.contains("migration"), "{status}");
    lab.release(0, "source-copying");
    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(300));
    out.ok();
    assert!(!domains(a).contains_key("ldg1"));
    assert_eq!(domain(b, "ldg1")["state"], "active");
    let after = wait_for_memwork(b, "ldg1", line.seq + 2, Duration::from_secs(60));
    assert_eq!((after.errors, after.status.as_str()), (0, "OK"));
}

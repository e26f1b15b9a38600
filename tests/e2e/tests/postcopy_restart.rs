//! Post-copy across a restart of the source's ldmd: the new ldmd takes
//! the post-copy up from its stored state, reconnects and finishes the
//! move, with the guest's verifier OK (the post-copy itself and its cut
//! link are in `postcopy.rs`).

use ldm_e2e::*;
use std::time::Duration;

/// The link's rate from before the switch to the cut in the restart
/// test, kbit/s: slow enough that the post-copy outlasts the steps before
/// the cut, fast enough that what is queued before the device state
/// crosses well within the target's wait for it.
const RESTART_LINK_KBIT: u32 = 8_000;

/// The source's ldmd restarts (SIGTERM, then a new start) while the
/// post-copy waits for a cut link: it stops reconnecting when told to
/// stop, the new ldmd takes the post-copy up from its stored state and
/// reconnects, and once the link is back the move completes: the domain
/// only on the target, running, its memory intact.
#[test]
fn guest_postcopy_resumes_after_the_source_ldmd_restarts() {
    let _lock = guest_lock();
    let t0 = std::time::Instant::now();
    let at = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let mut lab = Lab::start(LabOpts::hosts(2).hold(0, "source-postcopy"));
    let (child, before) = postcopy_on_a_slow_link(&lab, &at);

    at("the guest runs on the target; cutting the link");
    lab.cut(1);
    for i in 0..2 {
        let host = lab.host(i);
        let paused = poll(Duration::from_secs(120), Duration::from_millis(500), || {
            let l = long_listing(host, "ldg1");
            let flags = domain(host, "ldg1")["flags"].clone();
            (l.contains("post-copy paused") && flags.ends_with('e')).then_some(l)
        });
        assert!(
            paused.is_some(),
            "host {i} does not show the paused post-copy:\n{}",
            long_listing(host, "ldg1")
        );
    }
    let a = lab.host(0);
    let trying = poll(Duration::from_secs(60), Duration::from_millis(500), || {
        long_listing(a, "ldg1")
            .contains("reconnecting (attempt")
            .then_some(())
    });
    assert!(trying.is_some(), "{}", long_listing(a, "ldg1"));

    // SIGTERM ends the reconnecting ldmd (within the harness's 15 s, exit
    // status 0), and a new one starts on the same root.
    at("restarting the source's ldmd");
    lab.host_mut(0).restart();
    at("the source's ldmd runs again");
    // The client of the move went with the old ldmd.
    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(60));
    eprintln!("migrate-domain:\n{}{}", out.stdout, out.stderr);
    assert_ne!(out.code, Some(0), "the client ended with success");

    // The new ldmd takes the post-copy up and reconnects; nothing is
    // lost meanwhile: the source copy stays, suspended with `e`.
    let a = lab.host(0);
    let retaken = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        let l = long_listing(a, "ldg1");
        let d = domain(a, "ldg1");
        (l.contains("reconnecting (attempt")
            && l.contains("ldmd restarted")
            && d["state"] == "suspended"
            && d["flags"].ends_with('e'))
        .then_some(l)
    });
    let Some(listing) = retaken else {
        panic!(
            "the restarted source does not reconnect:\n{}\n{}",
            long_listing(a, "ldg1"),
            tail_lines(&a.log(), 40)
        );
    };
    eprintln!("source after the restart:\n{listing}");
    let log = a.log();
    assert!(
        log.contains("ldmd restarted during a post-copy: taking it up again"),
        "{}",
        tail_lines(&log, 40)
    );
    // The relay died with the old ldmd: QEMU waits, paused.
    let status_line = qemu_after_restart(a);
    assert!(
        status_line.contains("postcopy-paused"),
        "QEMU after the restart: {status_line:?}"
    );

    at("restoring the link");
    lab.restore(1);
    lab.unslow(1);
    let (a, b) = (lab.host(0), lab.host(1));
    let done = poll(Duration::from_secs(600), Duration::from_millis(500), || {
        let d = domain(b, "ldg1");
        (!domains(a).contains_key("ldg1") && d["state"] == "active" && d["flags"] == "-n----")
            .then_some(d)
    });
    for i in 0..2 {
        let log = lab.host(i).log();
        let steps: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("post-copy") || l.contains("recover") || l.contains("restart"))
            .collect();
        eprintln!("host {i}'s ldmd on post-copy:\n{}", steps.join("\n"));
    }
    assert!(
        done.is_some(),
        "the move did not complete after the restart:\nsource:\n{}\ntarget:\n{}",
        long_listing(a, "ldg1"),
        long_listing(b, "ldg1")
    );
    at("the move completed");
    let after = wait_for_memwork(b, "ldg1", before.seq + 3, Duration::from_secs(120));
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
}

/// Boots ldg1 on host 0 and moves it to host 1 with `--postcopy=always`
/// over a link slowed before the switch; returns the move's client and
/// the guest's verifier before the move, once the target's QEMU loaded
/// the device state and its ldmd runs the guest.
fn postcopy_on_a_slow_link(lab: &Lab, at: &dyn Fn(&str)) -> (std::process::Child, MemworkLine) {
    boot_domain(lab.host(0), "ldg1", 1, "512M", "256,200");
    let before = wait_for_memwork(lab.host(0), "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!((before.errors, before.status.as_str()), (0, "OK"));

    let child = lab.spawn_postcopy();
    lab.wait_held(0, "source-postcopy", Duration::from_secs(300));
    // QEMU goes on copying while the switch is held, now through a slow
    // link: the guest dirties more than crosses, so the post-copy has
    // plenty left.
    lab.slow(1, RESTART_LINK_KBIT);
    std::thread::sleep(Duration::from_secs(3));
    at("switching to post-copy");
    lab.release(0, "source-postcopy");
    lab.disarm_holds(0);
    let b = lab.host(1);
    // The target lists its copy active only once its guest runs there
    // (after `cont`, or after a recovery if `cont` came too late).
    let running = poll(Duration::from_secs(90), Duration::from_millis(200), || {
        let d = domain(b, "ldg1");
        (d["state"] == "active" && d["flags"].ends_with('t')).then_some(d)
    });
    assert!(
        running.is_some(),
        "the guest never ran on the target in post-copy:\n{}",
        long_listing(b, "ldg1")
    );
    (child, before)
}

/// The state of the source's QEMU the restarted ldmd found, from its log.
fn qemu_after_restart(host: &Host) -> String {
    host.log()
        .lines()
        .rfind(|l| l.contains("the source's QEMU after the restart"))
        .unwrap_or_default()
        .to_string()
}

/// The source's ldmd restarts while the post-copy runs: its relay dies
/// with it, so the source's QEMU pauses the post-copy (as the new ldmd
/// finds it); the new ldmd takes it up at once, reconnects, and the move
/// completes with the guest's memory intact.
#[test]
fn guest_postcopy_resumes_after_a_source_ldmd_restart_mid_copy() {
    let _lock = guest_lock();
    let t0 = std::time::Instant::now();
    let at = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let mut lab = Lab::start(LabOpts::hosts(2).hold(0, "source-postcopy"));
    let (child, before) = postcopy_on_a_slow_link(&lab, &at);
    at("the guest runs on the target; restarting the source's ldmd");
    lab.host_mut(0).restart();
    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(60));
    eprintln!("migrate-domain:\n{}{}", out.stdout, out.stderr);
    assert_ne!(out.code, Some(0), "the client ended with success");
    let a = lab.host(0);
    let found = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        Some(qemu_after_restart(a)).filter(|l| !l.is_empty())
    });
    assert!(
        found
            .as_deref()
            .is_some_and(|l| l.contains("postcopy-paused")),
        "QEMU after the restart: {found:?}\n{}",
        tail_lines(&a.log(), 40)
    );
    lab.unslow(1);
    let (a, b) = (lab.host(0), lab.host(1));
    let done = poll(Duration::from_secs(600), Duration::from_millis(500), || {
        let d = domain(b, "ldg1");
        (!domains(a).contains_key("ldg1") && d["state"] == "active" && d["flags"] == "-n----")
            .then_some(d)
    });
    for i in 0..2 {
        let log = lab.host(i).log();
        let steps: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("post-copy") || l.contains("recover") || l.contains("restart"))
            .collect();
        eprintln!("host {i}'s ldmd on post-copy:\n{}", steps.join("\n"));
    }
    assert!(
        done.is_some(),
        "the move did not complete after the restart:\nsource:\n{}\ntarget:\n{}",
        long_listing(a, "ldg1"),
        long_listing(b, "ldg1")
    );
    at("the move completed");
    let after = wait_for_memwork(b, "ldg1", before.seq + 3, Duration::from_secs(120));
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
}

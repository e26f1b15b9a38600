//! Post-copy through ldm's encrypted relays, between two hosts of the
//! network lab: a busy guest moved with `--postcopy=always` runs on the
//! target while the rest of its memory follows, and its own verifier
//! (memwork) stays OK.

use ldm_e2e::*;
use std::time::Duration;

#[test]
fn guest_postcopy_always_moves_a_busy_guest() {
    let _lock = guest_lock();
    let lab = Lab::start(LabOpts::hosts(2));
    let (a, b) = (lab.host(0), lab.host(1));
    // 256 MiB rewritten at 200 MiB/s: every pass finds most of it dirty.
    boot_domain(a, "ldg1", 1, "512M", "256,200");
    let before = wait_for_memwork(a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!((before.errors, before.status.as_str()), (0, "OK"));

    let out = lab.migrate(0, 1, "ldg1", &["--postcopy=always", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("--json output");
    eprintln!("the move: {v}");
    let postcopy_ms = v["postcopy_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("the move did not switch to post-copy: {v}"));
    assert!(postcopy_ms > 0, "{v}");
    // Switched after the first pass (pass 2 begins it, QEMU's switch adds
    // one), not whenever the next statistics came: a pre-copy on a fast
    // host can finish before that.
    let passes = v["passes"].as_u64().expect("passes");
    assert!(passes <= 4, "switched late, after {passes} passes: {v}");
    assert_eq!(v["channels"], 1, "post-copy runs on the main channel: {v}");

    assert!(!domains(a).contains_key("ldg1"), "the source kept a copy");
    assert_eq!(domain(b, "ldg1")["state"], "active");
    // The guest's verifier, across the move: no page lost or stale.
    let after = wait_for_memwork(b, "ldg1", before.seq + 3, Duration::from_secs(60));
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
}

/// The link's rate from the switch to the cut, kbit/s.
const CUT_LINK_KBIT: u32 = 2_000;

/// The link to the target is cut during post-copy: both QEMUs pause, both
/// hosts say so, and once the link is back the source reconnects, the
/// post-copy resumes where it stopped, and the move completes with the
/// guest's memory intact.
#[test]
fn guest_postcopy_survives_a_cut_link() {
    let _lock = guest_lock();
    let t0 = std::time::Instant::now();
    let at = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let lab = Lab::start(LabOpts::hosts(2).hold(0, "source-postcopy"));
    let (a, b) = (lab.host(0), lab.host(1));
    boot_domain(a, "ldg1", 1, "512M", "256,200");
    let before = wait_for_memwork(a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!((before.errors, before.status.as_str()), (0, "OK"));

    let child = lab.spawn_postcopy();
    // Pre-copy's first pass is over; before the switch the link slows, so
    // the post-copy lasts long enough to be cut: QEMU goes on copying while
    // the switch is held, and as little as 11 MiB was seen left at the
    // switch, which 2 Mbit/s carry in about 45 s.
    lab.wait_held(0, "source-postcopy", Duration::from_secs(300));
    at("switching to post-copy");
    lab.slow(1, CUT_LINK_KBIT);
    lab.release(0, "source-postcopy");
    lab.disarm_holds(0);
    // The guest runs on the target while its memory follows. Not before:
    // the target lists its copy `active` only once its QEMU holds the
    // device state and runs the guest (a link lost earlier cannot be
    // recovered by QEMU; docs/protocol.md, "The switch window").
    let running = poll(Duration::from_secs(60), Duration::from_millis(200), || {
        let d = domain(b, "ldg1");
        (d["state"] == "active" && d["flags"].ends_with('t')).then_some(d)
    });
    assert!(
        running.is_some(),
        "the target never listed the guest active in post-copy:\n{}",
        long_listing(b, "ldg1")
    );
    assert!(
        long_listing(a, "ldg1").contains("the guest runs there"),
        "{}",
        long_listing(a, "ldg1")
    );

    at("the guest runs on the target; cutting the link");
    lab.cut(1);
    // Both sides notice, pause their QEMU and say so.
    for (i, host) in [(0, a), (1, b)] {
        let paused = poll(Duration::from_secs(120), Duration::from_millis(500), || {
            let l = long_listing(host, "ldg1");
            let flags = domain(host, "ldg1")["flags"].clone();
            (l.contains("post-copy paused") && flags.ends_with('e')).then_some(l)
        });
        let Some(listing) = paused else {
            panic!(
                "host {i} does not show the paused post-copy:\n{}",
                long_listing(host, "ldg1")
            );
        };
        at(&format!("host {i} shows the pause"));
        eprintln!("host {i} while the link is cut:\n{listing}");
    }
    // The source keeps trying, and says so.
    let trying = poll(Duration::from_secs(60), Duration::from_millis(500), || {
        let l = long_listing(a, "ldg1");
        l.contains("reconnecting (attempt").then_some(l)
    });
    assert!(trying.is_some(), "{}", long_listing(a, "ldg1"));
    std::thread::sleep(Duration::from_secs(5));
    at("restoring the link");
    lab.restore(1);
    lab.unslow(1);

    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(600));
    at("migrate-domain ended");
    eprintln!("migrate-domain:\n{}{}", out.stdout, out.stderr);
    for i in 0..2 {
        let log = lab.host(i).log();
        let steps: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("post-copy") || l.contains("recover"))
            .collect();
        eprintln!("host {i}'s ldmd on post-copy:\n{}", steps.join("\n"));
    }
    out.ok();
    assert!(
        out.stderr.contains("reconnecting") && out.stderr.contains("post-copy resumed"),
        "{}",
        out.stderr
    );
    assert!(!domains(a).contains_key("ldg1"), "the source kept a copy");
    let d = domain(b, "ldg1");
    assert_eq!(
        (d["state"].as_str(), d["flags"].as_str()),
        ("active", "-n----")
    );
    let after = wait_for_memwork(b, "ldg1", before.seq + 3, Duration::from_secs(120));
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
}

/// The memwork lines of `name`'s boot after `previous`, once one with
/// `seq >= min_seq` is there.
#[track_caller]
fn next_boot_reaches(host: &Host, name: &str, previous: &MemworkLine, min_seq: u64) -> MemworkLine {
    let found = poll(FIRST_LINE_TIMEOUT, Duration::from_millis(500), || {
        lines_of_next_boot(&console_dump(host, name), previous)
            .and_then(|v| v.last().cloned())
            .filter(|l| l.seq >= min_seq)
    });
    found.unwrap_or_else(|| {
        panic!(
            "{name} printed no memwork line with seq >= {min_seq} after its restart:\n{}",
            tail_lines(&console_dump(host, name), 40)
        )
    })
}

/// The switch window (docs/protocol.md): the link is cut once the source's
/// QEMU switched to post-copy and before `Postcopy` reaches the target. The
/// target, never told, rolls back when the source falls silent; the
/// source's QEMU cannot resume a switched guest. Once the link is back the
/// source learns the target's outcome, ends the move with a note that says
/// what was lost and what to do, and releases the domain: `stop-domain -f`
/// and `start-domain` bring the guest back here, memwork OK.
#[test]
fn guest_postcopy_lost_in_the_switch_restarts_on_the_source() {
    let _lock = guest_lock();
    let t0 = std::time::Instant::now();
    let at = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let lab = Lab::start(
        LabOpts::hosts(2)
            .hold(0, "source-postcopy")
            .hold(0, "source-postcopy-switched"),
    );
    let (a, b) = (lab.host(0), lab.host(1));
    boot_domain(a, "ldg1", 1, "512M", "256,200");
    let before = wait_for_memwork(a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!((before.errors, before.status.as_str()), (0, "OK"));

    let child = lab.spawn_postcopy();
    // A slow link from the switch on: the device state crosses in a few
    // seconds, the rest of the memory would take minutes, so the post-copy
    // is still under way when the link goes (on a fast one QEMU completes
    // it within a second of the switch).
    lab.wait_held(0, "source-postcopy", Duration::from_secs(300));
    lab.slow(1, CUT_LINK_KBIT);
    lab.release(0, "source-postcopy");
    lab.wait_held(0, "source-postcopy-switched", Duration::from_secs(60));
    // QEMU accepted the switch: its migration thread stops the guest and
    // sends the device state. `Postcopy` waits at the hold meanwhile.
    std::thread::sleep(Duration::from_secs(8));
    at("QEMU switched; cutting the link before Postcopy leaves");
    lab.cut(1);
    lab.release(0, "source-postcopy-switched");
    lab.disarm_holds(0);

    // The target never hears `Postcopy`: its source falls silent and it
    // rolls back, its copy gone.
    let gone = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        (!domains(b).contains_key("ldg1")).then_some(())
    });
    assert!(
        gone.is_some(),
        "the target kept its copy:\n{}",
        long_listing(b, "ldg1")
    );
    at("the target rolled back");
    // The source paused its post-copy and tries to reconnect.
    let paused = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        long_listing(a, "ldg1")
            .contains("post-copy paused")
            .then_some(())
    });
    assert!(paused.is_some(), "{}", long_listing(a, "ldg1"));
    at("the source shows the pause; restoring the link");
    lab.restore(1);
    lab.unslow(1);

    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(300));
    at("migrate-domain ended");
    eprintln!("migrate-domain:\n{}{}", out.stdout, out.stderr);
    for i in 0..2 {
        let log = lab.host(i).log();
        let steps: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("post-copy") || l.contains("switch") || l.contains("rolled"))
            .collect();
        eprintln!("host {i}'s ldmd on post-copy:\n{}", steps.join("\n"));
    }
    out.fails();
    assert!(
        out.stderr.contains("post-copy lost in the switch")
            && out.stderr.contains("the guest's running state is lost"),
        "{}",
        out.stderr
    );
    lost_then_restarted(a, b);
}

/// What a source lost in the switch shows, and the restart its note asks
/// for: `suspended`, `e`, the note; `stop-domain -f` and `start-domain`
/// bring the guest back, memwork OK; nothing on the target.
#[track_caller]
fn lost_then_restarted(a: &Host, b: &Host) {
    assert!(!domains(b).contains_key("ldg1"), "the target has a copy");
    let d = domain(a, "ldg1");
    assert_eq!(d["state"], "suspended", "{d:?}");
    assert!(d["flags"].ends_with('e'), "{d:?}");
    let note = long_listing(a, "ldg1");
    assert!(
        note.contains("post-copy lost in the switch")
            && note.contains("ldm stop-domain -f ldg1")
            && note.contains("ldm start-domain ldg1"),
        "{note}"
    );
    let last = last_memwork(&console_dump(a, "ldg1")).expect("memwork lines before the move");
    a.ldm(&["stop-domain", "-f", "ldg1"]).ok();
    assert_eq!(domain(a, "ldg1")["state"], "bound");
    a.ldm(&["start-domain", "ldg1"]).ok();
    let after = next_boot_reaches(a, "ldg1", &last, 3);
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
    let d = domain(a, "ldg1");
    assert_eq!(
        (d["state"].as_str(), d["flags"].as_str()),
        ("active", "-n----")
    );
    assert!(!domains(b).contains_key("ldg1"), "the target has a copy");
}

/// The link cut while the source waits to switch (post-copy recorded,
/// QEMU not asked yet). What QEMU then does depends on its socket buffers:
/// if its device state still fits in them it completes the switch, else
/// its migration thread stays held in the write, the switch fails once ldm
/// closes the relays, and QEMU runs the guest again. The target, never
/// told, rolls back either way; once the link is back the source asks its
/// QEMU and says which happened: the guest runs on here (memwork OK, the
/// move failed), or it was lost in the switch (the note, then the restart
/// it asks for).
#[test]
fn guest_postcopy_cut_before_the_switch_runs_on_the_source() {
    let _lock = guest_lock();
    let t0 = std::time::Instant::now();
    let at = |what: &str| eprintln!("[{:6.1} s] {what}", t0.elapsed().as_secs_f64());
    let lab = Lab::start(LabOpts::hosts(2).hold(0, "source-postcopy"));
    let (a, b) = (lab.host(0), lab.host(1));
    boot_domain(a, "ldg1", 1, "512M", "256,200");
    let before = wait_for_memwork(a, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!((before.errors, before.status.as_str()), (0, "OK"));

    // Not a plain `--postcopy=always`: QEMU goes on copying while the
    // switch is held, and on a fast host it completed the pre-copy then
    // (a CI failure), the target holding the whole guest.
    let child = lab.spawn_postcopy();
    lab.wait_held(0, "source-postcopy", Duration::from_secs(300));
    at("cutting the link before the switch");
    lab.cut(1);
    lab.release(0, "source-postcopy");
    lab.disarm_holds(0);
    let gone = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        (!domains(b).contains_key("ldg1")).then_some(())
    });
    assert!(
        gone.is_some(),
        "the target kept its copy:\n{}",
        long_listing(b, "ldg1")
    );
    let paused = poll(Duration::from_secs(120), Duration::from_millis(500), || {
        long_listing(a, "ldg1")
            .contains("post-copy paused")
            .then_some(())
    });
    assert!(paused.is_some(), "{}", long_listing(a, "ldg1"));
    at("restoring the link");
    lab.restore(1);

    let out = output::finish("ldm migrate-domain".into(), child, Duration::from_secs(300));
    at("migrate-domain ended");
    eprintln!("migrate-domain:\n{}{}", out.stdout, out.stderr);
    let log = a.log();
    let steps: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("post-copy") || l.contains("switch") || l.contains("QEMU says"))
        .collect();
    eprintln!("the source's ldmd on post-copy:\n{}", steps.join("\n"));
    out.fails();
    if out.stderr.contains("post-copy lost in the switch") {
        at("QEMU had switched: lost in the switch");
        lost_then_restarted(a, b);
        return;
    }
    assert!(
        out.stderr.contains("before QEMU switched to post-copy")
            && out.stderr.contains("keeps running here"),
        "{}",
        out.stderr
    );
    at("QEMU never switched: the guest runs on here");
    assert!(!domains(b).contains_key("ldg1"), "the target has a copy");
    let d = domain(a, "ldg1");
    assert_eq!(
        (d["state"].as_str(), d["flags"].as_str()),
        ("active", "-n----")
    );
    let after = wait_for_memwork(a, "ldg1", before.seq + 3, Duration::from_secs(120));
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );
}

//! `ldm evacuate` with the real programs: six running guests on one host
//! moved to three targets of different sizes, each guest's memwork the
//! judge; and the real command interrupted with SIGINT.

use ldm_e2e::fleet::{parse_plan, parse_table, Fleet, TableRow};
use ldm_e2e::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The domains that can move; `pinned` cannot (its disk is on a volume
/// only the source exports).
const MOVERS: [&str; 5] = ["ev1", "ev2", "ev3", "ev4", "ev5"];

fn target(memory: &str) -> HostOpts {
    HostOpts::default().vcpus(8).memory(memory)
}

fn row<'a>(rows: &'a [TableRow], name: &str) -> &'a TableRow {
    rows.iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
}

/// Asserts `name` runs on `host` with memwork OK and going on past `after`.
#[track_caller]
fn assert_memwork_goes_on(host: &Host, name: &str, after: &MemworkLine) {
    let line = wait_for_memwork(host, name, after.seq + 2, Duration::from_secs(90));
    assert_eq!((line.errors, line.status.as_str()), (0, "OK"), "{line:?}");
    assert!(line.gen > after.gen, "{name}: {after:?} -> {line:?}");
    assert_eq!(domain(host, name)["state"], "active");
}

#[test]
fn guest_evacuate_moves_five_running_guests_within_room_and_keeps_the_unmovable() {
    let _lock = guest_lock();
    // Room for 2, 2 and 1 domains of 128 MiB: exactly the five movers.
    let rooms = [2usize, 2, 1];
    let f = Fleet::start(
        HostOpts::default().vcpus(8).memory("2G"),
        vec![target("256M"), target("256M"), target("128M")],
    );
    let image = f.src.root().join("local.img");
    disks::sparse_image(&image, 16);
    define_domain(&f.src, "pinned", 1, "128M", "16,2");
    disks::give_disk(&f.src, &image, "vol1", "vdisk1", "pinned");
    f.src.ldm(&["bind-domain", "pinned"]).ok();
    f.src.ldm(&["start-domain", "pinned"]).ok();
    for d in MOVERS {
        boot_domain(&f.src, d, 1, "128M", "16,2");
    }
    let mut before = BTreeMap::new();
    for d in MOVERS.iter().chain(&["pinned"]) {
        before.insert(*d, wait_for_memwork(&f.src, d, 2, Duration::from_secs(180)));
    }

    // The dry run: a plan within each target's room, pinned fits nowhere
    // and every target says why; nothing changes.
    let hosts: Vec<&Host> = std::iter::once(&f.src).chain(&f.targets).collect();
    let snap: Vec<String> = hosts.iter().map(|h| snapshot(h)).collect();
    let out = f.evacuate(&["-n"]);
    assert_eq!(out.code, Some(1), "pinned fits nowhere: {out:?}");
    let plan = parse_plan(&out.stdout);
    assert_eq!(plan.len(), 6, "{}", out.stdout);
    let mut planned = [0usize; 3];
    for p in &plan {
        match (&p.target, p.name.as_str()) {
            (None, "pinned") => {}
            (Some(t), _) => planned[f.target_index(t).expect("a known target")] += 1,
            (None, other) => panic!("{other} fits nowhere:\n{}", out.stdout),
        }
    }
    assert_eq!(planned, rooms, "{}", out.stdout);
    out.stdout_has("pinned fits on no target:");
    for t in &f.targets {
        // The targets have no disk service at all: each says so.
        let from = format!("{}: ", t.listen_addr().unwrap());
        assert!(
            out.stdout.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with(&from) && l.contains("vol1@primary-vds0")
            }),
            "no reason about vol1 from {from:?}:\n{}",
            out.stdout
        );
    }
    let after: Vec<String> = hosts.iter().map(|h| snapshot(h)).collect();
    assert_eq!(after, snap, "the dry run changed something");

    // The evacuation, two at a time.
    let out = f.evacuate(&["--max-parallel", "2"]);
    assert_eq!(out.code, Some(1), "pinned stays: {out:?}");
    let rows = parse_table(&out.stdout);
    assert_eq!(rows.len(), 6, "{}", out.stdout);
    for d in MOVERS {
        let r = row(&rows, d);
        assert_eq!(r.outcome, "moved", "{}", out.stdout);
        assert!(r.downtime.ends_with("ms") && r.time.ends_with('s'), "{r:?}");
    }
    assert_eq!(row(&rows, "pinned").outcome, "not-started");
    let left: Vec<String> = domains(&f.src)
        .into_keys()
        .filter(|d| d != "primary")
        .collect();
    assert_eq!(left, ["pinned"], "only pinned stays on the source");
    let mut held = [0usize; 3];
    for d in MOVERS {
        let t = f.holder(d).unwrap_or_else(|| panic!("{d} is on no target"));
        held[t] += 1;
        assert_eq!(
            row(&rows, d).target,
            f.targets[t].listen_addr().unwrap(),
            "{d} is where the table says"
        );
        assert_memwork_goes_on(&f.targets[t], d, &before[d]);
    }
    assert_eq!(held, rooms, "each target holds what it has room for");
    assert_memwork_goes_on(&f.src, "pinned", &before["pinned"]);
}

/// Releases the source's hold at `source-checked` every 20 ms until
/// `done` (a move may reach the point after the first was let go).
fn keep_releasing(held: PathBuf, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            let _ = std::fs::remove_file(&held);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Starts `ldm evacuate --max-parallel 1`, sends it `sigints` SIGINTs
/// while its first move is held after its checks, then lets the moves go
/// on; returns what the command printed.
fn interrupted(f: &Fleet, holds: &Path, sigints: usize) -> Output {
    let held = holds.join("held-source-checked");
    let child = f.spawn_evacuate(&["--max-parallel", "1"]);
    poll(Duration::from_secs(120), Duration::from_millis(20), || {
        held.exists().then_some(())
    })
    .expect("the first move reaches its hold");
    for _ in 0..sigints {
        assert!(procs::signal(child.id(), libc::SIGINT), "SIGINT delivered");
        std::thread::sleep(Duration::from_millis(300));
    }
    if sigints > 1 {
        // The cancel reaches the source while the move is held (it
        // answers only once the move ended).
        std::thread::sleep(Duration::from_secs(2));
    }
    let done = Arc::new(AtomicBool::new(false));
    let releaser = keep_releasing(held, done.clone());
    let out = output::finish("ldm evacuate".into(), child, Duration::from_secs(300));
    done.store(true, Ordering::SeqCst);
    releaser.join().unwrap();
    out
}

#[test]
fn sigint_stops_new_moves_a_second_cancels_and_a_rerun_moves_the_rest() {
    let holds = tempfile::tempdir().unwrap();
    let f = Fleet::start(
        HostOpts::default()
            .vcpus(8)
            .memory("4G")
            .env("LDMD_TEST_HOLD", "source-checked")
            .env("LDMD_TEST_HOLD_DIR", holds.path().to_str().unwrap()),
        vec![target("4G"), target("4G")],
    );
    let names = ["b1", "b2", "b3"];
    for d in names {
        define_domain(&f.src, d, 1, "128M", "16,2");
        f.src.ldm(&["bind-domain", d]).ok();
    }
    let on_source = |d: &str| domains(&f.src).get(d).map(|r| r["state"].clone());

    // Ctrl-C twice: the running move is cancelled and stays; no other starts.
    let out = interrupted(&f, holds.path(), 2);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("Ctrl-C again cancels"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("cancelling the running ones: b1"),
        "{}",
        out.stderr
    );
    let rows = parse_table(&out.stdout);
    assert_eq!(row(&rows, "b1").outcome, "cancelled", "{}", out.stdout);
    for d in ["b2", "b3"] {
        assert_eq!(row(&rows, d).outcome, "not-started", "{}", out.stdout);
    }
    for d in names {
        assert_eq!(on_source(d).as_deref(), Some("bound"), "{d}");
        assert_eq!(f.holder(d), None, "{d} is on a target");
    }

    // Ctrl-C once: the running move finishes; no other starts.
    let out = interrupted(&f, holds.path(), 1);
    assert_eq!(out.code, Some(1), "{out:?}");
    let rows = parse_table(&out.stdout);
    assert_eq!(row(&rows, "b1").outcome, "moved", "{}", out.stdout);
    assert!(f.holder("b1").is_some() && on_source("b1").is_none());
    for d in ["b2", "b3"] {
        assert_eq!(row(&rows, d).outcome, "not-started", "{}", out.stdout);
        assert_eq!(on_source(d).as_deref(), Some("bound"), "{d}");
    }

    // Re-run without holds: it moves what is left, exit 0.
    std::fs::remove_dir_all(holds.path()).unwrap();
    let out = f.evacuate(&[]);
    out.ok();
    let rows = parse_table(&out.stdout);
    assert_eq!(rows.len(), 2, "only b2 and b3 were left: {}", out.stdout);
    for d in names {
        assert!(f.holder(d).is_some(), "{d} is on a target");
        assert_eq!(on_source(d), None);
    }
}

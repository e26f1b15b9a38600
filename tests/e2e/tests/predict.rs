//! The dry run of a running domain predicts its move: what it measured
//! (memory, dirty rate, the link, the target's first touch) and what it expects (time, pause,
//! passes), in text and in `--json`, and nothing changes. The copy it
//! says the move would run is the one the move runs.

use ldm_e2e::*;
use std::os::unix::fs::PermissionsExt;

/// The number before `unit` in `line`, after `after`.
fn number(line: &str, after: &str, unit: &str) -> f64 {
    let rest = &line[line
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {line}"))
        + after.len()..];
    let n = rest.split(unit).next().unwrap().trim();
    n.parse().unwrap_or_else(|_| panic!("{n:?} in {line}"))
}

#[test]
fn guest_dry_run_predicts_the_move_of_a_running_domain() {
    let _lock = guest_lock();
    let a = Host::start(HostOpts::default().listen("127.0.0.1").hostname("hostA"));
    let b = Host::start(HostOpts::default().listen("127.0.0.2").hostname("hostB"));
    let pw = a.root().join("pw");
    std::fs::write(&pw, "s3cret-pass\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pw = pw.to_str().unwrap().to_string();
    for h in [&a, &b] {
        h.ldm(&["add-user", "-p", &pw, "admin"]).ok();
    }
    a.ldm(&["add-trust", b.listen_addr().unwrap()]).ok();
    let target = format!("admin@{}", b.listen_addr().unwrap());
    // A 512 MiB guest rewriting a 64 MiB working set at 32 MiB/s.
    boot_domain(&a, "ldg1", 1, "512M", "64,32");
    wait_for_memwork(&a, "ldg1", 3, FIRST_LINE_TIMEOUT);

    let before = (snapshot(&a), snapshot(&b));
    let out = a.ldm(&["migrate-domain", "-n", "-p", &pw, "ldg1", &target]);
    out.ok();
    eprintln!("{}", out.stdout);
    assert!(out.stdout.contains("would succeed"), "{}", out.stdout);
    let memory = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Memory: "))
        .unwrap_or_else(|| panic!("no Memory line: {}", out.stdout));
    assert!(memory.starts_with("Memory: 512 MiB, about "), "{memory}");
    // What has to cross holds at least the working set and at most the
    // guest's memory.
    let to_send = number(memory, "about ", "MiB to send");
    assert!((64.0..=512.0).contains(&to_send), "{memory}");
    let dirty = number(memory, "dirtying ", "MiB/s");
    assert!(dirty <= 512.0, "{memory}");
    assert!(memory.contains("(measured)"), "{memory}");
    // This host never moved a domain: the copy's rate is the slower of
    // the link and the target's first touch, and the line says so.
    let touch = number(memory, "the target's first touch ", "MiB/s");
    assert!(touch > 0.0, "{memory}");
    let link = number(memory, "; link ", "MiB/s");
    assert_eq!(
        number(memory, ": copy at ~", "MiB/s"),
        link.min(touch),
        "{memory}"
    );
    let predicted = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Predicted: "))
        .unwrap_or_else(|| panic!("no Predicted line: {}", out.stdout));
    assert!(
        number(predicted, "Predicted: ", " s total") > 0.0,
        "{predicted}"
    );
    assert!(predicted.contains("pause about "), "{predicted}");
    assert!(predicted.contains("passes"), "{predicted}");

    // The same figures in --json, with the cap and downtime target given.
    let out = a.ldm(&[
        "migrate-domain",
        "-n",
        "--json",
        "--max-bandwidth",
        "100",
        "--downtime-limit",
        "50",
        "-p",
        &pw,
        "ldg1",
        &target,
    ]);
    out.ok();
    eprintln!("{}", out.stdout);
    let json = &out.stdout[out.stdout.find('{').unwrap()..out.stdout.rfind('}').unwrap() + 1];
    let v: serde_json::Value = serde_json::from_str(json).expect("--json output");
    let m = &v["memory"];
    assert_eq!(m["memory_mib"], 512, "{m}");
    assert!(m["to_send_mib"].as_u64().unwrap() <= 512, "{m}");
    assert_eq!(m["link_source"], "measured", "{m}");
    assert!(
        m["first_touch_mib_s"].as_u64().is_some_and(|t| t > 0),
        "{m}"
    );
    assert_eq!(m["cap_mib_s"], 100, "{m}");
    assert_eq!(m["downtime_limit_ms"], 50, "{m}");
    assert!(m["passes"].as_u64().unwrap() >= 2, "{m}");
    assert!(
        m["sent_mib"].as_u64().unwrap() >= m["to_send_mib"].as_u64().unwrap(),
        "{m}"
    );
    assert_eq!(
        (snapshot(&a), snapshot(&b)),
        before,
        "a dry run changed something"
    );

    // The copy the move would run: a guest this quiet converges on the
    // multifd channels, so `auto` keeps them.
    let copy = out_copy_line(&a, &pw, &target);
    assert!(copy.starts_with("Copy: pre-copy on "), "{copy}");
    assert!(copy.contains("pre-copy is predicted to converge"), "{copy}");

    // And the move makes the same choice: multifd, its channels in the
    // summary, the guest's verifier OK on the target.
    let out = a.ldm(&["migrate-domain", "--json", "-p", &pw, "ldg1", &target]);
    out.ok();
    eprintln!("{}", out.stdout);
    let json = &out.stdout[out.stdout.find('{').unwrap()..out.stdout.rfind('}').unwrap() + 1];
    let v: serde_json::Value = serde_json::from_str(json).expect("--json output");
    assert_eq!(v["choice"]["kind"], "multifd", "{v}");
    assert_eq!(v["channels"], v["choice"]["channels"], "{v}");
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert!(v["channels"].as_u64().unwrap() >= 2, "{v}");
    }
    assert!(v["postcopy_ms"].is_null(), "{v}");
    let after = wait_for_memwork(&b, "ldg1", 3, FIRST_LINE_TIMEOUT);
    assert_eq!(
        (after.errors, after.status.as_str()),
        (0, "OK"),
        "{after:?}"
    );

    // A bound domain moves cold: no prediction, no choice.
    b.ldm(&["stop-domain", "ldg1"]).ok();
    b.ldm(&["add-trust", a.listen_addr().unwrap()]).ok();
    let back = format!("admin@{}", a.listen_addr().unwrap());
    let out = b.ldm(&["migrate-domain", "-n", "-p", &pw, "ldg1", &back]);
    out.ok();
    assert!(!out.stdout.contains("Predicted"), "{}", out.stdout);
    assert!(!out.stdout.contains("Copy: "), "{}", out.stdout);
}

/// The dry run's `Copy:` line.
fn out_copy_line(a: &Host, pw: &str, target: &str) -> String {
    let out = a.ldm(&["migrate-domain", "-n", "-p", pw, "ldg1", target]);
    out.ok();
    out.stdout
        .lines()
        .find(|l| l.starts_with("Copy: "))
        .unwrap_or_else(|| panic!("no Copy line: {}", out.stdout))
        .to_string()
}

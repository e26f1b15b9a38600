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
    let postcopy_ms = v["postcopy_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("the move did not switch to post-copy: {v}"));
    assert!(postcopy_ms > 0, "{v}");
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

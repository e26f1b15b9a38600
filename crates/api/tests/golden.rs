//! Golden files pin the local API's JSON: every request, reply, event and
//! error as ldm and ldmd write them. A change that alters a format fails
//! here; if it is meant, re-bless the files on purpose with
//!
//! ```sh
//! LDM_BLESS=1 cargo test -p ldm-api --test golden
//! ```
//!
//! and review the diff of `tests/golden/` in the commit. A change that a
//! client of the previous release could not read (a removed or renamed
//! field, request or reply) must also raise `LOCAL_API_VERSION`: the files
//! hold the previous release's forms, and each must still parse.

mod samples;

use ldm_api::migration::{MigrateRequest, Phase, Progress};
use ldm_api::*;
use samples::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::PathBuf;

fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind)
}

/// Compares `value`'s JSON with `golden/KIND/NAME.json` (or writes it when
/// blessing), and parses the file back into `value`.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(kind: &str, name: &str, value: &T) {
    let path = dir(kind).join(format!("{name}.json"));
    let actual = serde_json::to_value(value).unwrap();
    if std::env::var_os("LDM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; a new message needs its golden file: LDM_BLESS=1 cargo test -p ldm-api --test golden",
            path.display()
        )
    });
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        actual,
        expected,
        "the JSON of {kind}/{name} changed. If that is meant, re-bless (LDM_BLESS=1 cargo test -p ldm-api --test golden) and raise LOCAL_API_VERSION if the previous release cannot read it"
    );
    let parsed: T = serde_json::from_value(expected)
        .unwrap_or_else(|e| panic!("{kind}/{name}: the golden form no longer parses ({e})"));
    assert_eq!(&parsed, value, "{kind}/{name} parses into something else");
}

/// Every file in `golden/KIND` is one of `names` (no stale files).
fn no_stale(kind: &str, names: &BTreeSet<String>) {
    if std::env::var_os("LDM_BLESS").is_some() {
        return;
    }
    for e in std::fs::read_dir(dir(kind)).unwrap() {
        let f = e.unwrap().file_name().to_string_lossy().into_owned();
        let stem = f.trim_end_matches(".json");
        assert!(
            names.contains(stem),
            "golden/{kind}/{f} is not checked by any sample: remove it"
        );
    }
}

#[test]
fn requests_are_pinned() {
    let mut names = BTreeSet::new();
    for r in requests() {
        let v = serde_json::to_value(&r).unwrap();
        let op = v["op"].as_str().unwrap().to_string();
        check("request", &op, &r);
        names.insert(op);
    }
    for (name, r) in request_variants() {
        check("request", name, &r);
        names.insert(name.into());
    }
    // Each with the version, as ldm sends it.
    let line = ldm_api::wire::encode_request(&Request::Host).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    check("request", "envelope", &v);
    names.insert("envelope".into());
    // A storage migration carries two more fields.
    let copy = Request::Migrate(MigrateRequest {
        copy_storage: true,
        overwrite_storage: true,
        ..migrate_request()
    });
    check("request", "migrate-copy-storage", &copy);
    names.insert("migrate-copy-storage".into());
    // `--postcopy` other than the default `auto`.
    let always = Request::Migrate(MigrateRequest {
        postcopy: ldm_api::migration::PostcopyMode::Always,
        ..migrate_request()
    });
    check("request", "migrate-postcopy", &always);
    names.insert("migrate-postcopy".into());
    // Fields added in this release, left out when unset so the forms above
    // stay as the previous release wrote them.
    let set = Request::SetDomain {
        name: "ldg1".into(),
        cpu_arch: Some(CpuArch::MigrationClass1),
        downtime_ms: None,
        bandwidth_mib: None,
        max_vcpus: Some(8),
        max_memory_mib: None,
    };
    check("request", "set-domain-max-vcpus", &set);
    names.insert("set-domain-max-vcpus".into());
    let set = Request::SetDomain {
        name: "ldg1".into(),
        cpu_arch: None,
        downtime_ms: None,
        bandwidth_mib: None,
        max_vcpus: None,
        max_memory_mib: Some(2048),
    };
    check("request", "set-domain-max-memory", &set);
    names.insert("set-domain-max-memory".into());
    no_stale("request", &names);
}

#[test]
fn replies_events_and_errors_are_pinned() {
    let mut names = BTreeSet::new();
    for (name, r) in replies() {
        check(
            "response",
            &format!("ok-{name}"),
            &Response::Ok(Box::new(r)),
        );
        names.insert(format!("ok-{name}"));
    }
    let events = [
        (
            "progress",
            Event::Progress(Progress {
                phase: Phase::Suspend,
                percent: 97,
                transferred_bytes: 900_000_000,
                remaining_bytes: 4096,
                rate_mib_s: 400.25,
                passes: 2,
                ..Default::default()
            }),
        ),
        (
            "progress-model",
            Event::Progress(Progress {
                phase: Phase::Precopy,
                percent: 40,
                transferred_bytes: 400_000_000,
                remaining_bytes: 600_000_000,
                rate_mib_s: 400.25,
                passes: 1,
                dirty_rate_mib_s: Some(98.5),
                memory_bytes: Some(1 << 30),
                downtime_limit_ms: Some(30),
            }),
        ),
        (
            "info",
            Event::Info {
                message: "Phase 1: checking".into(),
            },
        ),
    ];
    for (name, e) in events {
        check("response", &format!("event-{name}"), &Response::Event(e));
        names.insert(format!("event-{name}"));
    }
    for kind in [
        ErrorKind::BadRequest,
        ErrorKind::NotFound,
        ErrorKind::Exists,
        ErrorKind::State,
        ErrorKind::Resources,
        ErrorKind::Busy,
        ErrorKind::Denied,
        ErrorKind::Hypervisor,
        ErrorKind::Peer,
        ErrorKind::Migration,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ] {
        // A new kind is a compile error here until it is listed above.
        match kind {
            ErrorKind::BadRequest
            | ErrorKind::NotFound
            | ErrorKind::Exists
            | ErrorKind::State
            | ErrorKind::Resources
            | ErrorKind::Busy
            | ErrorKind::Denied
            | ErrorKind::Hypervisor
            | ErrorKind::Peer
            | ErrorKind::Migration
            | ErrorKind::Cancelled
            | ErrorKind::Internal => {}
        }
        let v = serde_json::to_value(kind).unwrap();
        let name = format!("err-{}", v.as_str().unwrap());
        check(
            "response",
            &name,
            &Response::Err(ApiError::new(kind, "what to do")),
        );
        names.insert(name);
    }
    no_stale("response", &names);
}

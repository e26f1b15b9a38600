//! Golden JSON files under `tests/golden/`: a value's JSON must equal the
//! file, and the file must parse back into the value. `LDM_BLESS=1`
//! rewrites the files on purpose (review their diff in the commit).

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

fn blessing() -> bool {
    std::env::var_os("LDM_BLESS").is_some()
}

/// The golden JSON of `kind/name`.
pub fn load(kind: &str, name: &str) -> serde_json::Value {
    let path = dir(kind).join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; a new message or record needs its golden file: LDM_BLESS=1 cargo test -p ldmd --test golden",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("golden files are JSON")
}

/// Compares `value` with `kind/name.json` (or writes it when blessing).
pub fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    kind: &str,
    name: &str,
    value: &T,
) {
    let actual = serde_json::to_value(value).unwrap();
    if blessing() {
        let path = dir(kind).join(format!("{name}.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = load(kind, name);
    assert_eq!(
        actual,
        expected,
        "the JSON of {kind}/{name} changed. If that is meant, re-bless (LDM_BLESS=1 cargo test -p ldmd --test golden); if the previous release cannot read it, raise the protocol version (peer) or migrate the database (records)"
    );
    let parsed: T = serde_json::from_value(expected)
        .unwrap_or_else(|e| panic!("{kind}/{name}: the golden form no longer parses ({e})"));
    assert_eq!(&parsed, value, "{kind}/{name} parses into something else");
}

/// Every file in `golden/KIND` is one of `names`.
pub fn no_stale(kind: &str, names: &BTreeSet<String>) {
    if blessing() {
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

//! Where the `ldm` and `ldmd` executables are.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// The workspace root (this package lives in `tests/e2e`).
pub fn workspace_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

fn has_both(dir: &Path) -> bool {
    dir.join("ldm").is_file() && dir.join("ldmd").is_file()
}

fn find_bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LDM_BIN_DIR") {
        let d = PathBuf::from(d);
        assert!(
            has_both(&d),
            "LDM_BIN_DIR={} has no ldm and ldmd: run `cargo build --workspace` first",
            d.display()
        );
        return d;
    }
    // The test executable is target/<profile>/deps/NAME-HASH: prefer the
    // binaries of the same target directory and profile.
    let mut candidates = Vec::new();
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
    {
        candidates.push(profile_dir);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("debug"));
    }
    candidates.push(workspace_root().join("target/debug"));
    for c in &candidates {
        if has_both(c) {
            return c.clone();
        }
    }
    panic!(
        "ldm and ldmd not found in {}: run `cargo build --workspace` first (or set LDM_BIN_DIR)",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn newest_source(dir: &Path, newest: &mut Option<(SystemTime, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_source(&p, newest);
        } else if p.extension().is_some_and(|x| x == "rs") {
            if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                let newer = match newest {
                    Some((t, _)) => m > *t,
                    None => true,
                };
                if newer {
                    *newest = Some((m, p));
                }
            }
        }
    }
}

fn warn_if_stale(dir: &Path) {
    let Ok(built) = std::fs::metadata(dir.join("ldmd")).and_then(|m| m.modified()) else {
        return;
    };
    let mut newest = None;
    newest_source(&workspace_root().join("crates"), &mut newest);
    if let Some((t, p)) = newest {
        if t > built {
            eprintln!(
                "ldm-e2e: warning: {} is newer than {}: run `cargo build --workspace` to test the current sources",
                p.display(),
                dir.join("ldmd").display()
            );
        }
    }
}

/// The directory holding `ldm` and `ldmd`; panics with what to do if they are missing.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = find_bin_dir();
        warn_if_stale(&d);
        d
    })
}

/// The `ldm` executable.
pub fn ldm_bin() -> PathBuf {
    bin_dir().join("ldm")
}

/// The `ldmd` executable.
pub fn ldmd_bin() -> PathBuf {
    bin_dir().join("ldmd")
}

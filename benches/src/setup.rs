//! Finding (or building) the binaries and the guest.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The workspace root (benches/..).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `(ldm, ldmd)` in `bin_dir` (default: target/release of the workspace),
/// building them with cargo when the default directory lacks them.
pub fn binaries(bin_dir: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let root = workspace_root();
    let dir = bin_dir.map_or_else(|| root.join("target/release"), Path::to_path_buf);
    let bins = (dir.join("ldm"), dir.join("ldmd"));
    if bins.0.is_file() && bins.1.is_file() {
        return Ok(bins);
    }
    if bin_dir.is_some() {
        bail!(
            "{} has no ldm and ldmd; build them with `cargo build --release -p ldm -p ldmd`",
            dir.display()
        );
    }
    eprintln!(
        "ldm-bench: ldm/ldmd missing in {}; building them: cargo build --release -p ldm -p ldmd",
        dir.display()
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "-p", "ldm", "-p", "ldmd"])
        .current_dir(&root)
        .stdout(Stdio::inherit())
        .status()
        .context("cannot run cargo")?;
    if !status.success() || !bins.0.is_file() || !bins.1.is_file() {
        bail!("building ldm and ldmd failed ({status})");
    }
    Ok(bins)
}

/// `(kernel, initrd)`: as given, else from `guest/build` (which reuses its
/// cached output).
pub fn guest(
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(k), Some(i)) = (&kernel, &initrd) {
        return Ok((absolute(k)?, absolute(i)?));
    }
    let script = workspace_root().join("guest/build");
    eprintln!("ldm-bench: preparing the guest with {}", script.display());
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let find = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(PathBuf::from)
            .with_context(|| format!("{} printed no {key} line", script.display()))
    };
    Ok((
        kernel.map_or_else(|| find("KERNEL="), Ok)?,
        initrd.map_or_else(|| find("INITRD="), Ok)?,
    ))
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{} does not exist", p.display()))
}

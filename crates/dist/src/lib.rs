//! What an installation ships besides the binaries, generated from the clap
//! definitions of `ldm` and `ldmd` so it never drifts from them: man pages
//! (`man.rs`) and shell completions (`completions.rs`); and ldmd's systemd
//! unit (`unit.rs`).

pub mod completions;
pub mod man;
pub mod unit;

use std::path::{Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct Error {
    /// The file or directory.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` to `path`, creating its directory.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)
}

/// The two commands, fully built (globals and versions propagated).
pub fn commands() -> [clap::Command; 2] {
    let mut ldm = ldm::cli::command();
    ldm.build();
    let mut ldmd = ldmd::cli::command();
    ldmd.build();
    [ldm, ldmd]
}

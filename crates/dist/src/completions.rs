//! Shell completions for bash, zsh and fish, in the directories and under
//! the names each shell looks for.

use crate::{commands, write, Error};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Where a shell's completion for `bin` goes, relative to the data
/// directory (`/usr/local/share`).
pub fn relative_path(shell: Shell, bin: &str) -> PathBuf {
    match shell {
        Shell::Zsh => PathBuf::from(format!("zsh/site-functions/_{bin}")),
        Shell::Fish => PathBuf::from(format!("fish/vendor_completions.d/{bin}.fish")),
        _ => PathBuf::from(format!("bash-completion/completions/{bin}")),
    }
}

/// The shells completions are made for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The completion script of `cmd` for `shell`.
pub fn script(shell: Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let bin = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, bin, &mut out);
    out
}

/// Writes every completion under `share` (a data directory such as
/// `/usr/local/share`); returns the files written.
pub fn write_all(share: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for mut cmd in commands() {
        for shell in SHELLS {
            let path = share.join(relative_path(shell, cmd.get_name()));
            write(&path, &script(shell, &mut cmd))?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_completes_the_verbs() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(dir.path()).unwrap();
        assert_eq!(files.len(), 6);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            if f.to_string_lossy().contains("ldmd") {
                assert!(text.contains("listen"), "{}", f.display());
            } else {
                assert!(text.contains("migrate-domain"), "{}", f.display());
                assert!(text.contains("cancel-operation"), "{}", f.display());
            }
        }
        assert!(dir.path().join("bash-completion/completions/ldm").is_file());
        assert!(dir.path().join("zsh/site-functions/_ldmd").is_file());
    }
}

//! Man pages: `ldm(1)` with one `ldm-VERB(1)` page per verb, and `ldmd(8)`.

use crate::{commands, write, Error};
use std::path::{Path, PathBuf};

fn render(cmd: clap::Command, section: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section(section)
        .manual("Logical Domains Manager")
        .render(&mut out)
        .map_err(|source| Error {
            path: PathBuf::from("(man page)"),
            source,
        })?;
    Ok(out)
}

/// Writes the pages under `dir` (`man1/`, `man8/`, as `MANPATH` expects);
/// returns the files written.
pub fn write_all(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let [ldm, ldmd] = commands();
    let mut written = Vec::new();
    let mut put = |path: PathBuf, page: Vec<u8>| -> Result<(), Error> {
        write(&path, &page)?;
        written.push(path);
        Ok(())
    };
    for verb in ldm.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("ldm-{}", verb.get_name());
        let page = verb
            .clone()
            .name(name.clone())
            .bin_name(format!("ldm {}", verb.get_name()))
            .version(ldm.get_version().unwrap_or_default().to_string());
        put(
            dir.join("man1").join(format!("{name}.1")),
            render(page, "1")?,
        )?;
    }
    put(dir.join("man1/ldm.1"), render(ldm, "1")?)?;
    put(dir.join("man8/ldmd.8"), render(ldmd, "8")?)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_for_both_commands_and_every_verb() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(dir.path()).unwrap();
        let ldm = std::fs::read_to_string(dir.path().join("man1/ldm.1")).unwrap();
        assert!(ldm.starts_with(".ie"), "{}", &ldm[..80]);
        assert!(ldm.contains(".TH ldm 1"), "no title line");
        assert!(ldm.contains("migrate\\-domain"), "the verbs are listed");
        let verb = std::fs::read_to_string(dir.path().join("man1/ldm-migrate-domain.1")).unwrap();
        assert!(verb.contains(".TH ldm-migrate-domain 1"), "{verb}");
        assert!(
            verb.contains("max\\-bandwidth"),
            "the verb's options are described"
        );
        let ldmd = std::fs::read_to_string(dir.path().join("man8/ldmd.8")).unwrap();
        assert!(ldmd.contains(".TH ldmd 8"));
        assert!(ldmd.contains("\\-\\-listen"));
        assert!(files.len() > 30, "{} pages", files.len());
    }
}

//! What this host's QEMU offers: its machine types and CPU models, as
//! `-machine help` and `-cpu help` list them. A migration target accepts
//! only these from a peer; anything else never reaches a command line.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::QemuBinary;

/// The longest machine type or CPU model name accepted.
pub const MAX_MODEL_NAME: usize = 64;

/// Machine types and CPU models of one QEMU binary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offered {
    /// `-machine` values (`pc-i440fx-10.0`, `q35`, …).
    pub machine_types: BTreeSet<String>,
    /// `-cpu` values (`max`, `host`, `qemu64`, `EPYC-v4`, …).
    pub cpu_models: BTreeSet<String>,
}

/// Whether `name` can be a machine type or CPU model name: letters,
/// digits, `-`, `_` and `.`, at most [`MAX_MODEL_NAME`] bytes. Such a name
/// cannot carry a QEMU option (`,`) or property (`=`).
pub fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MODEL_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl QemuBinary {
    /// Asks QEMU for its machine types and CPU models.
    pub fn offered(&self) -> Result<Offered> {
        Ok(Offered {
            machine_types: parse_machine_help(&self.help("-machine")?),
            cpu_models: parse_cpu_help(&self.help("-cpu")?),
        })
    }

    /// What `QEMU OPTION help` prints.
    pub(crate) fn help(&self, option: &str) -> Result<String> {
        let out = Command::new(&self.path)
            .args([option, "help"])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::VersionCommand {
                path: self.path.clone(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The names in `-machine help`: the first word of each line after the
/// header.
pub fn parse_machine_help(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Supported machines"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_model_name(n))
        .map(str::to_string)
        .collect()
}

/// The names in the "Available CPUs:" section of `-cpu help` (indented,
/// first word), up to the blank line that ends it.
pub fn parse_cpu_help(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Available CPUs"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_model_name(n))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_machine_help() {
        let text = "Supported machines are:\n\
                    microvm              microvm (i386)\n\
                    pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-10.0)\n\
                    pc-i440fx-10.0       Standard PC (i440FX + PIIX, 1996) (default)\n\
                    none                 empty machine\n";
        let m = parse_machine_help(text);
        assert!(m.contains("pc-i440fx-10.0") && m.contains("pc") && m.contains("none"));
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn parses_cpu_help_up_to_the_flags() {
        let text =
            "Available CPUs:\n  486                   (alias configured by machine type)\n  \
                    EPYC-v4               \n  max                   Enables all features\n\n\
                    Recognized CPUID flags:\n  3dnow 3dnowext\n";
        let c = parse_cpu_help(text);
        assert_eq!(c.into_iter().collect::<Vec<_>>(), ["486", "EPYC-v4", "max"]);
    }

    #[test]
    fn model_names_cannot_carry_options() {
        assert!(is_model_name("pc-i440fx-10.0"));
        assert!(is_model_name("EPYC-v4"));
        for bad in [
            "",
            "pc-i440fx-10.0,firmware=/etc/shadow",
            "max,+vmx",
            "a=b",
            "a b",
            "../x",
        ] {
            assert!(!is_model_name(bad), "{bad}");
        }
        assert!(!is_model_name(&"a".repeat(MAX_MODEL_NAME + 1)));
    }
}

//! Finding the QEMU binary and checking its version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The executable name searched for on `PATH`.
pub const QEMU_BINARY_NAME: &str = "qemu-system-x86_64";

/// The oldest QEMU major version ldm runs domains with.
///
/// QEMU 7.2 (Debian bookworm's own package) crashed the destination guest
/// after TCG live migration in 19 of 25 measured runs; 10.0 in 0 of 72.
pub const MIN_SUPPORTED_MAJOR: u32 = 10;

/// A QEMU version number, e.g. 10.0.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QemuVersion {
    /// Major version (10 in 10.0.2).
    pub major: u32,
    /// Minor version (0 in 10.0.2).
    pub minor: u32,
    /// Micro version (2 in 10.0.2).
    pub micro: u32,
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

impl QemuVersion {
    /// Parses the output of `qemu-system-x86_64 --version`.
    ///
    /// Accepts "QEMU emulator version 10.0.2 (Debian ...)" and also
    /// two-part versions such as "QEMU emulator version 9.2" (micro = 0).
    pub fn parse(output: &str) -> Result<QemuVersion> {
        let fail = || Error::VersionParse {
            output: output.lines().next().unwrap_or("").trim().to_string(),
        };
        let marker = "version ";
        let line = output
            .lines()
            .find(|l| l.contains("QEMU") && l.contains(marker))
            .ok_or_else(fail)?;
        let start = line.find(marker).ok_or_else(fail)? + marker.len();
        let number: String = line[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = number.split('.').filter(|p| !p.is_empty());
        let mut next = |required: bool| -> Result<u32> {
            match parts.next() {
                Some(p) => p.parse().map_err(|_| fail()),
                None if required => Err(fail()),
                None => Ok(0),
            }
        };
        let major = next(true)?;
        let minor = next(true)?;
        let micro = next(false)?;
        Ok(QemuVersion {
            major,
            minor,
            micro,
        })
    }

    /// Whether this QEMU destroys a vCPU's address spaces when the vCPU is
    /// unplugged ("physmem: Destroy all CPU AddressSpaces on unrealize",
    /// QEMU issue 2517): 10.0.13 and later 10.0 releases (Debian trixie's
    /// stable updates), and 10.2 on. Without it, TCG keeps the removed
    /// vCPU's memory listener and a later migration's dirty-memory sync
    /// can hang on it. 10.1 releases are counted as without it. ldmd
    /// itself reads the fact from the running QEMU; this is what a host
    /// can expect before it runs one.
    pub fn destroys_unplugged_cpu_spaces(&self) -> bool {
        match (self.major, self.minor) {
            (10, 0) => self.micro >= 13,
            (10, 1) => false,
            (major, minor) => (major, minor) >= (10, 2),
        }
    }
}

/// A probed QEMU system emulator binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuBinary {
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// Its version, from `--version`.
    pub version: QemuVersion,
}

impl QemuBinary {
    /// Finds `qemu-system-x86_64` (at `path` if given, else on `PATH`),
    /// runs it with `--version` and parses the version.
    ///
    /// This does not check the version is supported; call
    /// [`QemuBinary::ensure_supported`] for that.
    pub fn probe(path: Option<&Path>) -> Result<QemuBinary> {
        let path = match path {
            Some(p) => {
                if !p.is_file() {
                    return Err(Error::BinaryNotFound {
                        searched: format!("{} does not exist", p.display()),
                    });
                }
                p.to_path_buf()
            }
            None => find_on_path(QEMU_BINARY_NAME).ok_or_else(|| Error::BinaryNotFound {
                searched: format!("no {QEMU_BINARY_NAME} on PATH"),
            })?,
        };
        let output = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::VersionCommand {
                path: path.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(Error::VersionParse {
                output: format!(
                    "{} (exit {}): {}",
                    stdout.trim(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        let version = QemuVersion::parse(&stdout)?;
        tracing::debug!(path = %path.display(), %version, "probed QEMU");
        Ok(QemuBinary { path, version })
    }

    /// The version as "major.minor.micro".
    pub fn version_string(&self) -> String {
        self.version.to_string()
    }

    /// Fails unless the QEMU major version is at least [`MIN_SUPPORTED_MAJOR`].
    pub fn ensure_supported(&self) -> Result<()> {
        if self.version.major < MIN_SUPPORTED_MAJOR {
            return Err(Error::UnsupportedVersion {
                found: self.version_string(),
                path: self.path.clone(),
                min: MIN_SUPPORTED_MAJOR,
            });
        }
        Ok(())
    }
}

/// Looks `name` up in the directories of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_backports_version() {
        let out = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n\
                   Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n";
        let v = QemuVersion::parse(out).unwrap();
        assert_eq!(
            v,
            QemuVersion {
                major: 10,
                minor: 0,
                micro: 2
            }
        );
        assert_eq!(v.to_string(), "10.0.2");
    }

    #[test]
    fn parses_bookworm_and_two_part_versions() {
        let v = QemuVersion::parse("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)")
            .unwrap();
        assert_eq!((v.major, v.minor, v.micro), (7, 2, 15));
        let v = QemuVersion::parse("QEMU emulator version 9.2").unwrap();
        assert_eq!((v.major, v.minor, v.micro), (9, 2, 0));
        let v = QemuVersion::parse("QEMU emulator version 8.2.50 (v8.2.0-1234-gabc)").unwrap();
        assert_eq!((v.major, v.minor, v.micro), (8, 2, 50));
    }

    #[test]
    fn which_versions_destroy_an_unplugged_cpus_spaces() {
        #[rustfmt::skip]
        let rows = [
            ("9.2.4", false), ("10.0.2", false), ("10.0.12", false),
            ("10.0.13", true), ("10.0.14", true), ("10.1.3", false),
            ("10.2.0", true), ("11.1.3", true),
        ];
        for (v, want) in rows {
            let got = QemuVersion::parse(&format!("QEMU emulator version {v}")).unwrap();
            assert_eq!(got.destroys_unplugged_cpu_spaces(), want, "{v}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "hello",
            "QEMU emulator version",
            "QEMU emulator version x.y",
        ] {
            assert!(
                matches!(QemuVersion::parse(bad), Err(Error::VersionParse { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ordering_and_support_check() {
        let old = QemuBinary {
            path: "/usr/bin/qemu-system-x86_64".into(),
            version: QemuVersion::parse("QEMU emulator version 7.2.15").unwrap(),
        };
        let err = old.ensure_supported().unwrap_err().to_string();
        assert!(err.contains("19 of 25"), "{err}");
        assert!(err.contains("bookworm-backports"), "{err}");
        let new = QemuBinary {
            version: QemuVersion::parse("QEMU emulator version 10.0.2").unwrap(),
            ..old.clone()
        };
        assert!(new.ensure_supported().is_ok());
        assert!(old.version < new.version);
    }

    #[test]
    fn missing_binary_says_how_to_install() {
        let err = QemuBinary::probe(Some(Path::new("/nonexistent/qemu-system-x86_64")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("apt-get install -t bookworm-backports qemu-system-x86"),
            "{err}"
        );
    }
}

//! The systemd unit of ldmd (`systemd/ldmd.service` in the repository), as
//! `scripts/install` writes it: `@SBINDIR@` replaced by where ldmd is.

/// The unit's template.
pub const TEMPLATE: &str = include_str!("../../../systemd/ldmd.service");

/// The unit for an ldmd installed in `sbindir`.
pub fn render(sbindir: &str) -> String {
    TEMPLATE.replace("@SBINDIR@", sbindir)
}

/// The value of `key=` in the unit (the last one, as systemd reads it).
pub fn setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn domains_survive_a_restart_of_the_unit() {
        let u = render("/usr/local/sbin");
        assert_eq!(setting(&u, "KillMode"), Some("process"));
        assert_eq!(setting(&u, "Restart"), Some("on-failure"));
        assert_eq!(
            setting(&u, "ExecStart"),
            Some("/usr/local/sbin/ldmd --root /var/lib/ldm $LDMD_ARGS")
        );
        assert_eq!(setting(&u, "StateDirectory"), Some("ldm"));
        // QEMU's TCG needs writable executable memory; KVM needs /dev/kvm.
        assert_eq!(setting(&u, "MemoryDenyWriteExecute"), None);
        assert_eq!(setting(&u, "PrivateDevices"), None);
        assert_eq!(setting(&u, "DeviceAllow"), None);
        assert!(!u.contains("@SBINDIR@"));
    }

    /// `systemd-analyze verify` on the unit as installed, with its
    /// ExecStart and man pages present. Skipped (and said so) where
    /// systemd-analyze is not installed.
    #[test]
    fn systemd_analyze_verifies_the_unit() {
        if Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("systemd-analyze is not installed: only the unit's settings were checked");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let sbin = dir.path().join("sbin");
        std::fs::create_dir(&sbin).unwrap();
        std::fs::copy("/bin/true", sbin.join("ldmd")).unwrap();
        let man = dir.path().join("man");
        crate::man::write_all(&man).unwrap();
        let unit = dir.path().join("ldmd.service");
        std::fs::write(&unit, render(&sbin.display().to_string())).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .env("MANPATH", &man)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "{err}");
    }
}

//! Choosing the accelerator (KVM or TCG) and describing the host CPU.

use std::fmt;
use std::fs::OpenOptions;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

const CPUINFO: &str = "/proc/cpuinfo";
const KVM_DEVICE: &str = "/dev/kvm";

/// The QEMU accelerator a domain runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
    /// QEMU's Tiny Code Generator (software emulation).
    Tcg,
}

impl Accel {
    /// The name QEMU uses for this accelerator.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Accel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            _ => Err(Error::InvalidAccel(s.to_string())),
        }
    }
}

/// Picks the accelerator for this host.
///
/// KVM is chosen only if the CPU advertises hardware virtualisation (`vmx`
/// or `svm` in /proc/cpuinfo) *and* /dev/kvm can be opened read-write.
/// A nested, paravirtual /dev/kvm without those flags cannot run guests,
/// so such hosts get TCG.
pub fn detect_accel() -> Accel {
    let cpuinfo = std::fs::read_to_string(CPUINFO).unwrap_or_default();
    let flags = cpuinfo_has_virt_flags(&cpuinfo);
    let kvm_rw = OpenOptions::new()
        .read(true)
        .write(true)
        .open(KVM_DEVICE)
        .is_ok();
    let accel = if flags && kvm_rw {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    tracing::debug!(vmx_or_svm = flags, kvm_rw, %accel, "detected accelerator");
    accel
}

/// True if a /proc/cpuinfo text lists the `vmx` or `svm` CPU flag.
pub fn cpuinfo_has_virt_flags(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "flags").then_some(value)
        })
        .any(|flags| flags.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// The host CPU's model name from /proc/cpuinfo (e.g. "AMD EPYC"),
/// or "unknown" if it cannot be read.
///
/// Used to check whether two hosts can exchange domains whose CPU model
/// is `host`.
pub fn host_cpu_model() -> String {
    std::fs::read_to_string(CPUINFO)
        .ok()
        .and_then(|text| cpuinfo_model_name(&text))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The first "model name" value in a /proc/cpuinfo text.
pub fn cpuinfo_model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                       flags\t\t: fpu vme de pse svm sse\n";
    const NESTED: &str =
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu vme hypervisor svm_lock\n";

    #[test]
    fn flags_are_matched_as_words() {
        assert!(cpuinfo_has_virt_flags(AMD));
        assert!(!cpuinfo_has_virt_flags(NESTED));
        assert!(cpuinfo_has_virt_flags("flags : a b vmx c"));
        assert!(!cpuinfo_has_virt_flags(""));
    }

    #[test]
    fn model_name() {
        assert_eq!(cpuinfo_model_name(AMD).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpuinfo_model_name("flags: x"), None);
        assert!(!host_cpu_model().is_empty());
    }

    #[test]
    fn accel_round_trips() {
        for a in [Accel::Kvm, Accel::Tcg] {
            assert_eq!(a.to_string().parse::<Accel>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{a}\""));
            assert_eq!(serde_json::from_str::<Accel>(&json).unwrap(), a);
        }
        assert_eq!(" TCG ".parse::<Accel>().unwrap(), Accel::Tcg);
        assert!(matches!(
            "hvf".parse::<Accel>(),
            Err(Error::InvalidAccel(_))
        ));
    }

    #[test]
    fn this_host_gets_tcg_without_virt_flags() {
        let cpuinfo = std::fs::read_to_string(CPUINFO).unwrap();
        if !cpuinfo_has_virt_flags(&cpuinfo) {
            assert_eq!(detect_accel(), Accel::Tcg);
        }
    }
}

//! `ldm list-devices` and `ldm list-services`.

use ldm_api::service::VccView;
use ldm_api::{format_mib, HostView};
use std::fmt::Write;

/// `list-devices`
pub fn devices(h: &HostView, long: bool, parseable: bool) -> String {
    let mut s = String::new();
    if parseable {
        let _ = writeln!(s, "VERSION 1.6");
        let _ = writeln!(s, "VCPU|free={}|total={}", h.vcpus_free, h.vcpus_total);
        let _ = writeln!(
            s,
            "MEMORY|free={}|total={}",
            h.memory_free_mib * 1024 * 1024,
            h.memory_total_mib * 1024 * 1024
        );
        if long {
            let _ = writeln!(
                s,
                "HOST|name={}|accel={}|cpu-model={}|qemu={}|fingerprint={}",
                h.hostname,
                h.accel,
                h.cpu_model,
                h.qemu_version.clone().unwrap_or_default(),
                h.fingerprint.clone().unwrap_or_default()
            );
        }
        return s;
    }
    let _ = writeln!(
        s,
        "VCPU\n    FREE    TOTAL\n    {:<7} {}\n",
        h.vcpus_free, h.vcpus_total
    );
    let _ = writeln!(
        s,
        "MEMORY\n    FREE    TOTAL\n    {:<7} {}",
        format_mib(h.memory_free_mib),
        format_mib(h.memory_total_mib)
    );
    if long {
        let _ = writeln!(s, "\nHOST\n    name         {}", h.hostname);
        let _ = writeln!(s, "    cpu-model    {}", h.cpu_model);
        let _ = writeln!(s, "    accel        {}", h.accel);
        let _ = writeln!(
            s,
            "    qemu         {}",
            match (&h.qemu_path, &h.qemu_version, &h.qemu_problem) {
                (Some(p), Some(v), _) => format!("{v} ({p})"),
                (_, _, Some(pr)) => format!("unusable: {pr}"),
                _ => "unknown".into(),
            }
        );
        let _ = writeln!(
            s,
            "    primary      {} vCPUs for migrations",
            h.primary_vcpus
        );
        if let Some(l) = &h.listen {
            let _ = writeln!(s, "    listen       {l}");
        }
        if let Some(f) = &h.fingerprint {
            let _ = writeln!(s, "    fingerprint  {f}");
        }
    }
    s
}

/// `list-services`
pub fn services(vccs: &[VccView], parseable: bool) -> String {
    let mut s = String::new();
    if parseable {
        let _ = writeln!(s, "VERSION 1.6");
        for v in vccs {
            let _ = writeln!(
                s,
                "VCC|name={}|ldom={}|port-range={}-{}|address={}|access={}",
                v.name, v.ldom, v.port_lo, v.port_hi, v.address, v.access
            );
        }
        return s;
    }
    let _ = writeln!(
        s,
        "VCC\n    NAME             LDOM      PORT-RANGE    ADDRESS      IN-USE"
    );
    for v in vccs {
        let used: Vec<String> = v.in_use.iter().map(|(p, n)| format!("{p}:{n}")).collect();
        let _ = writeln!(
            s,
            "    {:<16} {:<9} {:<13} {:<12} {}",
            v.name,
            v.ldom,
            format!("{}-{}", v.port_lo, v.port_hi),
            v.address,
            used.join(",")
        );
    }
    if vccs
        .iter()
        .any(|v| v.access == ldm_api::service::VCC_ACCESS_ROLE)
    {
        let _ = writeln!(
            s,
            "    (console ports identify each local client and admit the console and management roles only)"
        );
    }
    s
}

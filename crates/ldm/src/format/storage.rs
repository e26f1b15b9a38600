//! Disks: the VDS part of `list-services`, the DISK section of `ldm list`.

use ldm_api::storage::{DiskView, VdsView};
use std::fmt::Write;

fn size(bytes: Option<u64>) -> String {
    bytes
        .map(|b| ldm_api::format_mib(b.div_ceil(1024 * 1024)))
        .unwrap_or_default()
}

/// The VDS part of `list-services`.
pub fn vds(list: &[VdsView], parseable: bool) -> String {
    let mut s = String::new();
    for v in list {
        if parseable {
            let _ = writeln!(
                s,
                "VDS|name={}|ldom={}|nvol={}",
                v.name,
                v.ldom,
                v.volumes.len()
            );
            for vol in &v.volumes {
                let _ = writeln!(
                    s,
                    "|vol={}|opts={}|dev={}|size={}|format={}|used-by={}",
                    vol.name,
                    if vol.readonly { "ro" } else { "" },
                    vol.backend,
                    vol.size_bytes.map(|b| b.to_string()).unwrap_or_default(),
                    vol.format.map(|f| f.as_str()).unwrap_or_default(),
                    used_by(&vol.used_by)
                );
            }
            continue;
        }
        let _ = writeln!(
            s,
            "VDS\n    NAME             LDOM      VOLUME           OPTIONS  SIZE     FORMAT  DEVICE"
        );
        let _ = writeln!(s, "    {:<16} {}", v.name, v.ldom);
        for vol in &v.volumes {
            let _ = writeln!(
                s,
                "    {:<16} {:<9} {:<16} {:<8} {:<8} {:<7} {}{}",
                "",
                "",
                vol.name,
                if vol.readonly { "ro" } else { "" },
                size(vol.size_bytes),
                vol.format.map(|f| f.as_str()).unwrap_or("?"),
                vol.backend,
                vol.problem
                    .as_ref()
                    .map(|p| format!("  (unusable: {p})"))
                    .unwrap_or_default()
            );
        }
    }
    s
}

fn used_by(u: &[(String, String)]) -> String {
    u.iter()
        .map(|(dom, disk)| format!("{dom}/{disk}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The DISK section of `ldm list -o disk` and `-l`.
pub fn disk_section(disks: &[DiskView], out: &mut String, parseable: bool) {
    if parseable {
        for k in disks {
            let _ = writeln!(
                out,
                "VDISK|name={}|vol={}|id={}|server={}|dev={}|ro={}",
                k.name,
                k.volume,
                k.id,
                k.server,
                k.backend.clone().unwrap_or_default(),
                if k.readonly { "yes" } else { "no" }
            );
        }
        return;
    }
    let _ = writeln!(
        out,
        "DISK\n    NAME             VOLUME                      ID   SERVER   DEVICE"
    );
    for k in disks {
        let _ = writeln!(
            out,
            "    {:<16} {:<27} {:<4} {:<8} {}{}",
            k.name,
            k.volume,
            k.id,
            k.server,
            k.backend
                .clone()
                .unwrap_or_else(|| "(no such volume here)".into()),
            if k.readonly { " (ro)" } else { "" }
        );
    }
}

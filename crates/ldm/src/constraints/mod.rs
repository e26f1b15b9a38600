//! `list-constraints [-x] [NAME…]` and the `-i FILE` of `add-domain` and
//! `set-domain`: a domain's whole definition, as text or as Oracle's LDM
//! XML ([`xml`]).

pub mod xml;

use ldm_api::{format_mib, DomainSpec};
use std::fmt::Write;
use std::path::Path;

/// The plain listing: each domain's constraints by section.
pub fn text(specs: &[DomainSpec]) -> String {
    let mut out = String::new();
    for (i, s) in specs.iter().enumerate() {
        if i > 0 {
            out.push_str(
                "------------------------------------------------------------------------------\n",
            );
        }
        let _ = writeln!(out, "DOMAIN\n{}\n", s.name);
        let _ = writeln!(out, "UUID\n    {}\n", s.uuid);
        let _ = writeln!(out, "CONTROL\n    cpu-arch={}", s.cpu_arch);
        if let Some(ms) = s.migration.downtime_ms {
            let _ = writeln!(out, "    migration-downtime={ms}");
        }
        if let Some(b) = s.migration.bandwidth_mib {
            let _ = writeln!(out, "    migration-bandwidth={b}");
        }
        let _ = writeln!(out, "\nVCPU\n    COUNT\n    {}", s.vcpus);
        if let Some(m) = s.max_vcpus {
            let _ = writeln!(out, "    max-vcpus={m}");
        }
        out.push('\n');
        let _ = writeln!(out, "MEMORY\n    SIZE\n    {}\n", format_mib(s.memory_mib));
        if !s.disks.is_empty() {
            let _ = writeln!(out, "DISK\n    {:<20} VOLUME", "NAME");
            for k in &s.disks {
                let _ = writeln!(out, "    {:<20} {}", k.name, k.volume_ref());
            }
            out.push('\n');
        }
        if !s.networks.is_empty() {
            let _ = writeln!(
                out,
                "NETWORK\n    {:<20} {:<20} {:<18} MTU",
                "NAME", "SERVICE", "MAC"
            );
            for n in &s.networks {
                let mtu = n.mtu.map(|m| m.to_string()).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {:<20} {:<20} {:<18} {mtu}",
                    n.name,
                    n.switch,
                    n.mac.to_string()
                );
            }
            out.push('\n');
        }
        let vars = s.vars.pairs();
        if !vars.is_empty() {
            let _ = writeln!(out, "VARIABLES");
            for (k, v) in vars {
                let _ = writeln!(out, "    {k}={v}");
            }
            out.push('\n');
        }
    }
    out
}

/// The one domain described in `path` (for `-i FILE`).
pub fn read_one(path: &Path) -> Result<DomainSpec, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut specs = xml::from_xml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    match specs.len() {
        1 => Ok(specs.remove(0)),
        0 => Err(format!(
            "{} describes no domain: give the output of `ldm list-constraints -x NAME`",
            path.display()
        )),
        n => Err(format!(
            "{} describes {n} domains: -i takes a file with one (`ldm list-constraints -x NAME`)",
            path.display()
        )),
    }
}

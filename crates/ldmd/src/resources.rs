//! Accounting of the host's vCPUs, memory and console ports.

use crate::daemon::Table;
use crate::db::VccRow;
use crate::error::{refuse, Result};
use ldm_api::{format_mib, ErrorKind};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// What is bound and what is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// vCPUs bound to domains.
    pub vcpus_used: u32,
    /// Memory bound to domains, MiB.
    pub memory_used_mib: u64,
}

/// Sums what bound and running domains hold, leaving out `except`.
pub fn usage(t: &Table, except: Option<&str>) -> Usage {
    let mut u = Usage {
        vcpus_used: 0,
        memory_used_mib: 0,
    };
    for (name, d) in t {
        if Some(name.as_str()) == except || !d.rec.state.holds_resources() {
            continue;
        }
        u.vcpus_used += d.rec.spec.vcpus;
        u.memory_used_mib += d.rec.spec.memory_mib;
    }
    u
}

/// Checks that `vcpus` and `memory_mib` fit beside what others hold; the
/// error lists every shortfall.
pub fn check_fit(
    t: &Table,
    except: Option<&str>,
    total_vcpus: u32,
    total_mib: u64,
    vcpus: u32,
    memory_mib: u64,
) -> Result<()> {
    let u = usage(t, except);
    let free_v = total_vcpus.saturating_sub(u.vcpus_used);
    let free_m = total_mib.saturating_sub(u.memory_used_mib);
    let mut why = Vec::new();
    if vcpus > free_v {
        why.push(format!(
            "{vcpus} vCPUs requested but only {free_v} available"
        ));
    }
    if memory_mib > free_m {
        why.push(format!(
            "{} of memory requested but only {} available",
            format_mib(memory_mib),
            format_mib(free_m)
        ));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(refuse(
            ErrorKind::Resources,
            format!(
                "not enough free resources: {}. `ldm list-devices` shows what is free; lower the domain's needs or unbind another domain",
                why.join("; ")
            ),
        ))
    }
}

/// Ports held by bound or running domains.
pub fn ports_in_use(t: &Table) -> BTreeSet<u16> {
    t.values()
        .filter_map(|d| d.rec.binding.as_ref().map(|b| b.console_port))
        .collect()
}

/// Picks a free console port from the vcc ranges (also free for the OS).
pub fn pick_port(t: &Table, vccs: &[VccRow], addr: IpAddr) -> Result<u16> {
    if vccs.is_empty() {
        return Err(refuse(
            ErrorKind::Resources,
            "there is no console concentrator: add one with `ldm add-vcc port-range=5000-5099 primary-vcc0 primary`",
        ));
    }
    let used = ports_in_use(t);
    for v in vccs {
        for p in v.port_lo..=v.port_hi {
            if !used.contains(&p) && crate::console::port_free(addr, p) {
                return Ok(p);
            }
        }
    }
    Err(refuse(
        ErrorKind::Resources,
        "no free console port in the vcc ranges: widen a range with `ldm set-vcc port-range=A-B NAME` or unbind a domain",
    ))
}

/// Counts the console ports of the vcc ranges that no domain holds and
/// the OS would let a console listen on, up to `cap`. Takes the ports in
/// use rather than the table: it probes ports, so call it without the
/// table's lock.
pub fn count_free_ports(used: &BTreeSet<u16>, vccs: &[VccRow], addr: IpAddr, cap: u32) -> u32 {
    let mut n = 0;
    for v in vccs {
        for p in v.port_lo..=v.port_hi {
            if n >= cap {
                return n;
            }
            if !used.contains(&p) && crate::console::port_free(addr, p) {
                n += 1;
            }
        }
    }
    n
}

/// Whether some console port would be free.
pub fn has_free_port(t: &Table, vccs: &[VccRow], addr: IpAddr) -> bool {
    pick_port(t, vccs, addr).is_ok()
}

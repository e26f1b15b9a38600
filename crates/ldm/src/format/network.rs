//! Networks: the VSW part of `list-services`, the NETWORK section of
//! `ldm list`.

use ldm_api::network::{VnetView, VswView};
use std::fmt::Write;

/// The VSW part of `list-services`.
pub fn vsw(list: &[VswView], parseable: bool) -> String {
    let mut s = String::new();
    if list.is_empty() {
        return s;
    }
    if !parseable {
        let _ = writeln!(
            s,
            "VSW\n    NAME             LDOM      MACADDRESS         NET-DEV          MTU    BRIDGE         USED-BY"
        );
    }
    for v in list {
        let mac = v.mac.map(|m| m.to_string()).unwrap_or_default();
        let used: Vec<String> = v.used_by.iter().map(|(d, n)| format!("{d}/{n}")).collect();
        if parseable {
            let _ = writeln!(
                s,
                "VSW|name={}|ldom={}|mac-addr={}|net-dev={}|mtu={}|bridge={}|used-by={}|problem={}",
                v.name,
                v.ldom,
                mac,
                v.net_dev.clone().unwrap_or_default(),
                v.mtu,
                v.bridge,
                used.join(","),
                v.problem.clone().unwrap_or_default()
            );
            continue;
        }
        let _ = writeln!(
            s,
            "    {:<16} {:<9} {:<18} {:<16} {:<6} {:<14} {}",
            v.name,
            v.ldom,
            if mac.is_empty() { "-" } else { &mac },
            v.net_dev.as_deref().unwrap_or("-"),
            v.mtu,
            v.bridge,
            used.join(",")
        );
        if let Some(p) = &v.problem {
            let _ = writeln!(s, "        (not working: {p})");
        }
    }
    s
}

/// The NETWORK section of `ldm list -o network` and `-l`.
pub fn network_section(vnets: &[VnetView], out: &mut String, parseable: bool) {
    if parseable {
        for n in vnets {
            let _ = writeln!(
                out,
                "VNET|name={}|dev={}|service={}@primary|mac-addr={}|mtu={}|id={}",
                n.name,
                n.tap.clone().unwrap_or_default(),
                n.switch,
                n.mac,
                n.mtu,
                n.id
            );
        }
        return;
    }
    let _ = writeln!(
        out,
        "NETWORK\n    NAME             SERVICE                          ID   DEVICE          MAC                MTU"
    );
    for n in vnets {
        let _ = writeln!(
            out,
            "    {:<16} {:<32} {:<4} {:<15} {:<18} {}",
            n.name,
            format!("{}@primary", n.switch),
            n.id,
            n.tap.as_deref().unwrap_or("-"),
            n.mac.to_string(),
            n.mtu
        );
    }
}

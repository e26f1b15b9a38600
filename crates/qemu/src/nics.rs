//! A domain's network interfaces on QEMU's command line: one virtio-net
//! device per NIC, its MAC fixed, backed by an existing tap interface of
//! the host.
//!
//! Netdev and device ids derive from the NIC's position, so the same list
//! gives the same machine on a migration target. QEMU runs no scripts for
//! the tap (whoever made the tap also bridges it) and no vhost thread
//! (vhost needs `/dev/vhost-net` and gains nothing under TCG).

use crate::cmdline::escape_opt;
use serde::{Deserialize, Serialize};

/// Longest Linux interface name (`IFNAMSIZ` minus the NUL).
pub const MAX_IFNAME: usize = 15;

/// The smallest MTU a virtio-net device accepts (`host_mtu`).
pub const MIN_MTU: u32 = 68;

/// The largest MTU a virtio-net device accepts (`host_mtu`).
pub const MAX_MTU: u32 = 65535;

/// One network interface of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicConfig {
    /// The host's tap interface the NIC is connected to (it must exist
    /// when QEMU starts; QEMU attaches to it).
    pub ifname: String,
    /// The MAC address the guest sees, six hexadecimal octets separated by
    /// `:` (e.g. `52:54:00:12:34:56`), unicast.
    pub mac: String,
    /// The MTU offered to the guest (virtio-net `host_mtu`); the guest's
    /// default of 1500 when absent.
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// The netdev id of NIC `i` (what QMP commands such as `announce-self`
/// name).
pub fn netdev_id(i: usize) -> String {
    format!("net{i}")
}

/// The `-netdev` and `-device` arguments of `nics`, in their order.
pub fn nic_args(nics: &[NicConfig]) -> Vec<String> {
    let mut a = Vec::with_capacity(nics.len() * 4);
    for (i, n) in nics.iter().enumerate() {
        let id = netdev_id(i);
        a.push("-netdev".into());
        a.push(format!(
            "tap,id={id},ifname={},script=no,downscript=no,vhost=off",
            escape_opt(&n.ifname)
        ));
        let mut device = format!(
            "virtio-net-pci,id={id}-dev,netdev={id},mac={}",
            escape_opt(&n.mac)
        );
        if let Some(mtu) = n.mtu {
            device.push_str(&format!(",host_mtu={mtu}"));
        }
        a.push("-device".into());
        a.push(device);
    }
    a
}

/// Whether `name` can name a Linux interface that QEMU may attach to:
/// 1 to [`MAX_IFNAME`] bytes of letters, digits, `-`, `_` and `.`, and not
/// `.` or `..`.
pub fn is_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The six octets of a MAC address written as `xx:xx:xx:xx:xx:xx`
/// (hexadecimal, either case), or `None` if it is not one.
pub fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for octet in &mut out {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Why `nic` cannot be given to QEMU, or `None` if it can.
pub(crate) fn nic_problem(nic: &NicConfig) -> Option<String> {
    if !is_ifname(&nic.ifname) {
        return Some(format!(
            "NIC interface name {:?} must be 1 to {MAX_IFNAME} letters, digits, '-', '_' or '.'",
            nic.ifname
        ));
    }
    match parse_mac(&nic.mac) {
        None => {
            return Some(format!(
                "NIC {} has MAC {:?}: write six hexadecimal octets like 52:54:00:12:34:56",
                nic.ifname, nic.mac
            ))
        }
        Some(octets) if octets[0] & 1 == 1 => {
            return Some(format!(
                "NIC {} has MAC {}, a multicast address: use a unicast MAC \
                 (the first octet even)",
                nic.ifname, nic.mac
            ))
        }
        Some(_) => {}
    }
    if let Some(mtu) = nic.mtu {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Some(format!(
                "NIC {} has MTU {mtu}: use {MIN_MTU} to {MAX_MTU}",
                nic.ifname
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(ifname: &str, mac: &str) -> NicConfig {
        NicConfig {
            ifname: ifname.into(),
            mac: mac.into(),
            mtu: None,
        }
    }

    #[test]
    fn two_nics_in_order() {
        let mut b = nic("ldmt1", "52:54:00:AB:00:02");
        b.mtu = Some(9000);
        let a = nic_args(&[nic("ldmt0", "52:54:00:ab:00:01"), b]);
        assert_eq!(
            a,
            [
                "-netdev",
                "tap,id=net0,ifname=ldmt0,script=no,downscript=no,vhost=off",
                "-device",
                "virtio-net-pci,id=net0-dev,netdev=net0,mac=52:54:00:ab:00:01",
                "-netdev",
                "tap,id=net1,ifname=ldmt1,script=no,downscript=no,vhost=off",
                "-device",
                "virtio-net-pci,id=net1-dev,netdev=net1,mac=52:54:00:AB:00:02,host_mtu=9000",
            ]
        );
        assert!(nic_args(&[]).is_empty());
    }

    #[test]
    fn an_ifname_or_mac_cannot_add_a_property() {
        let a = nic_args(&[nic("t0,script=/x", "52:54:00:00:00:01,romfile=/x")]);
        assert_eq!(
            a[1],
            "tap,id=net0,ifname=t0,,script=/x,script=no,downscript=no,vhost=off"
        );
        assert_eq!(
            a[3],
            "virtio-net-pci,id=net0-dev,netdev=net0,mac=52:54:00:00:00:01,,romfile=/x"
        );
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("52:54:00:aB:cd:EF"),
            Some([0x52, 0x54, 0, 0xab, 0xcd, 0xef])
        );
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:01",
            "52-54-00-ab-cd-ef",
            "52:54:00:ab:cd:e",
            "52:54:00:ab:cd:+f",
            "52:54:00:ab:cd:efg",
            "5254.00ab.cdef",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn problems_name_the_field_and_the_fix() {
        assert_eq!(nic_problem(&nic("ldmt0", "52:54:00:00:00:01")), None);
        let p = nic_problem(&nic("a-name-far-too-long", "52:54:00:00:00:01")).unwrap();
        assert!(p.contains("1 to 15"), "{p}");
        assert!(nic_problem(&nic("..", "52:54:00:00:00:01")).is_some());
        assert!(nic_problem(&nic("t/0", "52:54:00:00:00:01")).is_some());
        let p = nic_problem(&nic("t0", "52:54:00:00:00")).unwrap();
        assert!(p.contains("six hexadecimal octets"), "{p}");
        let p = nic_problem(&nic("t0", "01:00:5e:00:00:01")).unwrap();
        assert!(p.contains("unicast"), "{p}");
        let mut n = nic("t0", "52:54:00:00:00:01");
        for (mtu, ok) in [(67, false), (68, true), (65535, true), (65536, false)] {
            n.mtu = Some(mtu);
            assert_eq!(nic_problem(&n).is_none(), ok, "{mtu}");
        }
    }
}

//! The lab's network for guests: each host's uplink to the wire, guest
//! addresses, and, for tests that run QEMU without ldmd, a hand-made bridge
//! and tap in a host's namespace and QEMU started there.

use super::Lab;
use crate::netns::{self, ip_ok};
use ldm_qemu::MachineConfig;
use std::net::Ipv4Addr;

/// The address-less port on the wire every lab host has, for a virtual
/// switch's `net-dev`.
pub const UPLINK: &str = "uplink0";

/// The bridge [`Lab::tap_on_wire`] makes in a host's namespace.
pub const LAB_BRIDGE: &str = "labbr0";

/// The address of guest `n` on the wire (10.77.0.50 + n); the prefix is /24.
pub fn guest_addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, 50 + n)
}

/// A MAC for guest `n` from QEMU's locally administered range.
pub fn guest_mac(n: u8) -> String {
    format!("52:54:00:77:00:{:02x}", 50 + n)
}

/// The wire's port of host `i`'s uplink.
fn uplink_port(i: usize) -> String {
    format!("u{i}")
}

impl Lab {
    /// Gives host `i` its [`UPLINK`]: a veth whose other end is on the
    /// wire's bridge, up, without an address.
    pub(super) fn plug_uplink(&mut self, i: usize) {
        let (wire, ns, port) = (self.wire_ns(), self.host_ns(i), uplink_port(i));
        ip_ok(&[
            "-n", &wire, "link", "add", &port, "type", "veth", "peer", "name", UPLINK, "netns", &ns,
        ]);
        ip_ok(&["-n", &wire, "link", "set", &port, "master", "br0", "up"]);
        // Without an address it must not answer ARP for the host's lab
        // address either (Linux answers on any port by default): the
        // host's traffic would then go through the uplink, past what
        // `cut` and `slow` do to its link.
        crate::netns::sysctl_ok(&ns, &format!("net.ipv4.conf.{UPLINK}.arp_ignore"), "1");
        ip_ok(&["-n", &ns, "link", "set", UPLINK, "up"]);
    }

    /// Creates tap `tap` in host `i`'s namespace on bridge [`LAB_BRIDGE`],
    /// which joins the host's [`UPLINK`] (the bridge is made on first use):
    /// by hand what a virtual switch and a vnet are. Everything goes with
    /// the namespace.
    #[track_caller]
    pub fn tap_on_wire(&self, i: usize, tap: &str) {
        let ns = self.host_ns(i);
        let exists = netns::ip(&["-n", &ns, "link", "show", LAB_BRIDGE]).is_ok();
        if !exists {
            ip_ok(&["-n", &ns, "link", "add", LAB_BRIDGE, "type", "bridge"]);
            ip_ok(&["-n", &ns, "link", "set", UPLINK, "master", LAB_BRIDGE]);
            ip_ok(&["-n", &ns, "link", "set", LAB_BRIDGE, "up"]);
        }
        ip_ok(&["-n", &ns, "tuntap", "add", "dev", tap, "mode", "tap"]);
        ip_ok(&["-n", &ns, "link", "set", tap, "master", LAB_BRIDGE, "up"]);
    }

    /// Starts QEMU for `cfg` inside host `i`'s namespace (its taps are
    /// there), with `-incoming defer` if `incoming`; returns its pid. The
    /// QEMU dies with the lab (every process in its namespaces is killed).
    #[track_caller]
    pub fn launch_qemu(&self, i: usize, cfg: &MachineConfig, incoming: bool) -> u32 {
        launch_in(&self.host_ns(i), cfg, incoming)
            .unwrap_or_else(|e| panic!("cannot start QEMU for {} on host {i}: {e}", cfg.name))
    }
}

/// Starts QEMU for `cfg` in namespace `ns`: from a thread that entered it,
/// so the process (and the taps it opens) are there.
pub fn launch_in(ns: &str, cfg: &MachineConfig, incoming: bool) -> Result<u32, String> {
    let qemu = ldm_qemu::QemuBinary::probe(None).map_err(|e| e.to_string())?;
    netns::enter(ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        rt.block_on(ldm_qemu::launch(&qemu, cfg, incoming))
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_addresses_and_unicast_macs_of_their_own() {
        assert_eq!(guest_addr(0), Ipv4Addr::new(10, 77, 0, 50));
        assert_eq!(guest_mac(0), "52:54:00:77:00:32");
        let octets = ldm_qemu::nics::parse_mac(&guest_mac(1)).unwrap();
        assert_eq!(octets[0] & 1, 0, "unicast");
        assert_ne!(guest_mac(0), guest_mac(1));
    }
}

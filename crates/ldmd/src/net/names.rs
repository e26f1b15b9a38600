//! Names of the links ldmd makes, and how it recognises its own.
//!
//! A vsw is a bridge `ldmb-XXXXXXXX`, a vnet's tap `ldmt-XXXXXXXX` (13
//! characters, within IFNAMSIZ), where `XXXXXXXX` is a 32-bit FNV-1a hash
//! of this ldmd's owner id and the switch's name (bridge) or the domain's
//! UUID and the vnet's name (tap): the same on every start, distinct for
//! two ldmds sharing a network namespace. Each link's alias says whose it
//! is and what it is for, e.g. `ldm 3f2a9c01 vsw primary-vsw0`; ldmd
//! deletes as stale only links with its prefixes and its own owner id.

use ldm_api::network::Mac;

/// Prefix of the bridges ldmd makes.
pub const BRIDGE_PREFIX: &str = "ldmb-";

/// Prefix of the taps ldmd makes.
pub const TAP_PREFIX: &str = "ldmt-";

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for b in p.iter().chain(&[0u8]) {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// This ldmd's identity among the links of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(pub String);

impl Owner {
    /// The bridge of switch `vsw`.
    pub fn bridge(&self, vsw: &str) -> String {
        format!(
            "{BRIDGE_PREFIX}{:08x}",
            fnv1a(&[self.0.as_bytes(), vsw.as_bytes()])
        )
    }

    /// The tap of vnet `vnet` of the domain with UUID `uuid`.
    pub fn tap(&self, uuid: &uuid::Uuid, vnet: &str) -> String {
        format!(
            "{TAP_PREFIX}{:08x}",
            fnv1a(&[self.0.as_bytes(), uuid.as_bytes(), vnet.as_bytes()])
        )
    }

    /// The alias of the bridge of `vsw`.
    pub fn bridge_alias(&self, vsw: &str) -> String {
        format!("ldm {} vsw {vsw}", self.0)
    }

    /// The alias of the tap of `vnet` of `domain`.
    pub fn tap_alias(&self, domain: &str, vnet: &str) -> String {
        format!("ldm {} vnet {vnet} of {domain}", self.0)
    }

    /// Whether a link named `name` with `alias` is one this ldmd made.
    pub fn made(&self, name: &str, alias: Option<&str>) -> bool {
        is_ldm_name(name) && alias.is_some_and(|a| a.starts_with(&format!("ldm {} ", self.0)))
    }
}

/// Whether a link's name is one any ldmd gives (for finding leaks).
pub fn is_ldm_name(name: &str) -> bool {
    name.starts_with(BRIDGE_PREFIX) || name.starts_with(TAP_PREFIX)
}

/// The host-side MAC of a tap: the guest's with its first byte `fe`, as
/// libvirt does, so the bridge never takes it as its own address (a bridge
/// takes its ports' lowest) and it never equals the guest's.
pub fn tap_mac(guest: Mac) -> Mac {
    let mut b = guest.0;
    b[0] = 0xfe;
    Mac(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_stable_and_owned() {
        let o = Owner("3f2a9c01".into());
        let b = o.bridge("primary-vsw0");
        assert!(b.len() <= 15 && b.starts_with("ldmb-"), "{b}");
        assert_eq!(b, o.bridge("primary-vsw0"));
        assert_ne!(b, Owner("00000000".into()).bridge("primary-vsw0"));
        let u = uuid::Uuid::from_u128(7);
        let t = o.tap(&u, "vnet0");
        assert!(t.len() <= 15 && t.starts_with("ldmt-"));
        assert_ne!(t, o.tap(&u, "vnet1"));
        assert!(o.made(&b, Some(&o.bridge_alias("primary-vsw0"))));
        assert!(!o.made(&b, Some("ldm 00000000 vsw primary-vsw0")));
        assert!(!o.made("eth0", Some(&o.bridge_alias("x"))));
        assert!(!o.made(&t, None));
        let m: Mac = "02:4c:44:01:02:03".parse().unwrap();
        assert_eq!(tap_mac(m).to_string(), "fe:4c:44:01:02:03");
    }
}

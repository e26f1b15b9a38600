//! Virtual networks: the virtual switch (vsw) of the primary domain and the
//! network devices (vnet) domains get on it. See docs/network.md.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest vsw or vnet name.
pub const MAX_NET_NAME: usize = 32;

/// Most vnets a domain may have.
pub const MAX_VNETS: usize = 8;

/// Smallest MTU a vsw or vnet may have (IPv6 needs 1280).
pub const MTU_MIN: u32 = 1280;

/// Largest MTU a vsw or vnet may have (a jumbo frame).
pub const MTU_MAX: u32 = 9000;

/// The MTU when none is given.
pub const MTU_DEFAULT: u32 = 1500;

/// The first three bytes of every MAC address ldm assigns: locally
/// administered (bit 1 of the first byte set), unicast (bit 0 clear);
/// `4c:44` is "LD".
pub const MAC_PREFIX: [u8; 3] = [0x02, 0x4c, 0x44];

/// A MAC address (EUI-48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Whether the address is a unicast one (a device may have it).
    pub fn is_unicast(self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }

    /// Whether the address lies in the range ldm assigns from.
    pub fn in_ldm_range(self) -> bool {
        self.0[..3] == MAC_PREFIX
    }

    /// The address in ldm's range with the given last three bytes.
    pub fn from_ldm_range(low: u32) -> Mac {
        let b = low.to_be_bytes();
        Mac([
            MAC_PREFIX[0],
            MAC_PREFIX[1],
            MAC_PREFIX[2],
            b[1],
            b[2],
            b[3],
        ])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Mac, String> {
        let bad = || {
            format!(
                "'{s}' is not a MAC address: write six hex bytes, e.g. mac-addr=02:4c:44:00:00:01"
            )
        };
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        for (o, p) in out.iter_mut().zip(parts) {
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a MAC a device may have: well formed and unicast.
pub fn parse_unicast_mac(text: &str) -> Result<Mac, String> {
    let m: Mac = text.parse()?;
    if !m.is_unicast() {
        return Err(format!(
            "{m} is not a unicast MAC address (its first byte is odd, or it is all zeros): a device needs a unicast one, e.g. 02:4c:44:00:00:01"
        ));
    }
    Ok(m)
}

/// Checks an MTU.
pub fn check_mtu(mtu: u32) -> Result<(), String> {
    if (MTU_MIN..=MTU_MAX).contains(&mtu) {
        Ok(())
    } else {
        Err(format!(
            "mtu={mtu} is out of range: use {MTU_MIN} to {MTU_MAX}"
        ))
    }
}

/// Checks a vsw or vnet name: letters, digits, `-`, `_`, `.`, at most
/// [`MAX_NET_NAME`] characters, starting with a letter or digit.
pub fn check_net_name(what: &str, name: &str) -> Result<(), String> {
    crate::domain::check_label(what, name, MAX_NET_NAME)
}

/// One network device of a domain, in the order the domain's definition
/// gives (the guest's device order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VnetSpec {
    /// Device name within the domain.
    pub name: String,
    /// The virtual switch it is plugged into.
    pub switch: String,
    /// Its MAC address, kept for the device's life (across migrations).
    pub mac: Mac,
    /// MTU; the switch's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

/// A virtual switch, as `list-services` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VswView {
    /// Service name, e.g. `primary-vsw0`.
    pub name: String,
    /// Service domain (always `primary`).
    pub ldom: String,
    /// The host interface that is its uplink, if any.
    pub net_dev: Option<String>,
    /// MTU.
    pub mtu: u32,
    /// The bridge's MAC address, if one was given.
    pub mac: Option<Mac>,
    /// The Linux bridge that is the switch on this host.
    pub bridge: String,
    /// Why the switch does not work now, if it does not.
    pub problem: Option<String>,
    /// The vnets plugged into it: `(domain, vnet)`.
    pub used_by: Vec<(String, String)>,
}

/// One vnet of a domain, as `ldm list -o network` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VnetView {
    /// Device name.
    pub name: String,
    /// Virtual switch.
    pub switch: String,
    /// MAC address.
    pub mac: Mac,
    /// MTU in effect.
    pub mtu: u32,
    /// Position in the domain's device order.
    pub id: u32,
    /// The tap device on this host while the domain is bound.
    pub tap: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let m: Mac = "02:4C:44:0a:0b:0c".parse().unwrap();
        assert_eq!(m.to_string(), "02:4c:44:0a:0b:0c");
        assert!(m.in_ldm_range() && m.is_unicast());
        assert!("02:4c:44:0a:0b".parse::<Mac>().is_err());
        assert!("02:4c:44:0a:0b:0c:0d".parse::<Mac>().is_err());
        assert!("02:4c:44:0a:0b:zz".parse::<Mac>().is_err());
        assert!("02:4c:44:0a:0b:100".parse::<Mac>().is_err());
        assert!(parse_unicast_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_unicast_mac("00:00:00:00:00:00").is_err());
        assert_eq!(
            Mac::from_ldm_range(0x0102_0304).to_string(),
            "02:4c:44:02:03:04"
        );
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(j, "\"02:4c:44:0a:0b:0c\"");
        assert_eq!(serde_json::from_str::<Mac>(&j).unwrap(), m);
        assert!(serde_json::from_str::<Mac>("\"nope\"").is_err());
    }

    #[test]
    fn mtus_and_names() {
        assert!(check_mtu(1500).is_ok() && check_mtu(9000).is_ok());
        assert!(check_mtu(1279).is_err() && check_mtu(9001).is_err());
        assert!(check_net_name("vsw", "primary-vsw0").is_ok());
        assert!(check_net_name("vnet", &"n".repeat(33)).is_err());
        assert!(check_net_name("vnet", "-x").is_err());
    }
}

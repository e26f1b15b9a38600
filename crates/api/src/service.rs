//! Virtual services: the console concentrator (vcc).

use serde::{Deserialize, Serialize};

/// A virtual console concentrator: a range of TCP ports for domain consoles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VccView {
    /// Service name, e.g. `primary-vcc0`.
    pub name: String,
    /// Service domain (always `primary`).
    pub ldom: String,
    /// First port of the range.
    pub port_lo: u16,
    /// Last port of the range.
    pub port_hi: u16,
    /// Address the consoles listen on.
    pub address: String,
    /// Ports in use and the domain holding each.
    pub in_use: Vec<(u16, String)>,
    /// Who the TCP console ports admit (`role`: local users identified
    /// per connection and holding the console or management role).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access: String,
}

/// [`VccView::access`] of ports that identify each connecting local user
/// and admit only the console and management roles.
pub const VCC_ACCESS_ROLE: &str = "role";

/// Parses `port-range=A-B` values.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("'{text}' is not a port range: write it as port-range=5000-5099");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("5000-5099"), Ok((5000, 5099)));
        assert_eq!(parse_port_range("5000-5000"), Ok((5000, 5000)));
        assert!(parse_port_range("5099-5000").is_err());
        assert!(parse_port_range("5000").is_err());
        assert!(parse_port_range("a-b").is_err());
        assert!(parse_port_range("0-10").is_err());
    }
}

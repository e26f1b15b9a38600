//! The network verbs' arguments, in Oracle's syntax, turned into requests:
//! `PROPERTY=VALUE` pairs first, then the names.

use ldm_api::network::{parse_unicast_mac, Mac};
use ldm_api::Request;

/// `PROPERTY=VALUE` pairs, then the names.
type Split<'a> = (Vec<(&'a str, &'a str)>, Vec<String>);

/// Splits `args` into properties (`k=v`, known to `allowed`) and the
/// `n` names that end them.
fn split<'a>(
    args: &'a [String],
    n: usize,
    allowed: &[&str],
    usage: &str,
) -> Result<Split<'a>, String> {
    if args.len() < n {
        return Err(format!("write `ldm {usage}`"));
    }
    let (props, names) = args.split_at(args.len() - n);
    if let Some(x) = names.iter().find(|x| x.contains('=')) {
        return Err(format!(
            "'{x}' is in the place of a name: write `ldm {usage}`"
        ));
    }
    let mut out = Vec::new();
    for p in props {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("'{p}' is not PROPERTY=VALUE: write `ldm {usage}`"))?;
        if !allowed.contains(&k) {
            return Err(format!(
                "'{k}' is not a property here: use {}",
                allowed
                    .iter()
                    .map(|a| format!("{a}="))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if out.iter().any(|(o, _)| *o == k) {
            return Err(format!("{k}= is given twice"));
        }
        out.push((k, v));
    }
    Ok((out, names.to_vec()))
}

fn mtu(v: &str) -> Result<u32, String> {
    let m: u32 = v
        .parse()
        .map_err(|_| format!("mtu={v} is not a number: write e.g. mtu=1500"))?;
    ldm_api::network::check_mtu(m)?;
    Ok(m)
}

fn mac(v: &str) -> Result<Mac, String> {
    parse_unicast_mac(v)
}

fn get<'a>(props: &[(&str, &'a str)], k: &str) -> Option<&'a str> {
    props.iter().find(|(p, _)| *p == k).map(|(_, v)| *v)
}

/// `add-vsw [net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary`
pub fn add_vsw(args: &[String]) -> Result<Request, String> {
    let usage = "add-vsw [net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary";
    let (p, names) = split(args, 2, &["net-dev", "mtu", "mac-addr"], usage)?;
    if names[1] != "primary" {
        return Err(format!(
            "services run in the primary domain, not '{}': write `ldm add-vsw … {} primary`",
            names[1], names[0]
        ));
    }
    Ok(Request::AddVsw {
        name: names[0].clone(),
        net_dev: get(&p, "net-dev")
            .map(|d| {
                if d.is_empty() {
                    Err("net-dev= needs an interface name, or leave it out".to_string())
                } else {
                    Ok(d.to_string())
                }
            })
            .transpose()?,
        mtu: get(&p, "mtu").map(mtu).transpose()?,
        mac: get(&p, "mac-addr").map(mac).transpose()?,
    })
}

/// `set-vsw [net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH`
pub fn set_vsw(args: &[String]) -> Result<Request, String> {
    let usage = "set-vsw [net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH";
    let (p, names) = split(args, 1, &["net-dev", "mtu", "mac-addr"], usage)?;
    if p.is_empty() {
        return Err(format!("nothing to change: write `ldm {usage}`"));
    }
    let m = get(&p, "mac-addr");
    Ok(Request::SetVsw {
        name: names[0].clone(),
        net_dev: get(&p, "net-dev").map(str::to_string),
        mtu: get(&p, "mtu").map(mtu).transpose()?,
        mac: m.filter(|v| !v.is_empty()).map(mac).transpose()?,
        clear_mac: m == Some(""),
    })
}

/// `add-vnet [mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN`
pub fn add_vnet(args: &[String]) -> Result<Request, String> {
    let usage = "add-vnet [mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN";
    let (p, names) = split(args, 3, &["mac-addr", "mtu"], usage)?;
    Ok(Request::AddVnet {
        name: names[0].clone(),
        switch: names[1].clone(),
        domain: names[2].clone(),
        mac: get(&p, "mac-addr").map(mac).transpose()?,
        mtu: get(&p, "mtu").map(mtu).transpose()?,
    })
}

/// `set-vnet [mac-addr=MAC] [mtu=[N]] [vswitch=SWITCH] NET DOMAIN`
pub fn set_vnet(args: &[String]) -> Result<Request, String> {
    let usage = "set-vnet [mac-addr=MAC] [mtu=[N]] [vswitch=SWITCH] NET DOMAIN";
    let (p, names) = split(args, 2, &["mac-addr", "mtu", "vswitch"], usage)?;
    if p.is_empty() {
        return Err(format!("nothing to change: write `ldm {usage}`"));
    }
    Ok(Request::SetVnet {
        name: names[0].clone(),
        domain: names[1].clone(),
        switch: get(&p, "vswitch").map(str::to_string),
        mac: get(&p, "mac-addr").map(mac).transpose()?,
        mtu: get(&p, "mtu")
            .filter(|v| !v.is_empty())
            .map(mtu)
            .transpose()?,
        clear_mtu: get(&p, "mtu") == Some(""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn vsw_arguments() {
        let r = add_vsw(&s(&["net-dev=up0", "mtu=9000", "primary-vsw0", "primary"])).unwrap();
        assert_eq!(
            r,
            Request::AddVsw {
                name: "primary-vsw0".into(),
                net_dev: Some("up0".into()),
                mtu: Some(9000),
                mac: None
            }
        );
        assert!(add_vsw(&s(&["primary-vsw0", "ldg1"])).is_err());
        assert!(add_vsw(&s(&["mtu=70000", "v", "primary"])).is_err());
        assert!(add_vsw(&s(&["mac-addr=01:00:5e:00:00:01", "v", "primary"])).is_err());
        assert!(add_vsw(&s(&["speed=10", "v", "primary"])).is_err());
        let r = set_vsw(&s(&["net-dev=", "mac-addr=", "v"])).unwrap();
        assert_eq!(
            r,
            Request::SetVsw {
                name: "v".into(),
                net_dev: Some(String::new()),
                mtu: None,
                mac: None,
                clear_mac: true
            }
        );
        assert!(set_vsw(&s(&["v"])).is_err());
    }

    #[test]
    fn vnet_arguments() {
        let r = add_vnet(&s(&["mac-addr=02:4c:44:00:00:05", "vnet0", "sw", "ldg1"])).unwrap();
        assert_eq!(
            r,
            Request::AddVnet {
                name: "vnet0".into(),
                switch: "sw".into(),
                domain: "ldg1".into(),
                mac: Some("02:4c:44:00:00:05".parse().unwrap()),
                mtu: None
            }
        );
        assert!(add_vnet(&s(&["vnet0", "ldg1"])).is_err());
        assert!(add_vnet(&s(&["mac-addr=zz", "vnet0", "sw", "ldg1"])).is_err());
        assert!(add_vnet(&s(&["vnet0", "sw=x", "ldg1"])).is_err());
        let r = set_vnet(&s(&["mtu=", "vswitch=sw2", "vnet0", "ldg1"])).unwrap();
        assert_eq!(
            r,
            Request::SetVnet {
                name: "vnet0".into(),
                domain: "ldg1".into(),
                switch: Some("sw2".into()),
                mac: None,
                mtu: None,
                clear_mtu: true
            }
        );
    }
}

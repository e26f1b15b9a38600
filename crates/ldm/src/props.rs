//! Oracle-style arguments: `prop=value… NAME`, and migration targets.

/// Splits `prop=value… NAME` into the properties and the name.
pub fn split_props(args: &[String]) -> Result<(Vec<(String, String)>, String), String> {
    let (name, props) = args
        .split_last()
        .ok_or_else(|| "a domain name is required".to_string())?;
    if name.contains('=') {
        return Err(format!(
            "the last argument must be the domain name, not '{name}'"
        ));
    }
    let mut out = Vec::new();
    for p in props {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("'{p}' is not of the form PROPERTY=VALUE"))?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok((out, name.clone()))
}

/// A parsed `[USER@]HOST[:PORT][:NEWNAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Account on the target, if given.
    pub user: Option<String>,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// New name, if given.
    pub new_name: Option<String>,
}

/// Parses a migration target. A part after HOST that is all digits is a port.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let bad = || format!("'{text}' is not a target: write [USER@]HOST[:PORT][:NEWNAME]");
    let (user, rest) = match text.split_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
        Some(_) => return Err(bad()),
        None => (None, text),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let host = parts
        .first()
        .filter(|h| !h.is_empty())
        .ok_or_else(bad)?
        .to_string();
    let mut port = ldm_api::DEFAULT_PEER_PORT;
    let mut new_name = None;
    match parts.len() {
        1 => {}
        2 if parts[1].chars().all(|c| c.is_ascii_digit()) && !parts[1].is_empty() => {
            port = parts[1].parse().map_err(|_| bad())?
        }
        2 => new_name = Some(parts[1].to_string()),
        3 => {
            port = parts[1].parse().map_err(|_| bad())?;
            new_name = Some(parts[2].to_string());
        }
        _ => return Err(bad()),
    }
    if new_name.as_deref() == Some("") {
        return Err(bad());
    }
    Ok(Target {
        user,
        host,
        port,
        new_name,
    })
}

/// Splits `HOST[:PORT]`.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    match text.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => p
            .parse()
            .map(|p| (h.to_string(), p))
            .map_err(|_| format!("'{text}' is not HOST[:PORT]")),
        _ => Ok((text.to_string(), ldm_api::DEFAULT_PEER_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_and_name() {
        let args: Vec<String> = ["cpu-arch=generic", "ldg1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (p, n) = split_props(&args).unwrap();
        assert_eq!(n, "ldg1");
        assert_eq!(p, vec![("cpu-arch".into(), "generic".into())]);
        assert!(split_props(&["ldg1=x".to_string()]).is_err());
        assert!(split_props(&["oops".to_string(), "ldg1".to_string()]).is_err());
        let args: Vec<String> = ["boot-args=console=ttyS0 a=b", "d"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(split_props(&args).unwrap().0[0].1, "console=ttyS0 a=b");
    }

    #[test]
    fn targets() {
        let t = parse_target("admin@127.0.0.2").unwrap();
        assert_eq!(
            (t.user.as_deref(), t.host.as_str(), t.port, t.new_name),
            (Some("admin"), "127.0.0.2", 8101, None)
        );
        let t = parse_target("host:ldg9").unwrap();
        assert_eq!(
            (t.user, t.port, t.new_name.as_deref()),
            (None, 8101, Some("ldg9"))
        );
        let t = parse_target("root@h:9000:new").unwrap();
        assert_eq!((t.port, t.new_name.as_deref()), (9000, Some("new")));
        let t = parse_target("h:9000").unwrap();
        assert_eq!((t.port, t.new_name), (9000, None));
        for bad in ["", "@h", "h:", "a:b:c:d", "h:x:y"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_ports() {
        assert_eq!(parse_host_port("h").unwrap(), ("h".into(), 8101));
        assert_eq!(parse_host_port("h:9").unwrap(), ("h".into(), 9));
        assert!(parse_host_port("h:x").is_err());
    }
}

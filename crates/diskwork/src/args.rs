//! `diskwork=DEVICE,RATE_MIB_S` from the kernel command line.

/// What to write and how fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The block device, e.g. `/dev/vda` or `/dev/disk/by-id/virtio-vdisk1`.
    pub device: String,
    /// Data written per second, MiB.
    pub rate_mib_s: u64,
}

/// The `diskwork=` argument of a kernel command line: `None` when absent,
/// an error saying what is wrong when malformed.
pub fn parse_cmdline(cmdline: &str) -> Option<Result<Config, String>> {
    let v = cmdline
        .split_whitespace()
        .filter_map(|a| a.strip_prefix("diskwork="))
        .next_back()?;
    Some(parse_value(v))
}

/// Parses `DEVICE,RATE_MIB_S`.
pub fn parse_value(v: &str) -> Result<Config, String> {
    let bad =
        || format!("diskwork={v}: write diskwork=DEVICE,RATE_MIB_S, e.g. diskwork=/dev/vda,20");
    let (dev, rate) = v.split_once(',').ok_or_else(bad)?;
    let rate: u64 = rate.parse().map_err(|_| bad())?;
    if !dev.starts_with("/dev/") || rate == 0 || rate > 1024 {
        return Err(bad());
    }
    Ok(Config {
        device: dev.into(),
        rate_mib_s: rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline() {
        let c = parse_cmdline("console=ttyS0 memwork=64,8 diskwork=/dev/vda,20")
            .unwrap()
            .unwrap();
        assert_eq!(c.device, "/dev/vda");
        assert_eq!(c.rate_mib_s, 20);
        assert!(parse_cmdline("memwork=64,8").is_none());
        assert!(parse_cmdline("diskwork=/dev/vda").unwrap().is_err());
        assert!(parse_cmdline("diskwork=vda,1").unwrap().is_err());
        assert!(parse_cmdline("diskwork=/dev/vda,0").unwrap().is_err());
    }
}

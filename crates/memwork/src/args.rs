//! Configuration parsing: `memwork=WORKING_SET_MIB,DIRTY_RATE_MIB_PER_S` on the
//! kernel command line, or `memwork WORKING_SET_MIB DIRTY_RATE_MIB_PER_S` on argv.

use std::fmt;

/// Working set used when nothing (or something malformed) is configured.
pub const DEFAULT_WORKING_SET_MIB: u64 = 64;
/// Dirty rate used when nothing (or something malformed) is configured.
pub const DEFAULT_RATE_MIB_S: u64 = 8;

/// Largest accepted working set (1 TiB); guards against overflow in page maths.
const MAX_WORKING_SET_MIB: u64 = 1 << 20;

/// What the workload should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Size of the memory area that is filled and verified, in MiB (>= 1).
    pub working_set_mib: u64,
    /// How many MiB per second are rewritten; 0 means verify only.
    pub rate_mib_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            working_set_mib: DEFAULT_WORKING_SET_MIB,
            rate_mib_s: DEFAULT_RATE_MIB_S,
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.working_set_mib, self.rate_mib_s)
    }
}

/// A configuration plus an optional warning explaining why defaults were used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub config: Config,
    pub warning: Option<String>,
}

impl Parsed {
    fn ok(config: Config) -> Self {
        Parsed {
            config,
            warning: None,
        }
    }

    fn malformed(what: &str) -> Self {
        Parsed {
            config: Config::default(),
            warning: Some(format!(
                "malformed memwork setting {what:?} (want WORKING_SET_MIB,RATE_MIB_S), using defaults {}",
                Config::default()
            )),
        }
    }
}

fn parse_pair(ws: &str, rate: &str) -> Option<Config> {
    let working_set_mib: u64 = ws.trim().parse().ok()?;
    let rate_mib_s: u64 = rate.trim().parse().ok()?;
    if working_set_mib == 0 || working_set_mib > MAX_WORKING_SET_MIB {
        return None;
    }
    Some(Config {
        working_set_mib,
        rate_mib_s,
    })
}

/// Parses the contents of `/proc/cmdline`. The last `memwork=` token wins (as
/// with most kernel parameters); no token at all yields the defaults silently.
pub fn parse_cmdline(cmdline: &str) -> Parsed {
    let Some(value) = cmdline
        .split_ascii_whitespace()
        .filter_map(|tok| tok.strip_prefix("memwork="))
        .next_back()
    else {
        return Parsed::ok(Config::default());
    };
    let mut parts = value.split(',');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(ws), Some(rate), None) => match parse_pair(ws, rate) {
            Some(config) => Parsed::ok(config),
            None => Parsed::malformed(value),
        },
        _ => Parsed::malformed(value),
    }
}

/// Parses argv (without the program name). `None` when argv is empty, so the
/// caller falls back to the kernel command line.
pub fn parse_argv<S: AsRef<str>>(args: &[S]) -> Option<Parsed> {
    match args {
        [] => None,
        [ws, rate] => Some(match parse_pair(ws.as_ref(), rate.as_ref()) {
            Some(config) => Parsed::ok(config),
            None => Parsed::malformed(&format!("{} {}", ws.as_ref(), rate.as_ref())),
        }),
        // Also accept the cmdline syntax on argv: `memwork 64,8` / `memwork memwork=64,8`.
        [one] => {
            let one = one.as_ref();
            let value = one.strip_prefix("memwork=").unwrap_or(one);
            Some(parse_cmdline(&format!("memwork={value}")))
        }
        _ => {
            let joined: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
            Some(Parsed::malformed(&joined.join(" ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(working_set_mib: u64, rate_mib_s: u64) -> Config {
        Config {
            working_set_mib,
            rate_mib_s,
        }
    }

    #[test]
    fn cmdline_present() {
        let p = parse_cmdline("console=ttyS0 panic=-1 quiet memwork=256,100\n");
        assert_eq!(p.config, cfg(256, 100));
        assert!(p.warning.is_none());
    }

    #[test]
    fn cmdline_rate_zero_is_valid() {
        let p = parse_cmdline("memwork=16,0");
        assert_eq!(p.config, cfg(16, 0));
        assert!(p.warning.is_none());
    }

    #[test]
    fn cmdline_last_wins() {
        assert_eq!(parse_cmdline("memwork=1,1 x memwork=2,3").config, cfg(2, 3));
    }

    #[test]
    fn cmdline_absent_gives_defaults_without_warning() {
        let p = parse_cmdline("BOOT_IMAGE=/vmlinuz console=ttyS0 memworkx=1,2 quiet");
        assert_eq!(p.config, Config::default());
        assert_eq!(p.config, cfg(64, 8));
        assert!(p.warning.is_none());
        assert_eq!(parse_cmdline("").config, Config::default());
    }

    #[test]
    fn cmdline_malformed_gives_defaults_with_warning() {
        for bad in [
            "memwork=",
            "memwork=64",
            "memwork=64,",
            "memwork=,8",
            "memwork=a,b",
            "memwork=64,8,1",
            "memwork=-1,8",
            "memwork=0,8",
            "memwork=64,-8",
            "memwork=99999999999,1",
        ] {
            let p = parse_cmdline(&format!("console=ttyS0 {bad}"));
            assert_eq!(p.config, Config::default(), "{bad}");
            let w = p.warning.unwrap_or_else(|| panic!("no warning for {bad}"));
            assert!(w.contains("malformed"), "{w}");
        }
    }

    #[test]
    fn argv_forms() {
        let none: [&str; 0] = [];
        assert_eq!(parse_argv(&none), None);
        assert_eq!(parse_argv(&["64", "8"]).unwrap().config, cfg(64, 8));
        assert_eq!(parse_argv(&["32", "0"]).unwrap().config, cfg(32, 0));
        assert_eq!(parse_argv(&["128,4"]).unwrap().config, cfg(128, 4));
        assert_eq!(parse_argv(&["memwork=128,4"]).unwrap().config, cfg(128, 4));
        let bad = parse_argv(&["x", "8"]).unwrap();
        assert_eq!(bad.config, Config::default());
        assert!(bad.warning.is_some());
        assert!(parse_argv(&["1", "2", "3"]).unwrap().warning.is_some());
    }
}

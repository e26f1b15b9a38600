//! Reading what `ldm list` prints.

use crate::host::Host;
use std::collections::BTreeMap;

/// The `DOMAIN|k=v|…` lines of `ldm list -p`, each as a map (other lines,
/// such as `VERSION 1.6` or the sections of `-l -p`, are skipped).
pub fn parse_parseable(stdout: &str) -> Vec<BTreeMap<String, String>> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("DOMAIN|"))
        .map(|rest| {
            rest.split('|')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// One row of the plain `ldm list` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// NAME
    pub name: String,
    /// STATE
    pub state: String,
    /// FLAGS
    pub flags: String,
    /// CONS (empty when unbound)
    pub cons: String,
    /// VCPU
    pub vcpu: String,
    /// MEMORY
    pub memory: String,
    /// UTIL
    pub util: String,
    /// NORM (UTIL normalised to the host's CPUs)
    pub norm: String,
    /// UPTIME
    pub uptime: String,
}

/// Parses the plain table (after its header line). CONS is empty for unbound
/// domains, UTIL, NORM and UPTIME for stopped ones; MEMORY always ends with a unit.
pub fn parse_table(stdout: &str) -> Vec<TableRow> {
    let is_size = |t: &str| t.ends_with(['M', 'G', 'T']) && t[..t.len() - 1].parse::<u64>().is_ok();
    stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let get = |i: usize| t.get(i).copied().unwrap_or("").to_string();
            let (cons, vcpu, mem_at) = if t.get(4).is_some_and(|x| is_size(x)) {
                (String::new(), get(3), 4)
            } else {
                (get(3), get(4), 5)
            };
            let mut rest = mem_at + 1;
            let mut percent = || {
                if t.get(rest).is_some_and(|x| x.ends_with('%')) {
                    rest += 1;
                    get(rest - 1)
                } else {
                    String::new()
                }
            };
            let util = percent();
            let norm = percent();
            TableRow {
                name: get(0),
                state: get(1),
                flags: get(2),
                cons,
                vcpu,
                memory: get(mem_at),
                util,
                norm,
                uptime: t.get(rest..).map(|r| r.join(" ")).unwrap_or_default(),
            }
        })
        .collect()
}

/// `ldm list -l NAME` on `host`; panics if it fails.
#[track_caller]
pub fn long_listing(host: &Host, name: &str) -> String {
    let out = host.ldm(&["list", "-l", name]);
    out.ok();
    out.stdout
}

/// The QEMU pid of a running domain, as `ldm list -l NAME` shows it (`pid=` in
/// the CONTROL section).
pub fn qemu_pid(host: &Host, name: &str) -> Option<u32> {
    long_listing(host, name)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .and_then(|p| p.parse().ok())
}

/// Everything an administrator can see of a host's configuration that must not
/// change on a refused command: domains (`list -l -p`, without the primary's
/// line and with UTIL and UPTIME masked: they change by themselves),
/// services and free resources.
pub fn snapshot(host: &Host) -> String {
    let mut s = String::new();
    for args in [
        &["list", "-l", "-p"][..],
        &["list-services", "-p"],
        &["list-devices", "-p"],
    ] {
        let out = host.ldm(args);
        out.ok();
        for l in out.stdout.lines() {
            if l.starts_with("DOMAIN|name=primary|") {
                continue;
            }
            if l.starts_with("DOMAIN|") {
                // UTIL and UPTIME of running domains change by themselves.
                let fields: Vec<&str> = l
                    .split('|')
                    .map(|f| match f.split_once('=') {
                        Some(("util", _)) => "util=*",
                        Some(("uptime", _)) => "uptime=*",
                        Some(("norm_util", _)) => "norm_util=*",
                        _ => f,
                    })
                    .collect();
                s.push_str(&fields.join("|"));
            } else {
                s.push_str(l);
            }
            s.push('\n');
        }
    }
    s
}

/// The fields of domain `name` in `ldm list -p NAME`; asserts the command
/// worked and printed the format's `VERSION 1.6` line first.
#[track_caller]
pub fn domain(host: &Host, name: &str) -> BTreeMap<String, String> {
    let out = host.ldm(&["list", "-p", name]);
    out.ok();
    assert_eq!(
        out.stdout.lines().next(),
        Some("VERSION 1.6"),
        "{}",
        out.stdout
    );
    parse_parseable(&out.stdout)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no DOMAIN line for {name}:\n{}", out.stdout))
}

/// Every domain in `ldm list -p` (the primary included), by name.
#[track_caller]
pub fn domains(host: &Host) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = host.ldm(&["list", "-p"]);
    out.ok();
    parse_parseable(&out.stdout)
        .into_iter()
        .map(|d| (d["name"].clone(), d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parseable_and_table() {
        let p = "VERSION 1.6\nDOMAIN|name=primary|state=active|flags=-n-cv-|cons=UART|ncpu=2|mem=1|util=3.0|uptime=9\n\
                 DOMAIN|name=ldg1|state=inactive|flags=------|cons=|ncpu=1|mem=536870912|util=|uptime=\n";
        let d = parse_parseable(p);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1]["name"], "ldg1");
        assert_eq!(d[1]["cons"], "");
        let t = "NAME             STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  NORM  UPTIME\n\
                 primary          active     -n-cv-  UART    2     1G       76.0% 76.0% 15m\n\
                 ldg1             active     -n----  5600    2     512M      0.0%  0.0% 0s\n\
                 ldg2             inactive   ------          1     512M\n";
        let rows = parse_table(t);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].cons, "5600");
        assert_eq!(rows[1].util, "0.0%");
        assert_eq!(rows[1].norm, "0.0%");
        assert_eq!(rows[1].uptime, "0s");
        assert_eq!(rows[1].memory, "512M");
        assert_eq!(rows[2].cons, "");
        assert_eq!(rows[2].vcpu, "1");
        assert_eq!(rows[2].uptime, "");
    }
}

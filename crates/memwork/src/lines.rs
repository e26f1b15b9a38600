//! Reading the lines memwork prints (see `report` in the binary for how
//! they are written). The ldm tests and the benchmark read a guest's console
//! with these:
//!
//! ```text
//! memwork start cpus=C mem_total_kib=K working_set_mib=W rate_mib_s=R
//! memwork seq=N gen=G dirtied_mib=D errors=E status=OK uptime=U.UU cpus=C mem_mib=M
//! ```
//!
//! `cpus` (online CPUs) and `mem_mib` (MemTotal) are absent from the lines
//! of older memwork builds; they parse as `None`.

use std::collections::BTreeMap;

/// One per-second status line.
#[derive(Debug, Clone, PartialEq)]
pub struct MemworkLine {
    /// Sequence number (1, 2, …).
    pub seq: u64,
    /// Page rewrites since start.
    pub gen: u64,
    /// MiB dirtied since start.
    pub dirtied_mib: u64,
    /// Pages found with a wrong content.
    pub errors: u64,
    /// `OK` or `BAD`.
    pub status: String,
    /// Guest uptime, seconds.
    pub uptime: f64,
    /// Online CPUs the guest reports (absent from older lines).
    pub cpus: Option<u64>,
    /// The guest's MemTotal in MiB (absent from older lines).
    pub mem_mib: Option<u64>,
}

/// The `memwork start` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemworkStart {
    /// CPUs the guest sees.
    pub cpus: u64,
    /// Guest MemTotal, KiB.
    pub mem_total_kib: u64,
    /// Working set, MiB.
    pub working_set_mib: u64,
    /// Dirtying rate, MiB/s.
    pub rate_mib_s: u64,
}

fn fields(s: &str) -> BTreeMap<&str, &str> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn num(f: &BTreeMap<&str, &str>, k: &str) -> Option<u64> {
    f.get(k)?.parse().ok()
}

impl MemworkLine {
    /// Parses one console line; the status part may be preceded by other
    /// output on the same line (a shell prompt, say).
    pub fn parse(line: &str) -> Option<MemworkLine> {
        let at = line.find("memwork seq=")?;
        let f = fields(line[at + "memwork ".len()..].trim_end_matches(['\r', '\n']));
        Some(MemworkLine {
            seq: num(&f, "seq")?,
            gen: num(&f, "gen")?,
            dirtied_mib: num(&f, "dirtied_mib")?,
            errors: num(&f, "errors")?,
            status: f.get("status")?.to_string(),
            uptime: f.get("uptime")?.parse().ok()?,
            cpus: num(&f, "cpus"),
            mem_mib: num(&f, "mem_mib"),
        })
    }
}

impl MemworkLine {
    /// Whether the guest's verifier found its memory intact so far.
    pub fn healthy(&self) -> bool {
        self.errors == 0 && self.status == "OK"
    }

    /// The line as memwork prints it (without the line end).
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "memwork seq={} gen={} dirtied_mib={} errors={} status={} uptime={:.2}",
            self.seq, self.gen, self.dirtied_mib, self.errors, self.status, self.uptime
        );
        if let Some(c) = self.cpus {
            s.push_str(&format!(" cpus={c}"));
        }
        if let Some(m) = self.mem_mib {
            s.push_str(&format!(" mem_mib={m}"));
        }
        s
    }
}

impl MemworkStart {
    /// Parses a `memwork start …` line.
    pub fn parse(line: &str) -> Option<MemworkStart> {
        let at = line.find("memwork start ")?;
        let f = fields(&line[at + "memwork start ".len()..]);
        Some(MemworkStart {
            cpus: num(&f, "cpus")?,
            mem_total_kib: num(&f, "mem_total_kib")?,
            working_set_mib: num(&f, "working_set_mib")?,
            rate_mib_s: num(&f, "rate_mib_s")?,
        })
    }
}

/// Every status line of `text`, in order.
pub fn memwork_lines(text: &str) -> Vec<MemworkLine> {
    text.lines().filter_map(MemworkLine::parse).collect()
}

/// The last status line of `text`.
pub fn last_memwork(text: &str) -> Option<MemworkLine> {
    text.lines().rev().find_map(MemworkLine::parse)
}

/// The last `memwork start` line of `text`.
pub fn memwork_start(text: &str) -> Option<MemworkStart> {
    text.lines().rev().find_map(MemworkStart::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "guest: booted cpus=2\r\nmemwork start cpus=2 mem_total_kib=480040 working_set_mib=64 rate_mib_s=8\r\n\
                    memwork seq=1 gen=2045 dirtied_mib=7 errors=0 status=OK uptime=3.67\r\n\
                    ldm-guest:/# \x1b[6nmemwork seq=2 gen=4096 dirtied_mib=16 errors=0 status=OK uptime=4.67\r\n\
                    memwork seq=3 gen=61\r\n\
                    memwork seq=4 gen=4300 dirtied_mib=16 errors=0 status=OK uptime=5.67 cpus=3 mem_mib=1502\r\n\
                    memwork seq=5 gen=45";
        let all = memwork_lines(text);
        assert_eq!(all.len(), 3, "a cut-off line is no line");
        // Older lines have no cpus= or mem_mib=; newer ones do.
        assert_eq!((all[0].cpus, all[0].mem_mib), (None, None));
        assert_eq!((all[2].cpus, all[2].mem_mib), (Some(3), Some(1502)));
        assert!(text.contains(&all[2].to_line()));
        assert!(text.contains(&all[1].to_line()));
        assert_eq!(
            all[1],
            MemworkLine {
                seq: 2,
                gen: 4096,
                dirtied_mib: 16,
                errors: 0,
                status: "OK".into(),
                uptime: 4.67,
                cpus: None,
                mem_mib: None,
            }
        );
        let s = memwork_start(text).unwrap();
        assert_eq!(
            (s.cpus, s.mem_total_kib, s.working_set_mib, s.rate_mib_s),
            (2, 480040, 64, 8)
        );
        assert_eq!(last_memwork("nothing here"), None);
        let l = last_memwork(text).unwrap();
        assert!(text.contains(&l.to_line()));
    }
}

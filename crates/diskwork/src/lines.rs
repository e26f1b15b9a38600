//! The lines diskwork prints, written and read here (the writer in the
//! guest and the tests and benchmark on the host use the same functions):
//!
//! ```text
//! diskwork start dev=D size_mib=S blocks=B rate_mib_s=R resumed=yes|no written_blocks=K
//! diskwork seq=N written_mib=W errors=E status=OK sweeps=P
//! diskwork error block=I expected_gen=G found_block=J found_gen=H
//! ```
//!
//! `resumed=yes` when the disk held diskwork's map from an earlier boot;
//! `written_blocks` then counts the blocks it wrote. `sweeps` counts
//! complete verifications of every written block since this start.

use std::collections::BTreeMap;
use std::fmt;

/// One per-second status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskworkLine {
    /// Sequence number (1, 2, …).
    pub seq: u64,
    /// MiB written since this start.
    pub written_mib: u64,
    /// Blocks found with wrong contents.
    pub errors: u64,
    /// `OK`, or `BAD` once errors > 0.
    pub status: String,
    /// Complete verification passes since this start.
    pub sweeps: u64,
}

impl fmt::Display for DiskworkLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "diskwork seq={} written_mib={} errors={} status={} sweeps={}",
            self.seq, self.written_mib, self.errors, self.status, self.sweeps
        )
    }
}

/// The status a count of errors gives.
pub fn status(errors: u64) -> &'static str {
    if errors == 0 {
        "OK"
    } else {
        "BAD"
    }
}

/// The `diskwork start` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskworkStart {
    /// Device.
    pub dev: String,
    /// Device size, MiB.
    pub size_mib: u64,
    /// Data blocks.
    pub blocks: u64,
    /// Write rate, MiB/s.
    pub rate_mib_s: u64,
    /// The disk held the map of an earlier boot.
    pub resumed: bool,
    /// Blocks an earlier boot wrote.
    pub written_blocks: u64,
}

impl fmt::Display for DiskworkStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "diskwork start dev={} size_mib={} blocks={} rate_mib_s={} resumed={} written_blocks={}",
            self.dev,
            self.size_mib,
            self.blocks,
            self.rate_mib_s,
            if self.resumed { "yes" } else { "no" },
            self.written_blocks
        )
    }
}

fn fields(s: &str) -> BTreeMap<&str, &str> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn num(f: &BTreeMap<&str, &str>, k: &str) -> Option<u64> {
    f.get(k)?.parse().ok()
}

impl DiskworkLine {
    /// Parses one console line; other output may precede it on the line.
    pub fn parse(line: &str) -> Option<DiskworkLine> {
        let at = line.find("diskwork seq=")?;
        let f = fields(line[at..].trim_end_matches(['\r', '\n']));
        let status = f.get("status")?.to_string();
        if status != "OK" && status != "BAD" {
            return None;
        }
        Some(DiskworkLine {
            seq: num(&f, "seq")?,
            written_mib: num(&f, "written_mib")?,
            errors: num(&f, "errors")?,
            status,
            sweeps: num(&f, "sweeps").unwrap_or(0),
        })
    }
}

impl DiskworkStart {
    /// Parses a `diskwork start` line.
    pub fn parse(line: &str) -> Option<DiskworkStart> {
        let at = line.find("diskwork start ")?;
        let f = fields(&line[at..]);
        Some(DiskworkStart {
            dev: f.get("dev")?.to_string(),
            size_mib: num(&f, "size_mib")?,
            blocks: num(&f, "blocks")?,
            rate_mib_s: num(&f, "rate_mib_s")?,
            resumed: *f.get("resumed")? == "yes",
            written_blocks: num(&f, "written_blocks")?,
        })
    }
}

/// Every status line in `text`, in order.
pub fn diskwork_lines(text: &str) -> Vec<DiskworkLine> {
    text.lines().filter_map(DiskworkLine::parse).collect()
}

/// Every start line in `text`, in order.
pub fn diskwork_starts(text: &str) -> Vec<DiskworkStart> {
    text.lines().filter_map(DiskworkStart::parse).collect()
}

/// The last status line in `text`.
pub fn last_diskwork(text: &str) -> Option<DiskworkLine> {
    text.lines().rev().find_map(DiskworkLine::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_lines_parse_back() {
        let l = DiskworkLine {
            seq: 12,
            written_mib: 240,
            errors: 0,
            status: status(0).into(),
            sweeps: 3,
        };
        assert_eq!(
            l.to_string(),
            "diskwork seq=12 written_mib=240 errors=0 status=OK sweeps=3"
        );
        assert_eq!(DiskworkLine::parse(&format!("ldm-guest:~# {l}\r")), Some(l));
        let s = DiskworkStart {
            dev: "/dev/vda".into(),
            size_mib: 1024,
            blocks: 16382,
            rate_mib_s: 20,
            resumed: true,
            written_blocks: 900,
        };
        assert_eq!(DiskworkStart::parse(&s.to_string()), Some(s));
    }

    #[test]
    fn other_lines_are_not_status_lines() {
        assert!(DiskworkLine::parse(
            "memwork seq=1 gen=1 dirtied_mib=1 errors=0 status=OK uptime=1"
        )
        .is_none());
        assert!(
            DiskworkLine::parse("diskwork seq=1 written_mib=1 errors=0 status=MAYBE").is_none()
        );
        assert!(DiskworkLine::parse("diskwork seq=x written_mib=1 errors=0 status=OK").is_none());
        assert_eq!(status(2), "BAD");
        let text = "a\ndiskwork seq=1 written_mib=0 errors=0 status=OK\nb\ndiskwork seq=2 written_mib=1 errors=1 status=BAD sweeps=0\n";
        assert_eq!(diskwork_lines(text).len(), 2);
        assert_eq!(last_diskwork(text).unwrap().status, "BAD");
    }
}

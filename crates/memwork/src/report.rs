//! The lines memwork prints. Tests and the ldm test-suite parse these, so the
//! formats are fixed:
//!
//! ```text
//! memwork start cpus=C mem_total_kib=K working_set_mib=W rate_mib_s=R
//! memwork seq=N gen=G dirtied_mib=D errors=E status=OK uptime=U.UU cpus=C mem_mib=M
//! memwork error page=P expected_gen=G
//! ```
//!
//! `gen` is the total number of page rewrites since start (the sum of all
//! per-page generation counters), `dirtied_mib` is `gen * 4 KiB` in whole MiB
//! (rounded down), `status` is `BAD` as soon as `errors` > 0, and `uptime` is
//! the first field of `/proc/uptime` with two decimals. `cpus` is the number
//! of online CPUs and `mem_mib` the guest's MemTotal in whole MiB, both read
//! anew for each line, so CPUs and memory added or removed while the guest
//! runs show at once (lines before they were added end at `uptime`).

use std::io::Write;

use crate::args::Config;
use crate::pattern::PAGE_SIZE;
use crate::workload::PageError;

/// At most this many `memwork error` lines are printed per status interval.
pub const MAX_ERROR_LINES_PER_INTERVAL: u32 = 10;

/// One per-second status report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub seq: u64,
    pub rewrites: u64,
    pub errors: u64,
    pub uptime_secs: f64,
    /// Online CPUs.
    pub cpus: usize,
    /// MemTotal, KiB.
    pub mem_total_kib: u64,
}

impl Status {
    pub fn dirtied_mib(&self) -> u64 {
        self.rewrites * PAGE_SIZE as u64 / (1024 * 1024)
    }
}

pub fn start_line(cpus: usize, mem_total_kib: u64, config: &Config) -> String {
    format!(
        "memwork start cpus={cpus} mem_total_kib={mem_total_kib} working_set_mib={} rate_mib_s={}",
        config.working_set_mib, config.rate_mib_s
    )
}

pub fn status_line(s: &Status) -> String {
    format!(
        "memwork seq={} gen={} dirtied_mib={} errors={} status={} uptime={:.2} cpus={} mem_mib={}",
        s.seq,
        s.rewrites,
        s.dirtied_mib(),
        s.errors,
        if s.errors == 0 { "OK" } else { "BAD" },
        s.uptime_secs,
        s.cpus,
        s.mem_total_kib / 1024
    )
}

pub fn error_line(e: &PageError) -> String {
    format!(
        "memwork error page={} expected_gen={}",
        e.page, e.expected_gen
    )
}

/// Writes whole lines and flushes after each; output errors are ignored (the
/// console going away must not stop the workload).
pub struct Reporter<W: Write> {
    out: W,
    error_lines_left: u32,
}

impl<W: Write> Reporter<W> {
    pub fn new(out: W) -> Self {
        Reporter {
            out,
            error_lines_left: MAX_ERROR_LINES_PER_INTERVAL,
        }
    }

    pub fn line(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    /// Prints error lines, at most [`MAX_ERROR_LINES_PER_INTERVAL`] per interval.
    pub fn errors(&mut self, errors: &[PageError]) {
        for e in errors {
            if self.error_lines_left == 0 {
                return;
            }
            self.error_lines_left -= 1;
            self.line(&error_line(e));
        }
    }

    /// Prints a status line and starts a new error-line interval.
    pub fn status(&mut self, s: &Status) {
        self.line(&status_line(s));
        self.error_lines_left = MAX_ERROR_LINES_PER_INTERVAL;
    }

    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_ok() {
        let s = Status {
            seq: 1,
            rewrites: 2048,
            errors: 0,
            uptime_secs: 3.456,
            cpus: 3,
            mem_total_kib: 1_536_000,
        };
        assert_eq!(
            status_line(&s),
            "memwork seq=1 gen=2048 dirtied_mib=8 errors=0 status=OK uptime=3.46 cpus=3 mem_mib=1500"
        );
    }

    #[test]
    fn status_line_bad() {
        let s = Status {
            seq: 42,
            rewrites: 255,
            errors: 3,
            uptime_secs: 100.0,
            cpus: 1,
            mem_total_kib: 480_000,
        };
        assert_eq!(
            status_line(&s),
            "memwork seq=42 gen=255 dirtied_mib=0 errors=3 status=BAD uptime=100.00 cpus=1 mem_mib=468"
        );
        // What is written here is what the readers (memwork::lines) read.
        let back = memwork::MemworkLine::parse(&status_line(&s)).unwrap();
        assert_eq!(
            (back.seq, back.gen, back.errors, back.healthy()),
            (42, 255, 3, false)
        );
        assert_eq!((back.cpus, back.mem_mib), (Some(1), Some(468)));
    }

    #[test]
    fn start_and_error_lines() {
        let c = Config {
            working_set_mib: 256,
            rate_mib_s: 100,
        };
        assert_eq!(
            start_line(2, 492_000, &c),
            "memwork start cpus=2 mem_total_kib=492000 working_set_mib=256 rate_mib_s=100"
        );
        assert_eq!(
            error_line(&PageError {
                page: 17,
                expected_gen: 4
            }),
            "memwork error page=17 expected_gen=4"
        );
    }

    #[test]
    fn error_lines_rate_limited_per_interval() {
        let errs: Vec<PageError> = (0..25)
            .map(|page| PageError {
                page,
                expected_gen: 0,
            })
            .collect();
        let mut r = Reporter::new(Vec::new());
        r.errors(&errs);
        r.errors(&errs);
        r.status(&Status {
            seq: 1,
            rewrites: 0,
            errors: 50,
            uptime_secs: 1.0,
            cpus: 1,
            mem_total_kib: 0,
        });
        r.errors(&errs[..3]);
        let out = String::from_utf8(r.into_inner()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 10 + 1 + 3);
        assert!(lines[..10]
            .iter()
            .all(|l| l.starts_with("memwork error page=")));
        assert!(lines[10].starts_with("memwork seq=1 "));
        assert!(out.ends_with('\n'));
    }
}

//! Reading memwork's console lines and judging a migration by them.
//!
//! ```text
//! memwork start cpus=C mem_total_kib=K working_set_mib=W rate_mib_s=R
//! memwork seq=N gen=G dirtied_mib=D errors=E status=OK uptime=U.UU
//! memwork error page=P expected_gen=G
//! ```

use memwork::MemworkLine;
use std::fmt;

/// What a console transcript says about memwork.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    /// The last status line.
    pub last: Option<MemworkLine>,
    /// Highest seq printed after the last `memwork start` line (0 if none).
    pub seq_since_start: u64,
    /// A `memwork error` line, a non-zero `errors` or `status=BAD` was seen.
    pub bad: bool,
}

impl Scan {
    /// Scans complete lines only: a line still being written is ignored.
    pub fn of(text: &str) -> Scan {
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        let mut scan = Scan::default();
        let mut started = false;
        for line in complete.lines() {
            if line.contains("memwork start ") {
                started = true;
                scan.seq_since_start = 0;
            } else if line.contains("memwork error ") {
                scan.bad = true;
            } else if let Some(s) = MemworkLine::parse(line) {
                if started {
                    scan.seq_since_start = scan.seq_since_start.max(s.seq);
                }
                scan.bad |= !s.healthy();
                scan.last = Some(s);
            }
        }
        scan
    }

    /// The last seq printed, 0 if none.
    pub fn last_seq(&self) -> u64 {
        self.last.as_ref().map_or(0, |s| s.seq)
    }
}

/// The guest's own judgement of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub ok: bool,
    /// Last seq seen on the source.
    pub from_seq: u64,
    /// Last seq seen on the destination, a few seconds after the move.
    pub to_seq: u64,
    /// `errors` of the last line.
    pub errors: u64,
    /// Why it is not OK (empty when OK).
    pub problem: String,
}

impl Verdict {
    /// Judges the destination transcript `after`, taken a few seconds
    /// after the migration finished. `from_seq` is the last seq seen on
    /// the source; `handoff_seq` the last seq on the destination right
    /// after the migration (the guest must have printed more since).
    pub fn judge(from_seq: u64, handoff_seq: u64, after: &Scan) -> Verdict {
        let to_seq = after.last_seq();
        let errors = after.last.as_ref().map_or(0, |s| s.errors);
        let problem = match &after.last {
            None => "no memwork line on the destination".to_string(),
            Some(s) if !s.healthy() => {
                format!("last line says errors={} status={}", s.errors, s.status)
            }
            Some(_) if after.bad => "a memwork error or status=BAD line was printed".to_string(),
            Some(_) if to_seq <= from_seq => {
                format!("seq did not continue ({from_seq} -> {to_seq})")
            }
            Some(_) if to_seq <= handoff_seq => {
                format!("guest stopped printing on the destination (seq stuck at {to_seq})")
            }
            Some(_) => String::new(),
        };
        Verdict {
            ok: problem.is_empty(),
            from_seq,
            to_seq,
            errors,
            problem,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok {
            write!(
                f,
                "OK (seq {} -> {}, errors={})",
                self.from_seq, self.to_seq, self.errors
            )
        } else {
            write!(f, "BAD ({})", self.problem)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "boot\r\nmemwork start cpus=1 mem_total_kib=1 working_set_mib=64 rate_mib_s=1\r\n\
        memwork seq=1 gen=2 dirtied_mib=0 errors=0 status=OK uptime=3.10\r\n\
        # memwork seq=2 gen=4 dirtied_mib=0 errors=0 status=OK uptime=4.10\r\n\
        memwork seq=3 gen=6";

    #[test]
    fn scans_complete_lines() {
        let s = Scan::of(TEXT);
        assert_eq!(s.last_seq(), 2);
        assert_eq!(s.seq_since_start, 2);
        assert!(!s.bad);
        assert_eq!(Scan::of("memwork seq=1 gen=1"), Scan::default());
    }

    #[test]
    fn restart_resets_progress() {
        let t = format!("{TEXT}\nmemwork start cpus=1\n");
        assert_eq!(Scan::of(&t).seq_since_start, 0);
    }

    #[test]
    fn verdicts() {
        let after = Scan::of("memwork seq=9 gen=1 dirtied_mib=0 errors=0 status=OK uptime=1\n");
        let v = Verdict::judge(5, 6, &after);
        assert!(v.ok);
        assert_eq!(v.to_string(), "OK (seq 5 -> 9, errors=0)");
        assert!(!Verdict::judge(9, 0, &after).ok);
        assert!(!Verdict::judge(5, 9, &after).ok);
        let bad = Scan::of("memwork seq=9 gen=1 dirtied_mib=0 errors=2 status=BAD uptime=1\n");
        assert!(bad.bad);
        assert!(Verdict::judge(5, 6, &bad).to_string().starts_with("BAD"));
        let err = Scan::of(
            "memwork error page=3 expected_gen=1\nmemwork seq=9 gen=1 dirtied_mib=0 errors=0 status=OK uptime=1\n",
        );
        assert!(!Verdict::judge(5, 6, &err).ok);
    }
}

//! The soak: one domain live-migrated back and forth between two lab hosts
//! many times, its verifier checked after each move (`ldm-soak`,
//! `scripts/soak`).

use crate::guest::{boot_domain, guest_lock, wait_for_memwork, FIRST_LINE_TIMEOUT};
use crate::lab::{Lab, LabOpts};
use crate::listing::domains;
use crate::memwork::{last_memwork, MemworkLine};
use std::time::{Duration, Instant};

/// The domain that moves.
const NAME: &str = "ldg1";
/// How long the guest may take to show progress on its new host.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to soak.
#[derive(Debug, Clone)]
pub struct SoakOpts {
    /// Number of moves.
    pub moves: u32,
    /// The domain's memory (`set-memory`).
    pub memory: String,
    /// memwork's `SIZE,RATE`.
    pub memwork: String,
    /// One JSON line per move instead of text.
    pub json: bool,
}

/// The result of a soak.
#[derive(Debug, Default)]
pub struct Report {
    /// Moves attempted.
    pub moves: u32,
    /// Moves that failed (migration refused or failed, or the verifier
    /// not OK afterwards).
    pub failures: u32,
    /// Wall-clock time of each successful `migrate-domain`, ms.
    pub total_ms: Vec<u64>,
    /// The downtime ldm reported for each successful move, ms.
    pub downtime_ms: Vec<u64>,
}

impl Report {
    /// A few lines for people.
    pub fn summary(&self) -> String {
        format!(
            "soak: {} moves, {} failures\n  time      min/median/max {} ms\n  downtime  min/median/max {} ms",
            self.moves,
            self.failures,
            spread(&self.total_ms),
            spread(&self.downtime_ms)
        )
    }
}

/// `min/median/max` of `v`, or `-` if empty.
fn spread(v: &[u64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    format!("{}/{}/{}", s[0], s[s.len() / 2], s[s.len() - 1])
}

/// Runs the soak; stops early only if the domain runs nowhere.
pub fn run(opts: &SoakOpts) -> Report {
    let _lock = guest_lock();
    let lab = Lab::start(LabOpts::hosts(2));
    boot_domain(lab.host(0), NAME, 1, &opts.memory, &opts.memwork);
    let mut last = wait_for_memwork(lab.host(0), NAME, 2, FIRST_LINE_TIMEOUT);
    let mut at = 0;
    let mut report = Report::default();
    for n in 1..=opts.moves {
        report.moves = n;
        let to = 1 - at;
        let t0 = Instant::now();
        let out = lab.migrate(at, to, NAME, &["--json"]);
        let total_ms = t0.elapsed().as_millis() as u64;
        let result = if out.success() {
            let downtime = serde_json::from_str::<serde_json::Value>(&out.stdout)
                .ok()
                .and_then(|v| v["downtime_ms"].as_u64());
            verify(&lab, to, &last).map(|line| (line, downtime))
        } else {
            Err(format!("migrate-domain failed: {}", out.stderr.trim()))
        };
        match result {
            Ok((line, downtime)) => {
                report.total_ms.push(total_ms);
                report.downtime_ms.extend(downtime);
                print_move(opts, n, at, to, total_ms, downtime, None);
                last = line;
                at = to;
            }
            Err(e) => {
                report.failures += 1;
                print_move(opts, n, at, to, total_ms, None, Some(&e));
                match where_it_runs(&lab) {
                    Some(h) => at = h,
                    None => {
                        eprintln!("soak: {NAME} runs on neither host; stopping");
                        break;
                    }
                }
            }
        }
    }
    report
}

/// Waits for a memwork line past `after` on host `i`, with no errors.
fn verify(lab: &Lab, i: usize, after: &MemworkLine) -> Result<MemworkLine, String> {
    let end = Instant::now() + VERIFY_TIMEOUT;
    loop {
        let out = lab.host(i).ldm(&["console", "--dump", NAME]);
        if let Some(l) = last_memwork(&out.stdout).filter(|l| l.seq >= after.seq + 2) {
            if l.errors != 0 || l.status != "OK" {
                return Err(format!("memwork reports errors: {}", l.to_line()));
            }
            return Ok(l);
        }
        if Instant::now() > end {
            return Err(format!(
                "no memwork progress past seq {} within {VERIFY_TIMEOUT:?}",
                after.seq
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The host that lists the domain active, if one does.
fn where_it_runs(lab: &Lab) -> Option<usize> {
    (0..2).find(|&i| {
        domains(lab.host(i))
            .get(NAME)
            .is_some_and(|r| r["state"] == "active" && r["flags"] == "-n----")
    })
}

fn print_move(
    opts: &SoakOpts,
    n: u32,
    from: usize,
    to: usize,
    total_ms: u64,
    downtime_ms: Option<u64>,
    error: Option<&str>,
) {
    if opts.json {
        let v = serde_json::json!({
            "move": n, "from": from, "to": to, "ok": error.is_none(),
            "total_ms": total_ms, "downtime_ms": downtime_ms, "error": error,
        });
        println!("{v}");
    } else {
        let what = match (error, downtime_ms) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, Some(d)) => format!("ok, downtime {d} ms"),
            (None, None) => "ok".into(),
        };
        println!(
            "move {n}/{}: host{} -> host{} in {total_ms} ms, {what}",
            opts.moves,
            (b'A' + from as u8) as char,
            (b'A' + to as u8) as char
        );
    }
}

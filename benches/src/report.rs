//! Results: per-run measurements, medians, goals, the table and JSON.

use serde_json::{json, Value};

use crate::console::Verdict;
use crate::network::Seen;
use crate::scenario::Scenario;

const MIB: f64 = 1024.0 * 1024.0;
/// ldm's total time must be at most this fraction of plain QEMU's.
const TIME_RATIO_GOAL: f64 = 1.0 / 3.0;
/// Bulk transfer rate goal for ldm, MiB/s.
const RATE_GOAL_MIB_S: f64 = 800.0;

/// One completed migration.
#[derive(Debug, Clone)]
pub struct Measure {
    /// QEMU's migration time (query-migrate total-time), both sides.
    pub total_ms: f64,
    /// ldm only: bytes over the copy time (QEMU's time less set-up), MiB/s.
    pub bulk_mib_s: Option<f64>,
    pub downtime_ms: f64,
    pub bytes: u64,
    pub passes: u64,
    pub channels: u32,
    /// ldm only: wall time of `ldm migrate-domain` as seen by the bench.
    pub wall_ms: Option<f64>,
    pub verdict: Verdict,
    /// What the guest's clients saw (the probes), when the guest had a
    /// network.
    pub seen: Option<Seen>,
}

/// How one run of one side ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done(Measure),
    /// Still copying at the timeout; cancelled. `source` checks the guest
    /// kept running on the source afterwards.
    NotConverged {
        timeout_s: u64,
        bytes: u64,
        passes: u64,
        source: Verdict,
    },
    /// Something broke (not a measurement).
    Failed(String),
}

impl Outcome {
    /// A failure or a guest that said BAD.
    pub fn broken(&self) -> bool {
        match self {
            Outcome::Done(m) => !m.verdict.ok || m.seen.as_ref().is_some_and(|s| s.tcp.is_err()),
            Outcome::NotConverged { source, .. } => !source.ok,
            Outcome::Failed(_) => true,
        }
    }

    /// One line for the progress log.
    pub fn brief(&self) -> String {
        match self {
            Outcome::Done(m) => format!(
                "total {:.2} s, downtime {:.0} ms, sent {:.0} MiB, passes {}, verifier {}, {}",
                m.total_ms / 1000.0,
                m.downtime_ms,
                m.bytes as f64 / MIB,
                m.passes,
                m.verdict,
                m.seen
                    .as_ref()
                    .map_or("no network".into(), ToString::to_string)
            ),
            Outcome::NotConverged {
                timeout_s, source, ..
            } => format!("did not converge in {timeout_s} s (cancelled); source {source}"),
            Outcome::Failed(e) => format!("FAILED: {e}"),
        }
    }

    fn total_ms(&self) -> Option<f64> {
        match self {
            Outcome::Done(m) => Some(m.total_ms),
            Outcome::NotConverged { .. } => Some(f64::INFINITY),
            Outcome::Failed(_) => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Outcome::Done(m) => json!({
                "result": "completed",
                "total_ms": m.total_ms,
                "downtime_ms": m.downtime_ms,
                "bytes_sent": m.bytes,
                "passes": m.passes,
                "channels": m.channels,
                "command_wall_ms": m.wall_ms,
                "verifier_ok": m.verdict.ok,
                "verifier": m.verdict.to_string(),
                "probe_longest_gap_ms": m.seen.as_ref().map(|s| s.longest_gap_ms),
                "probe_sent": m.seen.as_ref().map(|s| s.sent),
                "probe_lost": m.seen.as_ref().map(|s| s.lost),
                "tcp_held": m.seen.as_ref().map(|s| s.tcp.is_ok()),
                "tcp_error": m.seen.as_ref().and_then(|s| s.tcp.as_ref().err()),
            }),
            Outcome::NotConverged {
                timeout_s,
                bytes,
                passes,
                source,
            } => json!({
                "result": "not-converged",
                "timeout_s": timeout_s,
                "bytes_sent": bytes,
                "passes": passes,
                "verifier_ok": source.ok,
                "verifier": format!("source after cancel: {source}"),
            }),
            Outcome::Failed(e) => json!({ "result": "failed", "error": e }),
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The runs of one side (ldm or plain QEMU) of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub runs: Vec<Outcome>,
}

impl Side {
    fn done(&self) -> impl Iterator<Item = &Measure> {
        self.runs.iter().filter_map(|o| match o {
            Outcome::Done(m) => Some(m),
            _ => None,
        })
    }

    fn med(&self, f: impl Fn(&Measure) -> Option<f64>) -> Option<f64> {
        median(self.done().filter_map(f).collect())
    }

    /// Median total time; infinite if most runs did not converge.
    pub fn total_ms(&self) -> Option<f64> {
        median(self.runs.iter().filter_map(Outcome::total_ms).collect())
    }

    fn timeout_s(&self) -> Option<u64> {
        self.runs.iter().find_map(|o| match o {
            Outcome::NotConverged { timeout_s, .. } => Some(*timeout_s),
            _ => None,
        })
    }

    /// Median bulk rate, MiB/s (ldm reports it; else bytes / total).
    fn bulk_rate(&self) -> Option<f64> {
        self.med(|m| {
            Some(
                m.bulk_mib_s
                    .unwrap_or(m.bytes as f64 / MIB / (m.total_ms.max(1.0) / 1000.0)),
            )
        })
    }

    /// Median longest probe gap, ms: the guest-observed downtime.
    pub fn probe_gap_ms(&self) -> Option<f64> {
        self.med(|m| m.seen.as_ref().map(|s| s.longest_gap_ms))
    }

    fn all_ok(&self) -> bool {
        !self.runs.is_empty() && !self.runs.iter().any(Outcome::broken)
    }

    fn verifier(&self) -> String {
        let n = self.runs.len();
        let ok = self.runs.iter().filter(|o| !o.broken()).count();
        let shown = self
            .runs
            .iter()
            .find(|o| o.broken())
            .or_else(|| {
                self.runs
                    .iter()
                    .rev()
                    .find(|o| matches!(o, Outcome::Done(_)))
            })
            .or(self.runs.last());
        let text = match shown {
            Some(Outcome::Done(m)) => match m.seen.as_ref().map(|s| &s.tcp) {
                Some(Err(e)) => format!("{}; TCP connection BROKEN: {e}", m.verdict),
                Some(Ok(_)) => format!("{}; TCP connection held", m.verdict),
                None => m.verdict.to_string(),
            },
            Some(Outcome::NotConverged {
                timeout_s, source, ..
            }) => format!(
                "did not converge in {timeout_s} s; cancelled, source {}",
                if source.ok { "still OK" } else { "BAD" }
            ),
            Some(Outcome::Failed(e)) => format!("FAILED: {e}"),
            None => "no run".into(),
        };
        if n > 1 {
            format!("{text} [{ok}/{n} runs OK]")
        } else {
            text
        }
    }

    fn row(&self, label: &str) -> String {
        let total = match self.total_ms() {
            Some(t) if t.is_infinite() => format!("> {} s", self.timeout_s().unwrap_or(0)),
            Some(t) => format!("{:.2} s", t / 1000.0),
            None => "-".into(),
        };
        let downtime = self
            .med(|m| Some(m.downtime_ms))
            .map_or("-".into(), |d| format!("{d:.0} ms"));
        let (bytes, passes) = match self.total_ms() {
            Some(t) if t.is_infinite() => {
                let nc = |f: fn(u64, u64) -> u64| {
                    median(
                        self.runs
                            .iter()
                            .filter_map(|o| match o {
                                Outcome::NotConverged { bytes, passes, .. } => {
                                    Some(f(*bytes, *passes) as f64)
                                }
                                _ => None,
                            })
                            .collect(),
                    )
                };
                (nc(|b, _| b), nc(|_, p| p))
            }
            _ => (
                self.med(|m| Some(m.bytes as f64)),
                self.med(|m| Some(m.passes as f64)),
            ),
        };
        let sent = bytes.map_or("-".into(), |b| format!("{:.0} MiB", b / MIB));
        let passes = passes.map_or("-".into(), |p| format!("{p:.0}"));
        let gap = self
            .probe_gap_ms()
            .map_or("-".into(), |g| format!("{g:.0} ms"));
        format!(
            "  {label:<13} {total:<9} {downtime:<10} {gap:<10} {sent:<10} {passes:<7} {}",
            self.verifier()
        )
    }
}

/// Both sides of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub ldm: Side,
    pub qemu: Side,
}

/// A goal's state: met, not met, or not measurable (a side failed).
fn met(goal: Option<bool>) -> &'static str {
    match goal {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "n/a",
    }
}

struct Goals {
    /// ldm/QEMU total time; an upper bound when QEMU did not converge.
    ratio: Option<f64>,
    ratio_bound: bool,
    ratio_met: Option<bool>,
    downtime_ms: Option<f64>,
    downtime_met: Option<bool>,
    rate: Option<f64>,
    rate_met: Option<bool>,
    verifier_met: bool,
}

impl ScenarioResult {
    /// A side failed or a guest said BAD.
    pub fn broken(&self) -> bool {
        self.ldm
            .runs
            .iter()
            .chain(&self.qemu.runs)
            .any(Outcome::broken)
    }

    fn goals(&self) -> Goals {
        let ldm_total = self.ldm.total_ms().filter(|t| t.is_finite());
        let qemu_total = self.qemu.total_ms().map(|t| {
            if t.is_infinite() {
                self.qemu.timeout_s().unwrap_or(0) as f64 * 1000.0
            } else {
                t
            }
        });
        let ratio = ldm_total.zip(qemu_total).map(|(l, q)| l / q.max(1.0));
        let ratio_bound = self.qemu.total_ms().is_some_and(f64::is_infinite);
        let downtime_ms = self.ldm.med(|m| Some(m.downtime_ms));
        let rate = self.ldm.bulk_rate();
        Goals {
            ratio,
            ratio_bound,
            ratio_met: ratio.map(|r| r <= TIME_RATIO_GOAL),
            downtime_ms,
            downtime_met: downtime_ms.map(|d| d <= self.scenario.downtime_goal_ms as f64),
            rate,
            rate_met: rate.map(|r| r >= RATE_GOAL_MIB_S),
            verifier_met: self.ldm.all_ok() && self.qemu.all_ok(),
        }
    }

    /// The scenario's block of the table.
    pub fn render(&self, runs: u32) -> String {
        let sc = &self.scenario;
        let g = self.goals();
        let mut out = vec![format!(
            "scenario {}: {}{}",
            sc.id,
            sc.title(),
            if runs > 1 {
                format!(" [median of {runs} runs]")
            } else {
                String::new()
            }
        )];
        out.push(format!(
            "  {:<13} {:<9} {:<10} {:<10} {:<10} {:<7} verifier",
            "", "total", "downtime", "probe gap", "sent", "passes"
        ));
        out.push(self.ldm.row("ldm"));
        out.push(self.qemu.row("plain QEMU"));
        let wall = self.ldm.med(|m| m.wall_ms);
        let channels = self.ldm.med(|m| Some(m.channels as f64));
        if wall.is_some() {
            out.push(format!(
                "  ldm detail: whole command (connect, auth, checks, target start, copy, hand-off) {}, {} channels",
                wall.map_or("-".into(), |w| format!("{:.2} s", w / 1000.0)),
                channels.map_or("-".into(), |c| format!("{c:.0}")),
            ));
        }
        out.push(format!(
            "  bulk transfer rate (ldm, encrypted, bytes over copy time): {} (goal >= {RATE_GOAL_MIB_S:.0} MiB/s): {}",
            g.rate.map_or("-".into(), |r| format!("{r:.0} MiB/s")),
            met(g.rate_met)
        ));
        let ratio = match (g.ratio, g.ratio_bound) {
            (Some(r), true) => format!("< {r:.2} (plain QEMU did not converge)"),
            (Some(r), false) => format!("{r:.2}"),
            (None, _) => "-".into(),
        };
        out.push(format!(
            "  ldm/QEMU total time: {ratio} (goal <= 0.33): {}   ldm downtime {} (goal <= {} ms): {}   verifier OK every time: {}",
            met(g.ratio_met),
            g.downtime_ms.map_or("-".into(), |d| format!("{d:.0} ms")),
            sc.downtime_goal_ms,
            met(g.downtime_met),
            if g.verifier_met { "yes" } else { "NO" }
        ));
        out.join("\n")
    }

    pub fn to_json(&self) -> Value {
        let sc = &self.scenario;
        let g = self.goals();
        let side = |s: &Side| {
            json!({
                "median_total_ms": s.total_ms().filter(|t| t.is_finite()),
                "median_downtime_ms": s.med(|m| Some(m.downtime_ms)),
                "median_probe_gap_ms": s.probe_gap_ms(),
                "median_bytes_sent": s.med(|m| Some(m.bytes as f64)),
                "median_passes": s.med(|m| Some(m.passes as f64)),
                "median_command_wall_ms": s.med(|m| m.wall_ms),
                "runs": s.runs.iter().map(Outcome::to_json).collect::<Vec<_>>(),
            })
        };
        json!({
            "scenario": sc.id.to_string(),
            "memory_mib": sc.memory_mib,
            "working_set_mib": sc.ws_mib,
            "rate_mib_s": sc.rate_mib_s,
            "ldm": side(&self.ldm),
            "plain_qemu": side(&self.qemu),
            "goals": {
                "time_ratio": g.ratio,
                "time_ratio_is_upper_bound": g.ratio_bound,
                "time_ratio_goal": TIME_RATIO_GOAL,
                "time_ratio_met": g.ratio_met,
                "downtime_ms": g.downtime_ms,
                "downtime_goal_ms": sc.downtime_goal_ms,
                "downtime_met": g.downtime_met,
                "bulk_rate_mib_s": g.rate,
                "bulk_rate_goal_mib_s": RATE_GOAL_MIB_S,
                "bulk_rate_met": g.rate_met,
                "verifier_met": g.verifier_met,
            },
            "broken": self.broken(),
        })
    }
}

/// The whole report: a header, one block per scenario, a footer.
pub fn render(header: &str, results: &[ScenarioResult], runs: u32) -> String {
    let mut blocks = vec![header.to_string()];
    blocks.extend(results.iter().map(|r| r.render(runs)));
    blocks.push(
        "Notes: total = QEMU's migration time (query-migrate total-time, migrate to completion) \
         on both sides; ldm's whole command is in the detail line. ldm downtime = QEMU's \
         downtime plus the hand-off until the target resumed the guest (encrypted, multifd). \
         Plain QEMU = QEMU's defaults (no multifd, 128 MiB/s cap, 300 ms downtime limit, no \
         encryption). probe gap = the guest-observed downtime: the longest time between two \
         replies of the guest's UDP echo to a datagram sent every 1 ms from the lab's client \
         (- where the guest had no network). passes = dirty-sync count."
            .to_string(),
    );
    blocks.join("\n\n")
}

pub fn to_json(header: Value, results: &[ScenarioResult]) -> Value {
    json!({
        "environment": header,
        "scenarios": results.iter().map(ScenarioResult::to_json).collect::<Vec<_>>(),
        "broken": results.iter().any(ScenarioResult::broken),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(
            median(vec![1.0, f64::INFINITY, f64::INFINITY]),
            Some(f64::INFINITY)
        );
    }
}

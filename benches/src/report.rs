//! Results: per-run measurements, medians, goals and the table; the
//! notes under it in `report/notes.rs`, the JSON in `report/json.rs`.

mod json;
mod notes;
mod splits;

pub use json::to_json;

use crate::console::Verdict;
use crate::network::Seen;
use crate::scenario::Scenario;

const MIB: f64 = 1024.0 * 1024.0;

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
    /// The probe's longest gap split at the guest's stop and resume.
    pub split: Option<crate::split::Split>,
    /// ldm only: when its dry run and its move command began, ms from the
    /// source's stop (negative: before), to place the probe's gaps.
    pub steps_from_stop: Option<(f64, f64)>,
    /// ldm only: where the pause went, step by step.
    pub pause: Option<ldm_api::migration::PauseBreakdown>,
    /// ldm only: the whole command's time as ldmd measured it, ms.
    pub command_ms: Option<f64>,
    /// ldm only: what the dry run just before predicted.
    pub predicted: Option<Box<ldm_api::migration::MemoryEstimate>>,
    /// ldm only: a second prediction and move, once the source host has
    /// moved the domain before.
    pub warm: Option<Box<Leg>>,
    /// ldm only: both ldmds' memory and CPU during the move.
    pub daemons: Option<Box<crate::daemon_usage::Daemons>>,
    /// ldm only: the move switched to post-copy; from the switch to
    /// QEMU's completion, ms.
    pub postcopy_ms: Option<f64>,
}

/// A further predicted move of the ldm side.
#[derive(Debug, Clone)]
pub struct Leg {
    /// What the dry run predicted.
    pub predicted: Option<Box<ldm_api::migration::MemoryEstimate>>,
    /// What the move measured.
    pub summary: ldm_api::migration::Summary,
}

/// How one run of one side ended.
// A few per benchmark run: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
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
            Outcome::Done(m) => {
                format!(
                "total {:.2} s{}, downtime {:.0} ms, sent {:.0} MiB, passes {}, verifier {}, {}{}{}{}",
                m.total_ms / 1000.0,
                m.postcopy_ms
                    .map_or(String::new(), |p| format!(" (post-copy {:.2} s)", p / 1000.0)),
                m.downtime_ms,
                m.bytes as f64 / MIB,
                m.passes,
                m.verdict,
                m.seen
                    .as_ref()
                    .map_or("no network".into(), ToString::to_string),
                m.split.map_or(String::new(), |s| format!("; pause's {s}")),
                m.steps_from_stop.map_or(String::new(), |(d, c)| format!(
                    "; dry run began at stop {d:+.0} ms, the move at stop {c:+.0} ms"
                )),
                m.pause
                    .as_ref()
                    .map_or(String::new(), |p| format!("; pause: {}", pause_text(p)))
            )
            }
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
}

/// One ldm pause, step by step.
pub fn pause_text(p: &ldm_api::migration::PauseBreakdown) -> String {
    format!(
        "{} ms = QEMU {} + source hand-off {} + link {}/2 + target record {} + load {} + cont {}{} ms",
        p.total_ms(),
        p.qemu_downtime_ms,
        p.completion_to_commit_ms,
        p.link_ms,
        p.target_record_ms,
        p.target_load_ms,
        p.target_cont_ms,
        p.target_resume_event_ms
            .map_or(String::new(), |r| format!(" (RESUME event at {r})"))
    )
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
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

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ldm, encrypted (its defaults).
    Ldm,
    /// Plain QEMU tuned as ldm is, in clear.
    Tuned,
    /// Plain QEMU tuned, with its own TLS.
    TunedTls,
    /// Plain QEMU with its defaults.
    Defaults,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Ldm, Kind::Tuned, Kind::TunedTls, Kind::Defaults];

    /// The name on the command line (`--side`).
    pub fn id(self) -> &'static str {
        match self {
            Kind::Ldm => "ldm",
            Kind::Tuned => "tuned",
            Kind::TunedTls => "tuned-tls",
            Kind::Defaults => "defaults",
        }
    }

    pub fn by_id(id: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Ldm => "ldm (TLS)",
            Kind::Tuned => "QEMU tuned",
            Kind::TunedTls => "QEMU tuned+TLS",
            Kind::Defaults => "QEMU defaults",
        }
    }
}

fn max(v: Vec<f64>) -> Option<f64> {
    v.into_iter().reduce(f64::max)
}

/// "median / worst" of a figure.
fn mw(m: Option<f64>, w: Option<f64>, fmt: impl Fn(f64) -> String) -> String {
    match (m, w) {
        (Some(m), Some(w)) => format!("{} / {}", fmt(m), fmt(w)),
        _ => "-".into(),
    }
}

/// The runs of one side of one scenario.
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

    fn worst(&self, f: impl Fn(&Measure) -> Option<f64>) -> Option<f64> {
        max(self.done().filter_map(f).collect())
    }

    /// Median total time; infinite if most runs did not converge.
    pub fn total_ms(&self) -> Option<f64> {
        median(self.runs.iter().filter_map(Outcome::total_ms).collect())
    }

    /// Worst total time; infinite if a run did not converge.
    pub fn worst_total_ms(&self) -> Option<f64> {
        max(self.runs.iter().filter_map(Outcome::total_ms).collect())
    }

    fn timeout_s(&self) -> Option<u64> {
        self.runs.iter().find_map(|o| match o {
            Outcome::NotConverged { timeout_s, .. } => Some(*timeout_s),
            _ => None,
        })
    }

    /// Median and worst longest probe gap, ms: the guest-observed
    /// downtime.
    pub fn probe_gap_ms(&self) -> (Option<f64>, Option<f64>) {
        let f = |m: &Measure| m.seen.as_ref().map(|s| s.longest_gap_ms);
        (self.med(f), self.worst(f))
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
                Some(Err(e)) => format!("{}; TCP BROKEN: {e}", m.verdict),
                Some(Ok(_)) => format!("{}; TCP held", m.verdict),
                None => m.verdict.to_string(),
            },
            Some(Outcome::NotConverged {
                timeout_s, source, ..
            }) => format!(
                "no convergence in {timeout_s} s; cancelled, source {}",
                if source.ok { "OK" } else { "BAD" }
            ),
            Some(Outcome::Failed(e)) => format!("FAILED: {e}"),
            None => "no run".into(),
        };
        if n > 1 {
            format!("{text} [{ok}/{n} OK]")
        } else {
            text
        }
    }

    fn total_text(&self, t: Option<f64>) -> String {
        match t {
            Some(t) if t.is_infinite() => format!(">{}s", self.timeout_s().unwrap_or(0)),
            Some(t) => format!("{:.2}", t / 1000.0),
            None => "-".into(),
        }
    }

    fn row(&self, label: &str) -> String {
        let total = match self.total_ms() {
            None => "-".into(),
            m => format!(
                "{} / {} s",
                self.total_text(m),
                self.total_text(self.worst_total_ms())
            ),
        };
        let ms = |v: f64| format!("{v:.0}");
        let downtime = mw(
            self.med(|m| Some(m.downtime_ms)),
            self.worst(|m| Some(m.downtime_ms)),
            ms,
        );
        let (gm, gw) = self.probe_gap_ms();
        let gap = mw(gm, gw, ms);
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
        format!(
            "  {label:<15} {total:<15} {downtime:<12} {gap:<12} {sent:<10} {passes:<6} {}",
            self.verifier()
        )
    }
}

/// Every side of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub sides: Vec<(Kind, Side)>,
}

/// A goal's state: met, not met, or not measurable (a side missing or
/// failed).
fn met(goal: Option<bool>) -> &'static str {
    match goal {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "n/a",
    }
}

impl ScenarioResult {
    /// A side failed or a guest said BAD.
    pub fn broken(&self) -> bool {
        self.sides
            .iter()
            .flat_map(|(_, s)| &s.runs)
            .any(Outcome::broken)
    }

    fn side(&self, kind: Kind) -> Option<&Side> {
        self.sides.iter().find(|(k, _)| *k == kind).map(|(_, s)| s)
    }

    /// The goals' lines: ldm's guest-observed pause against the fixed
    /// bound and against QEMU tuned (median and worst), its total time
    /// against QEMU tuned, the verifier.
    fn goals(&self) -> Vec<String> {
        let sc = &self.scenario;
        let Some(ldm) = self.side(Kind::Ldm) else {
            return vec![];
        };
        let tuned = self.side(Kind::Tuned);
        let (gm, gw) = ldm.probe_gap_ms();
        let bound = sc.downtime_goal_ms as f64;
        let within = |v: Option<f64>, b: Option<f64>| v.zip(b).map(|(v, b)| v <= b);
        let (tm, tw) = tuned.map_or((None, None), Side::probe_gap_ms);
        let both = |a: Option<bool>, b: Option<bool>| a.zip(b).map(|(a, b)| a && b);
        let mut out = vec![format!(
            "  goals: ldm probe gap <= {} ms (median and worst): {}; <= QEMU tuned's: {}",
            sc.downtime_goal_ms,
            met(both(within(gm, Some(bound)), within(gw, Some(bound)))),
            met(both(within(gm, tm), within(gw, tw))),
        )];
        let lt = ldm.total_ms().filter(|t| t.is_finite());
        let lw = ldm.worst_total_ms().filter(|t| t.is_finite());
        let qt = tuned.and_then(Side::total_ms);
        let qw = tuned.and_then(Side::worst_total_ms);
        let all_ok = self.sides.iter().all(|(_, s)| s.all_ok());
        out.push(format!(
            "         ldm total <= QEMU tuned's (median and worst): {}; verifier OK every time: {}",
            met(both(within(lt, qt), within(lw, qw))),
            if all_ok { "yes" } else { "NO" }
        ));
        out
    }

    /// The scenario's block of the table.
    pub fn render(&self, runs: u32) -> String {
        let sc = &self.scenario;
        let mut out = vec![format!(
            "scenario {}: {} [{runs} run(s) per side; median / worst]",
            sc.id,
            sc.title()
        )];
        out.push(format!(
            "  {:<15} {:<15} {:<12} {:<12} {:<10} {:<6} verifier",
            "", "total", "QEMU down ms", "probe gap ms", "sent", "passes"
        ));
        for (kind, side) in &self.sides {
            out.push(side.row(kind.label()));
        }
        out.extend(splits::lines(self));
        if let Some(ldm) = self.side(Kind::Ldm) {
            let wall = ldm.med(|m| m.wall_ms);
            let rate = ldm.med(|m| m.bulk_mib_s);
            let postcopy = ldm
                .runs
                .iter()
                .filter(|o| matches!(o, Outcome::Done(m) if m.postcopy_ms.is_some()))
                .count();
            out.push(format!(
                "  ldm detail: whole command {} (median), bulk {} over {} channels; post-copy in {postcopy} of {} runs{}",
                wall.map_or("-".into(), |w| format!("{:.2} s", w / 1000.0)),
                rate.map_or("-".into(), |r| format!("{r:.0} MiB/s")),
                ldm.med(|m| Some(m.channels as f64))
                    .map_or("-".into(), |c| format!("{c:.0}")),
                ldm.runs.len(),
                ldm.med(|m| m.postcopy_ms)
                    .map_or(String::new(), |p| format!(", post-copy time {:.2} s (median)", p / 1000.0)),
            ));
            for (i, o) in ldm.runs.iter().enumerate() {
                if let Outcome::Done(Measure { pause: Some(p), .. }) = o {
                    out.push(format!("  ldm pause, run {}: {}", i + 1, pause_text(p)));
                }
                if let Outcome::Done(Measure {
                    daemons: Some(d), ..
                }) = o
                {
                    out.push(format!(
                        "  ldmd, run {}: source {}; target {}",
                        i + 1,
                        d.source.text(),
                        d.target.text()
                    ));
                }
                if let Outcome::Done(m) = o {
                    out.extend(crate::prediction::lines(i + 1, m));
                }
            }
        }
        out.extend(self.goals());
        out.join("\n")
    }
}

/// The whole report: a header, one block per scenario, a footer;
/// `postcopy` is the `--postcopy` mode given to ldm's moves, if any.
pub fn render(
    header: &str,
    results: &[ScenarioResult],
    runs: u32,
    postcopy: Option<&str>,
) -> String {
    let mut blocks = vec![header.to_string()];
    blocks.extend(results.iter().map(|r| r.render(runs)));
    blocks.push(notes::notes(postcopy));
    blocks.join("\n\n")
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

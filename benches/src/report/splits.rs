//! The split of the probe's gap over the pause (before the stop, the
//! pause, after the resume) of each side: its medians and worsts, for the table and the JSON.

use super::{max, median, ScenarioResult, Side};
use crate::split::Split;

/// Medians or worsts of each share, over the runs that have a split.
fn each(side: &Side, f: fn(Vec<f64>) -> Option<f64>) -> Option<Split> {
    let splits: Vec<Split> = side.done().filter_map(|m| m.split).collect();
    Split::each(&splits, f)
}

/// The median and worst of the time from the resume to the sending of
/// the first datagram answered.
fn unanswered(side: &Side) -> (Option<f64>, Option<f64>) {
    let v: Vec<f64> = side
        .done()
        .filter_map(|m| m.split.map(|s| s.unanswered_ms()))
        .collect();
    (median(v.clone()), max(v))
}

impl Side {
    /// Each share's median and worst (each over the runs, so the three
    /// need not come from one run); none without a split.
    pub fn split_stats(&self) -> Option<(Split, Split)> {
        Some((each(self, median)?, each(self, max)?))
    }

    fn split_runs(&self) -> usize {
        self.done().filter(|m| m.split.is_some()).count()
    }
}

/// The table's lines: each side's split, median / worst.
pub(super) fn lines(r: &ScenarioResult) -> Vec<String> {
    r.sides
        .iter()
        .filter_map(|(kind, side)| {
            let (m, w) = side.split_stats()?;
            let (um, uw) = unanswered(side);
            Some(format!(
                "  pause's gap, {}: {:.0} / {:.0} = before stop {:.0} / {:.0}, pause {:.0} / {:.0}, after resume {:.0} / {:.0} ms (first answered datagram sent at resume {:+.0} / {:+.0}, its round trip {:.0} / {:.0}) ({} of {} runs; the longest gap in {})",
                kind.label(),
                m.gap_ms,
                w.gap_ms,
                m.before_ms,
                w.before_ms,
                m.pause_ms,
                w.pause_ms,
                m.after_ms,
                w.after_ms,
                um.unwrap_or(0.0),
                uw.unwrap_or(0.0),
                m.answer_ms,
                w.answer_ms,
                side.split_runs(),
                side.runs.len(),
                side.done()
                    .filter(|m| m.split.is_some_and(|s| s.over_pause_is_longest()))
                    .count()
            ))
        })
        .collect()
}

/// The side's split for the JSON.
pub(super) fn to_json(side: &Side) -> serde_json::Value {
    match side.split_stats() {
        Some((m, w)) => serde_json::json!({ "median": m.to_json(), "worst": w.to_json() }),
        None => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Kind, Measure, Outcome};

    fn run(split: Option<Split>) -> Outcome {
        Outcome::Done(Measure {
            total_ms: 1.0,
            bulk_mib_s: None,
            downtime_ms: 1.0,
            bytes: 0,
            passes: 1,
            channels: 1,
            wall_ms: None,
            verdict: crate::console::Verdict::judge(1, 1, &crate::console::Scan::of("")),
            seen: None,
            split,
            steps_from_stop: None,
            pause: None,
            command_ms: None,
            predicted: None,
            warm: None,
            daemons: None,
            postcopy_ms: None,
        })
    }

    fn split(before_ms: f64, pause_ms: f64, after_ms: f64) -> Option<Split> {
        Some(Split {
            gap_ms: before_ms + pause_ms + after_ms,
            before_ms,
            pause_ms,
            after_ms,
            answer_ms: after_ms / 2.0,
            longest_ms: before_ms + pause_ms + after_ms,
            longest_from_stop_ms: -before_ms,
        })
    }

    #[test]
    fn each_share_has_its_median_and_worst() {
        let side = Side {
            runs: vec![
                run(split(1.0, 20.0, 90.0)),
                run(None),
                run(split(3.0, 10.0, 70.0)),
                run(split(2.0, 15.0, 120.0)),
            ],
        };
        let (m, w) = side.split_stats().unwrap();
        assert_eq!((m.before_ms, m.pause_ms, m.after_ms), (2.0, 15.0, 90.0));
        assert_eq!((w.before_ms, w.pause_ms, w.after_ms), (3.0, 20.0, 120.0));
        let r = ScenarioResult {
            scenario: crate::scenario::SCENARIOS[0],
            sides: vec![
                (Kind::Tuned, side),
                (
                    Kind::Ldm,
                    Side {
                        runs: vec![run(None)],
                    },
                ),
            ],
        };
        assert_eq!(
            lines(&r),
            ["  pause's gap, QEMU tuned: 111 / 137 = before stop 2 / 3, pause 15 / 20, after resume 90 / 120 ms (first answered datagram sent at resume +45 / +60, its round trip 45 / 60) (3 of 4 runs; the longest gap in 3)"]
        );
        assert_eq!(to_json(&r.sides[1].1), serde_json::Value::Null);
    }
}

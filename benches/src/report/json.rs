//! The report as JSON: every run of every side, their medians and worsts.

use serde_json::{json, Value};

use super::{Kind, Outcome, ScenarioResult, Side};

impl Outcome {
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
                "probe_gap_split": m.split.map(crate::split::Split::to_json),
                "dry_run_from_stop_ms": m.steps_from_stop.map(|s| s.0),
                "command_from_stop_ms": m.steps_from_stop.map(|s| s.1),
                "pause": m.pause,
                "ldmd": m.daemons.as_ref().map(|d| d.to_json()),
                "postcopy_ms": m.postcopy_ms,
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

impl Side {
    fn to_json(&self, kind: Kind) -> Value {
        let (gm, gw) = self.probe_gap_ms();
        json!({
            "side": kind.id(),
            "median_total_ms": self.total_ms().filter(|t| t.is_finite()),
            "worst_total_ms": self.worst_total_ms().filter(|t| t.is_finite()),
            "median_qemu_downtime_ms": self.med(|m| Some(m.downtime_ms)),
            "worst_qemu_downtime_ms": self.worst(|m| Some(m.downtime_ms)),
            "median_probe_gap_ms": gm,
            "worst_probe_gap_ms": gw,
            "median_bytes_sent": self.med(|m| Some(m.bytes as f64)),
            "median_passes": self.med(|m| Some(m.passes as f64)),
            "median_command_wall_ms": self.med(|m| m.wall_ms),
            "probe_gap_split": super::splits::to_json(self),
            "runs": self.runs.iter().map(Outcome::to_json).collect::<Vec<_>>(),
        })
    }
}

impl ScenarioResult {
    pub fn to_json(&self) -> Value {
        let sc = &self.scenario;
        json!({
            "scenario": sc.id.to_string(),
            "memory_mib": sc.memory_mib,
            "working_set_mib": sc.ws_mib,
            "rate_mib_s": sc.rate_mib_s,
            "downtime_goal_ms": sc.downtime_goal_ms,
            "sides": self.sides.iter().map(|(k, s)| s.to_json(*k)).collect::<Vec<_>>(),
            "broken": self.broken(),
        })
    }
}

pub fn to_json(header: Value, results: &[ScenarioResult]) -> Value {
    json!({
        "environment": header,
        "scenarios": results.iter().map(ScenarioResult::to_json).collect::<Vec<_>>(),
        "broken": results.iter().any(ScenarioResult::broken),
    })
}

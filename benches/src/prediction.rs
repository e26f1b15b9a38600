//! The dry run's prediction next to what the move then measured.

use crate::report::Measure;
use ldm_api::migration::MemoryEstimate;

/// How far `predicted` is from `measured`, percent of `measured`.
fn error_percent(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured.max(1e-9) * 100.0
}

/// What a move measured, for the comparison.
struct Measured {
    total_ms: f64,
    pause_ms: f64,
    passes: u64,
    bytes: u64,
}

fn compare(label: &str, p: &MemoryEstimate, m: &Measured) -> String {
    let total = match p.total_ms {
        Some(t) => format!(
            "{:.2} s vs {:.2} s ({:+.0} %)",
            t as f64 / 1000.0,
            m.total_ms / 1000.0,
            error_percent(t as f64, m.total_ms)
        ),
        None => format!("would not finish vs {:.2} s", m.total_ms / 1000.0),
    };
    let pause = match p.pause_ms {
        Some(t) => format!("{t} ms vs {:.0} ms", m.pause_ms),
        None => format!("- vs {:.0} ms", m.pause_ms),
    };
    format!(
        "  ldm predicted vs measured, {label}: total {total}; pause {pause}; passes {} vs {}; sent {} vs {} MiB; (to send {} MiB, dirty {}, link {} MiB/s {:?}, QEMU's last rate {}, throttle {} %)",
        p.passes,
        m.passes,
        p.sent_mib,
        m.bytes >> 20,
        p.to_send_mib,
        match p.dirty_during_copy_mib_s {
            Some(d) => format!("{} MiB/s sampled, {d} during the last move", p.dirty_rate_mib_s),
            None => format!("{} MiB/s", p.dirty_rate_mib_s),
        },
        p.link_mib_s,
        p.link_source,
        p.qemu_rate_mib_s.map_or("-".into(), |r| format!("{r} MiB/s")),
        p.throttle_percent
    )
}

/// One run's comparison lines, when the dry runs predicted the moves:
/// the first move (no earlier move on the source host) and, if made, the
/// second (after one).
pub fn lines(run: usize, m: &Measure) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(p), Some(total_ms)) = (m.predicted.as_ref(), m.command_ms) {
        let measured = Measured {
            total_ms,
            pause_ms: m
                .pause
                .as_ref()
                .map_or(m.downtime_ms, |b| b.total_ms() as f64),
            passes: m.passes,
            bytes: m.bytes,
        };
        out.push(compare(&format!("run {run}, first move"), p, &measured));
    }
    if let Some((p, s)) = m
        .warm
        .as_ref()
        .and_then(|w| Some((w.predicted.as_ref()?, &w.summary)))
    {
        let measured = Measured {
            total_ms: s.total_ms as f64,
            pause_ms: s.pause.as_ref().map_or(s.downtime_ms, |b| b.total_ms()) as f64,
            passes: s.passes,
            bytes: s.bytes_sent,
        };
        out.push(compare(&format!("run {run}, after a move"), p, &measured));
    }
    out
}

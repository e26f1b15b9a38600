//! The dry run's prediction next to what the move then measured.

use crate::report::Measure;
use ldm_api::copy_rate::{copy_rate, first_move_rate, RateFacts};
use ldm_api::migration::MemoryEstimate;
use ldm_api::predict::{predict, Inputs};

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

/// The same model without the target's first touch, on the same inputs
/// (the copy at the link, or the cap if lower): its total and passes,
/// when the prediction weighed the first touch against the link.
fn without_first_touch(p: &MemoryEstimate) -> Option<(u64, u64)> {
    let touch = p.first_touch_mib_s?;
    let total = p.total_ms?;
    let at = |rate_mib: u64| {
        predict(&Inputs {
            memory_bytes: p.memory_mib << 20,
            to_send_bytes: p.to_send_mib << 20,
            dirty_bytes_s: (p.dirty_during_copy_mib_s.unwrap_or(p.dirty_rate_mib_s) << 20) as f64,
            rate_bytes_s: (rate_mib << 20) as f64,
            downtime_limit_ms: p.downtime_limit_ms,
            fixed_ms: 0,
            pause_overhead_ms: 0,
        })
    };
    // The dry run's own rule, with and without the first touch (a first
    // move: no last rate).
    let rate = |first_touch_mib| {
        copy_rate(&RateFacts {
            link_mib: p.link_mib_s,
            link_source: p.link_source,
            cap_mib: p.cap_mib_s,
            last_mib: None,
            first_touch_mib,
        })
        .rate_mib
    };
    let with = at(rate(Some(touch)));
    let without = at(rate(None));
    if !with.finishes || !without.finishes {
        return None;
    }
    // The time outside the copy is the same either way.
    let fixed = total.saturating_sub(with.total_ms);
    Some((fixed + without.total_ms, without.summary_passes()))
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
    let touch = match (p.first_touch_mib_s, without_first_touch(p)) {
        (Some(t), Some((ms, passes))) => format!(
            ", target's first touch {t} MiB/s: copy at {} MiB/s; without it: total {:.2} s ({:+.0} %), passes {passes}",
            first_move_rate(p.link_mib_s, t),
            ms as f64 / 1000.0,
            error_percent(ms as f64, m.total_ms)
        ),
        (Some(t), None) => format!(", target's first touch {t} MiB/s"),
        _ => String::new(),
    };
    format!(
        "  ldm predicted vs measured, {label}: total {total}; pause {pause}; passes {} vs {}; sent {} vs {} MiB; (to send {} MiB, dirty {}, link {} MiB/s {:?}{touch}, QEMU's last rate {}, throttle {} %)",
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

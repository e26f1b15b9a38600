//! The dry run's prediction next to what the move then measured.

use crate::report::Measure;

/// How far `measured` is from `predicted`, percent of `measured`.
fn error_percent(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured.max(1e-9) * 100.0
}

/// One run's comparison line, when the dry run predicted the move.
pub fn line(run: usize, m: &Measure) -> Option<String> {
    let p = m.predicted.as_ref()?;
    let measured_total = m.command_ms?;
    let measured_pause = m
        .pause
        .as_ref()
        .map_or(m.downtime_ms, |b| b.total_ms() as f64);
    let total = match p.total_ms {
        Some(t) => format!(
            "{:.2} s vs {:.2} s ({:+.0} %)",
            t as f64 / 1000.0,
            measured_total / 1000.0,
            error_percent(t as f64, measured_total)
        ),
        None => format!("would not finish vs {:.2} s", measured_total / 1000.0),
    };
    let pause = match p.pause_ms {
        Some(t) => format!("{t} ms vs {measured_pause:.0} ms"),
        None => format!("- vs {measured_pause:.0} ms"),
    };
    Some(format!(
        "  ldm predicted vs measured, run {run}: total {total}; pause {pause}; passes {} vs {}; sent {} vs {} MiB; (to send {} MiB, dirty {} MiB/s, link {} MiB/s {:?}, throttle {} %)",
        p.passes,
        m.passes,
        p.sent_mib,
        m.bytes >> 20,
        p.to_send_mib,
        p.dirty_rate_mib_s,
        p.link_mib_s,
        p.link_source,
        p.throttle_percent
    ))
}

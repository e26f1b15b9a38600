//! How `migrate-domain -n` prints the prediction of a live move, and the
//! time left the progress bar shows during one, by the same model.

use ldm_api::copy_rate::first_move_rate;
use ldm_api::migration::{LinkSource, MemoryEstimate, Progress};
use ldm_api::predict::{remaining_ms, Inputs};

/// The time left of a move under way, seconds: this pass's remaining
/// bytes and the passes the model expects after it at the current rate
/// and dirty rate (just this pass's bytes over the rate from a daemon
/// that does not send the dirty rate). `None` before a rate is known, or
/// when the model sees no end.
pub fn seconds_left(p: &Progress) -> Option<f64> {
    if p.rate_mib_s <= 0.0 {
        return None;
    }
    let rate = p.rate_mib_s * 1048576.0;
    match (p.dirty_rate_mib_s, p.memory_bytes, p.downtime_limit_ms) {
        (Some(dirty), Some(memory), Some(limit)) => {
            let i = Inputs {
                memory_bytes: memory,
                to_send_bytes: p.remaining_bytes,
                dirty_bytes_s: dirty * 1048576.0,
                rate_bytes_s: rate,
                downtime_limit_ms: limit,
                fixed_ms: 0,
                pause_overhead_ms: 0,
            };
            remaining_ms(p.remaining_bytes, &i).map(|ms| ms as f64 / 1000.0)
        }
        _ => Some(p.remaining_bytes as f64 / rate),
    }
}

fn seconds(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", (ms + 500) / 1000)
    }
}

/// The dry run's lines about the memory move: what was measured, then
/// what is predicted.
pub fn lines(e: &MemoryEstimate) -> [String; 2] {
    let link = match e.link_source {
        LinkSource::Measured => format!("link {} MiB/s (measured)", e.link_mib_s),
        other => format!("link {} MiB/s ({})", e.link_mib_s, other.describe()),
    };
    let cap = match e.cap_mib_s {
        Some(c) => format!(", capped at {c} MiB/s"),
        None => String::new(),
    };
    let touch = match e.first_touch_mib_s {
        Some(t) => format!(
            ", the target's first touch {t} MiB/s: copy at ~{} MiB/s",
            first_move_rate(e.link_mib_s, t)
        ),
        None => String::new(),
    };
    let qemu = match e.qemu_rate_mib_s {
        Some(r) => format!("; QEMU copied at {r} MiB/s on this host's last move"),
        None => String::new(),
    };
    let dirty = match e.dirty_during_copy_mib_s {
        Some(during) => format!(
            "dirtying {} MiB/s sampled, {during} MiB/s during its last move from this host (the prediction's)",
            e.dirty_rate_mib_s
        ),
        None => format!("dirtying {} MiB/s", e.dirty_rate_mib_s),
    };
    let measured = format!(
        "Memory: {} MiB, about {} MiB to send; {dirty}; {link}{touch}{cap}{qemu}",
        e.memory_mib, e.to_send_mib
    );
    let predicted = match (e.total_ms, e.pause_ms) {
        _ if e.postcopy_after_ms.is_some() => {
            let after = e.postcopy_after_ms.unwrap_or_default();
            let precopy = match e.total_ms {
                Some(_) if e.throttle_percent > 0 => format!(
                    "pre-copy does not converge in time: auto-converge would slow the guest's vCPUs by up to {} %",
                    e.throttle_percent
                ),
                Some(_) => "pre-copy would take long".to_string(),
                None => "pre-copy would not finish, even with the guest's vCPUs slowed by 99 %"
                    .to_string(),
            };
            format!(
                "Predicted: {precopy}; ldm switches to post-copy after about {} of pre-copy: the guest then runs on the target while the rest of its memory (up to {} MiB) follows",
                seconds(after),
                e.memory_mib
            )
        }
        (Some(total), Some(pause)) => {
            let how = if e.converges {
                "pre-copy converges".to_string()
            } else {
                format!(
                    "pre-copy does not converge on its own: auto-converge slows the guest's vCPUs by up to {} %",
                    e.throttle_percent
                )
            };
            format!(
                "Predicted: {} total, pause about {pause} ms (target {} ms), {} passes, {} MiB sent; {how}",
                seconds(total),
                e.downtime_limit_ms,
                e.passes,
                e.sent_mib
            )
        }
        _ => "Predicted: the move would not finish: the guest dirties memory faster than the link carries it even with its vCPUs slowed by 99 %, and it would run until cancelled; raise the bandwidth cap or the downtime limit, or move the domain when it is less busy".to_string(),
    };
    [measured, predicted]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate() -> MemoryEstimate {
        MemoryEstimate {
            memory_mib: 1024,
            to_send_mib: 310,
            dirty_rate_mib_s: 98,
            dirty_during_copy_mib_s: None,
            link_mib_s: 640,
            link_source: LinkSource::Measured,
            cap_mib_s: None,
            qemu_rate_mib_s: None,
            first_touch_mib_s: None,
            downtime_limit_ms: 30,
            total_ms: Some(1900),
            pause_ms: Some(30),
            passes: 4,
            sent_mib: 420,
            converges: true,
            throttle_percent: 0,
            postcopy_after_ms: None,
        }
    }

    #[test]
    fn a_converging_move() {
        let [m, p] = lines(&estimate());
        assert_eq!(
            m,
            "Memory: 1024 MiB, about 310 MiB to send; dirtying 98 MiB/s; link 640 MiB/s (measured)"
        );
        assert_eq!(
            p,
            "Predicted: 1.9 s total, pause about 30 ms (target 30 ms), 4 passes, 420 MiB sent; pre-copy converges"
        );
    }

    #[test]
    fn a_throttled_move_with_a_cap_and_no_probe() {
        let e = MemoryEstimate {
            link_source: LinkSource::LastMigration,
            cap_mib_s: Some(300),
            total_ms: Some(27_400),
            converges: false,
            throttle_percent: 60,
            ..estimate()
        };
        let [m, p] = lines(&e);
        assert!(
            m.ends_with("link 640 MiB/s (this host's last migration; the target takes no probe), capped at 300 MiB/s"),
            "{m}"
        );
        assert!(p.starts_with("Predicted: 27 s total"), "{p}");
        assert!(
            p.ends_with("auto-converge slows the guest's vCPUs by up to 60 %"),
            "{p}"
        );
    }

    #[test]
    fn a_move_that_switches_to_postcopy_says_so() {
        let e = MemoryEstimate {
            memory_mib: 2048,
            total_ms: None,
            pause_ms: None,
            converges: false,
            throttle_percent: 99,
            postcopy_after_ms: Some(20_000),
            ..estimate()
        };
        let [_, p] = lines(&e);
        assert_eq!(
            p,
            "Predicted: pre-copy would not finish, even with the guest's vCPUs slowed by 99 %; ldm switches to post-copy after about 20 s of pre-copy: the guest then runs on the target while the rest of its memory (up to 2048 MiB) follows"
        );
        let throttled = MemoryEstimate {
            total_ms: Some(45_000),
            pause_ms: Some(30),
            throttle_percent: 70,
            postcopy_after_ms: Some(20_000),
            ..e
        };
        let [_, p] = lines(&throttled);
        assert!(
            p.starts_with("Predicted: pre-copy does not converge in time: auto-converge would slow the guest's vCPUs by up to 70 %; ldm switches to post-copy after about 20 s"),
            "{p}"
        );
    }

    #[test]
    fn the_time_left_counts_the_passes_to_come() {
        let mut p = Progress {
            remaining_bytes: 100 << 20,
            rate_mib_s: 320.0,
            ..Default::default()
        };
        // An older daemon: this pass only.
        let alone = seconds_left(&p).unwrap();
        assert!((alone - 0.3125).abs() < 1e-6, "{alone}");
        p.dirty_rate_mib_s = Some(100.0);
        p.memory_bytes = Some(1 << 30);
        p.downtime_limit_ms = Some(30);
        let with_passes = seconds_left(&p).unwrap();
        assert!(with_passes > alone + 0.1, "{with_passes}");
        p.rate_mib_s = 0.0;
        assert_eq!(seconds_left(&p), None);
    }

    #[test]
    fn the_last_moves_rate_is_named_when_it_bounds_the_copy() {
        let e = MemoryEstimate {
            qemu_rate_mib_s: Some(280),
            ..estimate()
        };
        assert!(lines(&e)[0].ends_with(
            "link 640 MiB/s (measured); QEMU copied at 280 MiB/s on this host's last move"
        ));
    }

    #[test]
    fn a_first_moves_copy_rate_names_the_targets_first_touch() {
        let e = MemoryEstimate {
            link_mib_s: 750,
            first_touch_mib_s: Some(1400),
            cap_mib_s: Some(300),
            ..estimate()
        };
        assert!(
            lines(&e)[0].ends_with(
                "link 750 MiB/s (measured), the target's first touch 1400 MiB/s: copy at ~750 MiB/s, capped at 300 MiB/s"
            ),
            "{}",
            lines(&e)[0]
        );
    }

    #[test]
    fn the_rate_during_the_last_move_is_named_when_it_is_taken() {
        let e = MemoryEstimate {
            dirty_rate_mib_s: 160,
            dirty_during_copy_mib_s: Some(84),
            ..estimate()
        };
        assert_eq!(
            lines(&e)[0],
            "Memory: 1024 MiB, about 310 MiB to send; dirtying 160 MiB/s sampled, 84 MiB/s during its last move from this host (the prediction's); link 640 MiB/s (measured)"
        );
    }

    #[test]
    fn a_move_that_would_not_finish() {
        let e = MemoryEstimate {
            total_ms: None,
            pause_ms: None,
            ..estimate()
        };
        assert!(lines(&e)[1].starts_with("Predicted: the move would not finish"));
    }
}

//! How long a live migration's memory move takes and how long the guest
//! pauses, predicted from what the dry run measured: a pure model of
//! QEMU's pre-copy with ldm's settings (auto-converge on).
//!
//! The first pass sends the memory that has to cross; each next pass
//! sends what the guest dirtied during the previous one. When what is
//! left fits the downtime target at the usable rate, QEMU pauses the
//! guest and sends it. A guest that dirties memory as fast as the link
//! carries it never gets there on its own: QEMU's auto-converge, which
//! ldm always turns on, then throttles the guest's vCPUs (20 %, then 10
//! points more each time the guest dirtied more than half of what was
//! sent over at least a second, twice in a row, up to 99 %), which is
//! the only step ldm takes; the model follows it the same way.

/// What the model starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    /// The guest's memory, bytes (no pass can be larger).
    pub memory_bytes: u64,
    /// What the first pass sends, bytes (memory the guest ever wrote).
    pub to_send_bytes: u64,
    /// How fast the guest dirties memory, bytes/s.
    pub dirty_bytes_s: f64,
    /// What the path carries, bytes/s (the link, or the cap if lower).
    pub rate_bytes_s: f64,
    /// QEMU's downtime target, ms.
    pub downtime_limit_ms: u64,
    /// Time outside the copy: checks, the target's preparation, QEMU's
    /// set-up and the hand-off, ms.
    pub fixed_ms: u64,
    /// What the pause costs besides the last pages (device state, the
    /// hand-off), ms.
    pub pause_overhead_ms: u64,
}

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Whole migration, ms (with `fixed_ms`).
    pub total_ms: u64,
    /// The guest's pause, ms.
    pub pause_ms: u64,
    /// Pre-copy passes, the first full one included (not the final,
    /// paused one).
    pub precopy_passes: u64,
    /// Bytes sent, the final pause's included.
    pub bytes: u64,
    /// Pre-copy fits the downtime target without slowing the guest.
    pub converges: bool,
    /// The highest vCPU throttle auto-converge reaches, percent (0: none).
    pub throttle_percent: u8,
    /// The copy ends at all (false: even at 99 % throttle the guest
    /// dirties more than fits; it would run until cancelled).
    pub finishes: bool,
}

impl Outcome {
    /// Passes as a finished migration's summary counts them (QEMU's
    /// dirty-memory syncs): one at the start, one after each pre-copy
    /// pass, one for the final state.
    pub fn summary_passes(&self) -> u64 {
        self.precopy_passes + 2
    }
}

/// auto-converge's first throttle, percent (QEMU's `cpu-throttle-initial`).
pub const THROTTLE_INITIAL: u8 = 20;
/// Added at each step, percent (`cpu-throttle-increment`).
pub const THROTTLE_STEP: u8 = 10;
/// The most QEMU throttles, percent.
pub const THROTTLE_MAX: u8 = 99;
/// Passes simulated before the model gives up on convergence.
const MAX_PASSES: u64 = 1000;
/// QEMU checks its throttle trigger over periods of at least this long, ms.
const TRIGGER_PERIOD_MS: f64 = 1000.0;

/// Pre-copy, pass by pass.
pub fn predict(i: &Inputs) -> Outcome {
    let rate = i.rate_bytes_s.max(1.0);
    let memory = i.memory_bytes.max(1) as f64;
    let limit = rate * i.downtime_limit_ms as f64 / 1000.0;
    let mut throttle: u8 = 0;
    let mut high = 0u32;
    // The trigger's period: bytes dirtied and sent, and its length.
    let (mut p_dirty, mut p_sent, mut p_ms) = (0.0f64, 0.0f64, 0.0f64);
    let mut pass_bytes = (i.to_send_bytes as f64).min(memory);
    let (mut sent, mut ms, mut passes) = (0.0f64, 0.0f64, 0u64);
    let mut converged_alone = true;
    loop {
        // One pre-copy pass, with the guest running (and throttled).
        let t = pass_bytes / rate;
        let dirty = i.dirty_bytes_s * (1.0 - f64::from(throttle) / 100.0);
        let dirtied = (dirty * t).min(memory);
        sent += pass_bytes;
        ms += t * 1000.0;
        passes += 1;
        if dirtied <= limit {
            // QEMU pauses the guest and sends the rest.
            let final_ms = dirtied / rate * 1000.0;
            return Outcome {
                total_ms: (i.fixed_ms as f64 + ms + final_ms).round() as u64,
                pause_ms: (final_ms + i.pause_overhead_ms as f64).round() as u64,
                precopy_passes: passes,
                bytes: (sent + dirtied).round() as u64,
                converges: converged_alone,
                throttle_percent: throttle,
                finishes: true,
            };
        }
        if passes >= MAX_PASSES || (throttle >= THROTTLE_MAX && dirtied >= pass_bytes) {
            return Outcome {
                total_ms: u64::MAX,
                pause_ms: 0,
                precopy_passes: passes,
                bytes: sent.round() as u64,
                converges: false,
                throttle_percent: throttle,
                finishes: false,
            };
        }
        if dirtied >= pass_bytes {
            // Not getting smaller on its own.
            converged_alone = converged_alone && throttle > 0;
        }
        (p_dirty, p_sent, p_ms) = (p_dirty + dirtied, p_sent + pass_bytes, p_ms + t * 1000.0);
        if p_ms > TRIGGER_PERIOD_MS {
            if p_dirty > p_sent / 2.0 {
                high += 1;
                if high >= 2 {
                    high = 0;
                    throttle = if throttle == 0 {
                        THROTTLE_INITIAL
                    } else {
                        throttle.saturating_add(THROTTLE_STEP).min(THROTTLE_MAX)
                    };
                    converged_alone = false;
                }
            }
            (p_dirty, p_sent, p_ms) = (0.0, 0.0, 0.0);
        }
        pass_bytes = dirtied;
    }
}

/// The time left of a copy under way, ms, by the same model: `remaining`
/// bytes of this pass still to send, the rest as [`predict`] has it.
pub fn remaining_ms(remaining_bytes: u64, i: &Inputs) -> Option<u64> {
    let o = predict(&Inputs {
        to_send_bytes: remaining_bytes,
        fixed_ms: 0,
        ..*i
    });
    o.finishes.then_some(o.total_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;
    const GIB: u64 = 1 << 30;

    fn inputs(to_send_mib: u64, dirty_mib_s: f64, rate_mib_s: f64) -> Inputs {
        Inputs {
            memory_bytes: GIB,
            to_send_bytes: to_send_mib << 20,
            dirty_bytes_s: dirty_mib_s * MIB,
            rate_bytes_s: rate_mib_s * MIB,
            downtime_limit_ms: 30,
            fixed_ms: 500,
            pause_overhead_ms: 10,
        }
    }

    /// (total ms, pause ms, pre-copy passes, converges alone, throttle,
    /// finishes)
    type Want = (u64, u64, u64, bool, u8, bool);

    /// (what is sent MiB, dirty MiB/s, rate MiB/s) → what is predicted.
    #[test]
    fn table() {
        #[rustfmt::skip]
        let rows: &[(u64, f64, f64, Want)] = &[
            // An idle guest: one pass, the rest in the pause.
            (160, 0.0, 320.0, (1000, 10, 1, true, 0, true)),
            // 1 MiB/s dirtied in 0.5 s fits 30 ms at 320 MiB/s.
            (160, 1.0, 320.0, (1002, 12, 1, true, 0, true)),
            // 100 MiB/s: 400 → 125 → 39 → 12.2 MiB, then 3.8 MiB paused
            // (the limit is 9.6 MiB: 30 ms at 320 MiB/s).
            (400, 100.0, 320.0, (2313, 22, 4, true, 0, true)),
            // A cap halves the rate: the guest dirties more than half of
            // what is sent, so auto-converge steps in (20 %).
            (400, 100.0, 160.0, (6500, 25, 8, false, 20, true)),
            // Dirtying faster than the rate: throttled until it fits.
            (1024, 400.0, 320.0, (27017, 31, 15, false, 60, true)),
            // Far beyond the link: even 99 % is not enough.
            (1024, 100_000.0, 320.0, (u64::MAX, 0, 19, false, 99, false)),
        ];
        for (send, dirty, rate, want) in rows {
            let o = predict(&inputs(*send, *dirty, *rate));
            let got = (
                o.total_ms,
                o.pause_ms,
                o.precopy_passes,
                o.converges,
                o.throttle_percent,
                o.finishes,
            );
            assert_eq!(
                got, *want,
                "send {send} MiB, dirty {dirty}, rate {rate}: {o:?}"
            );
        }
    }

    #[test]
    fn bytes_add_up_the_passes() {
        let o = predict(&inputs(400, 100.0, 320.0));
        // 400 + 125 + 39.06 + 12.21 + 3.81 MiB
        assert_eq!(o.bytes >> 20, 580);
        assert_eq!(o.summary_passes(), 6);
    }

    #[test]
    fn a_pass_is_never_larger_than_the_memory() {
        let mut i = inputs(4096, 0.0, 1024.0);
        i.memory_bytes = GIB;
        assert_eq!(predict(&i).bytes, GIB);
    }

    #[test]
    fn remaining_time_counts_the_passes_still_to_come() {
        let i = inputs(400, 100.0, 320.0);
        let left = remaining_ms(100 << 20, &i).unwrap();
        // 100 MiB, then 31.25 and 9.77 and the pause.
        assert!((440..460).contains(&left), "{left}");
        assert_eq!(remaining_ms(1 << 20, &inputs(1, 100_000.0, 1.0)), None);
    }
}

//! Which copy a live move runs: multifd pre-copy on several channels, or
//! one channel with post-copy possible. One pure rule ([`choose`]), used
//! by the source ldmd before it prepares a move and by the dry run, which
//! prints the same choice.
//!
//! QEMU 10.0 refuses `postcopy-ram` together with multifd, so a move that
//! may switch to post-copy runs on one channel, which under TCG carries
//! about half of what two do. With `--postcopy=auto` ldm therefore
//! measures before it prepares (the guest's dirty rate, the copy's rate)
//! and runs the model ([`crate::predict`]) for multifd pre-copy: when the
//! switch rule would not fire by the model ([`crate::postcopy::planned_after_ms`]
//! is `None`: pre-copy finishes, within [`crate::postcopy::AUTO_PRECOPY_MS`]
//! of copying, the throttle below [`crate::postcopy::AUTO_THROTTLE_PERCENT`])
//! the move runs multifd without post-copy; otherwise on one channel with
//! post-copy ready. A move that cannot be measured keeps post-copy ready.

use crate::migration::PostcopyMode;
use crate::postcopy::planned_after_ms;
use crate::predict::Outcome;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a live move's memory copy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CopyKind {
    /// Pre-copy on the multifd channels; no post-copy.
    Multifd,
    /// One channel, `postcopy-ram` on: the switch rule may fire.
    PostcopyReady,
}

/// The choice, as the move and the dry run report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyChoice {
    /// The copy chosen.
    pub kind: CopyKind,
    /// Its channels (as the summary counts them).
    pub channels: u32,
    /// Why, in a sentence for the administrator.
    pub reason: String,
}

impl CopyChoice {
    /// Post-copy may happen.
    pub fn postcopy(&self) -> bool {
        self.kind == CopyKind::PostcopyReady
    }
}

impl fmt::Display for CopyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CopyKind::Multifd => write!(
                f,
                "pre-copy on {} channel{}",
                self.channels,
                if self.channels == 1 { "" } else { "s" }
            )?,
            CopyKind::PostcopyReady => f.write_str("post-copy ready, one channel")?,
        }
        write!(f, ": {}", self.reason)
    }
}

/// What the model said about multifd pre-copy, and what it started from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// The guest's dirty rate, MiB/s.
    pub dirty_mib_s: u64,
    /// The multifd copy's rate the model used, MiB/s.
    pub rate_mib_s: u64,
    /// The model's prediction of multifd pre-copy.
    pub outcome: Outcome,
    /// The prediction's time outside the copy, ms.
    pub fixed_ms: u64,
    /// The predicted first pass, ms.
    pub first_pass_ms: u64,
}

/// What the choice starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The move's `--postcopy`.
    pub mode: PostcopyMode,
    /// Why this move cannot switch to post-copy at all (the target's
    /// protocol, no userfaultfd there, a storage copy); `None`: it can.
    pub no_postcopy: Option<String>,
    /// The channels of a multifd copy (the summary's count).
    pub multifd_channels: u32,
    /// The measurement of `auto` (`Err`: why there is none).
    pub measured: Result<Measured, String>,
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// The copy this move runs, and why.
pub fn choose(f: &Facts) -> CopyChoice {
    let multifd = |reason: String| CopyChoice {
        kind: CopyKind::Multifd,
        channels: f.multifd_channels.max(1),
        reason,
    };
    let ready = |reason: String| CopyChoice {
        kind: CopyKind::PostcopyReady,
        channels: 1,
        reason,
    };
    if f.mode == PostcopyMode::Never {
        return multifd("--postcopy=never".into());
    }
    if let Some(why) = &f.no_postcopy {
        return multifd(why.clone());
    }
    if f.mode == PostcopyMode::Always {
        return ready("--postcopy=always".into());
    }
    let m = match &f.measured {
        Ok(m) => m,
        Err(why) => return ready(format!("{why}, so ldm keeps post-copy possible")),
    };
    let rates = format!(
        "the guest dirties {} MiB/s, the copy carries {} MiB/s on {} channels",
        m.dirty_mib_s,
        m.rate_mib_s,
        f.multifd_channels.max(1)
    );
    let o = &m.outcome;
    match planned_after_ms(PostcopyMode::Auto, o, m.fixed_ms, m.first_pass_ms) {
        None => {
            let throttle = if o.throttle_percent > 0 {
                format!(
                    ", the guest's vCPUs slowed by up to {} %",
                    o.throttle_percent
                )
            } else {
                String::new()
            };
            multifd(format!(
                "{rates}: pre-copy is predicted to converge in {} of copying{throttle}",
                seconds(o.total_ms.saturating_sub(m.fixed_ms))
            ))
        }
        Some(_) => {
            let why = if !o.finishes {
                "pre-copy would not finish even with the guest's vCPUs slowed by 99 %".to_string()
            } else if u64::from(o.throttle_percent) >= crate::postcopy::AUTO_THROTTLE_PERCENT {
                format!(
                    "pre-copy would need the guest's vCPUs slowed by {} %",
                    o.throttle_percent
                )
            } else {
                format!(
                    "pre-copy would take {} of copying, more than the {} ldm waits before switching",
                    seconds(o.total_ms.saturating_sub(m.fixed_ms)),
                    seconds(crate::postcopy::AUTO_PRECOPY_MS)
                )
            };
            ready(format!("{rates}: {why}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(copy_ms: u64, throttle_percent: u8, finishes: bool) -> Outcome {
        Outcome {
            total_ms: if finishes { 1_000 + copy_ms } else { u64::MAX },
            pause_ms: 20,
            precopy_passes: 4,
            bytes: 1 << 30,
            converges: throttle_percent == 0,
            throttle_percent,
            finishes,
        }
    }

    fn facts(mode: PostcopyMode, measured: Result<Outcome, &str>) -> Facts {
        Facts {
            mode,
            no_postcopy: None,
            multifd_channels: 2,
            measured: measured
                .map(|outcome| Measured {
                    dirty_mib_s: 120,
                    rate_mib_s: 390,
                    outcome,
                    fixed_ms: 1_000,
                    first_pass_ms: 2_000,
                })
                .map_err(str::to_string),
        }
    }

    /// (facts) → (kind, channels, the line printed).
    #[test]
    fn table() {
        use CopyKind::*;
        use PostcopyMode::*;
        let quiet = Ok(outcome(3_000, 0, true));
        let throttled = Ok(outcome(6_000, 30, true));
        let long = Ok(outcome(20_001, 30, true));
        let hard = Ok(outcome(9_000, 60, true));
        let endless = Ok(outcome(0, 99, false));
        let old = |mut f: Facts| {
            f.no_postcopy =
                Some("hostB speaks migration protocol 3, which has no post-copy".into());
            f
        };
        let one = |mut f: Facts| {
            f.multifd_channels = 1;
            f
        };
        #[rustfmt::skip]
        let rows: Vec<(Facts, CopyKind, u32, &str)> = vec![
            (facts(Auto, quiet), Multifd, 2,
             "pre-copy on 2 channels: the guest dirties 120 MiB/s, the copy carries 390 MiB/s on 2 channels: pre-copy is predicted to converge in 3.0 s of copying"),
            (facts(Auto, throttled), Multifd, 2,
             "pre-copy on 2 channels: the guest dirties 120 MiB/s, the copy carries 390 MiB/s on 2 channels: pre-copy is predicted to converge in 6.0 s of copying, the guest's vCPUs slowed by up to 30 %"),
            (facts(Auto, long), PostcopyReady, 1,
             "post-copy ready, one channel: the guest dirties 120 MiB/s, the copy carries 390 MiB/s on 2 channels: pre-copy would take 20.0 s of copying, more than the 20.0 s ldm waits before switching"),
            (facts(Auto, hard), PostcopyReady, 1,
             "post-copy ready, one channel: the guest dirties 120 MiB/s, the copy carries 390 MiB/s on 2 channels: pre-copy would need the guest's vCPUs slowed by 60 %"),
            (facts(Auto, endless), PostcopyReady, 1,
             "post-copy ready, one channel: the guest dirties 120 MiB/s, the copy carries 390 MiB/s on 2 channels: pre-copy would not finish even with the guest's vCPUs slowed by 99 %"),
            (facts(Auto, Err("QEMU did not measure the dirty rate")), PostcopyReady, 1,
             "post-copy ready, one channel: QEMU did not measure the dirty rate, so ldm keeps post-copy possible"),
            (facts(Never, endless), Multifd, 2, "pre-copy on 2 channels: --postcopy=never"),
            (facts(Always, quiet), PostcopyReady, 1, "post-copy ready, one channel: --postcopy=always"),
            (old(facts(Auto, endless)), Multifd, 2,
             "pre-copy on 2 channels: hostB speaks migration protocol 3, which has no post-copy"),
            (old(facts(Always, Err("not measured"))), Multifd, 2,
             "pre-copy on 2 channels: hostB speaks migration protocol 3, which has no post-copy"),
            (one(facts(Never, quiet)), Multifd, 1, "pre-copy on 1 channel: --postcopy=never"),
        ];
        for (f, kind, channels, line) in rows {
            let c = choose(&f);
            assert_eq!(
                (c.kind, c.channels, c.to_string().as_str()),
                (kind, channels, line),
                "{f:?}"
            );
            assert_eq!(c.postcopy(), kind == PostcopyReady);
        }
    }

    /// Where `auto` runs multifd, the switch rule would not fire on the
    /// same prediction, and the other way round.
    #[test]
    fn multifd_exactly_when_the_switch_rule_would_not_fire() {
        for copy_ms in [0, 5_000, 19_999, 20_000, 20_001, 60_000] {
            for throttle in [0u8, 20, 50, 59, 60, 99] {
                for finishes in [true, false] {
                    let o = outcome(copy_ms, throttle, finishes);
                    let c = choose(&facts(PostcopyMode::Auto, Ok(o)));
                    let switches = planned_after_ms(PostcopyMode::Auto, &o, 1_000, 2_000).is_some();
                    assert_eq!(c.postcopy(), switches, "{o:?}");
                }
            }
        }
    }
}

//! The rate a live move's copy is predicted at ([`crate::predict`]'s
//! `rate_bytes_s`), from what the dry run knows: the link (probed now,
//! or this host's last move's rate, or assumed), the move's cap, the
//! rate QEMU's copy reached on this host's last live move at the same
//! channel count, and the target's first-touch write rate.
//!
//! - After a move, QEMU's last rate bounds the link: under TCG QEMU's
//!   copy, not the link, is what limits it.
//! - On a host's first move (no last rate) with a probed link and a
//!   target that reported how fast it writes fresh memory, the rate is
//!   the slower of the two: the relays carry the bytes and the target's
//!   incoming QEMU faults in and clears the memory they land in, in
//!   threads of their own, so the two stages overlap and the slower one
//!   bounds the copy. (Until 2026-12-07 their per-byte costs were added,
//!   1 / (1 / link + 1 / first touch), for a host whose two cores the
//!   stages share; over 72 first moves on such a host that predicted
//!   +29 % long on average and 42 within ±30 %, the slower stage 0 % and
//!   58: docs/benchmarks.md.)
//! - The cap bounds everything.

use crate::migration::LinkSource;

/// What the rate is chosen from, MiB/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateFacts {
    /// The link's rate.
    pub link_mib: u64,
    /// Where it comes from.
    pub link_source: LinkSource,
    /// The move's bandwidth cap.
    pub cap_mib: Option<u64>,
    /// QEMU's bulk rate on this host's last live move at the move's
    /// channel count (`None`: this host never moved a domain live).
    pub last_mib: Option<u64>,
    /// The target's first-touch write rate, as it reported it.
    pub first_touch_mib: Option<u64>,
}

/// The chosen rate and what bounded it, MiB/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyRate {
    /// The link as the dry run reports it (the last move's rate when the
    /// target takes no probe).
    pub link_mib: u64,
    /// The rate the model takes.
    pub rate_mib: u64,
    /// QEMU's last rate, when it bounds a measured link.
    pub qemu_rate_mib: Option<u64>,
    /// The target's first-touch rate, when it is weighed against the link.
    pub first_touch_mib: Option<u64>,
}

/// A first move's rate: the slower of the link and the target's first
/// touch (see the module's text).
pub fn first_move_rate(link_mib: u64, first_touch_mib: u64) -> u64 {
    link_mib.min(first_touch_mib).max(1)
}

/// The rate the model takes.
pub fn copy_rate(f: &RateFacts) -> CopyRate {
    let link_mib = match f.link_source {
        LinkSource::LastMigration => f.last_mib.unwrap_or(f.link_mib),
        _ => f.link_mib,
    };
    let measured = f.link_source == LinkSource::Measured;
    let qemu_rate_mib = f.last_mib.filter(|r| measured && *r < link_mib);
    let first_touch_mib = f
        .first_touch_mib
        .filter(|t| *t > 0 && measured && f.last_mib.is_none());
    let path = match first_touch_mib {
        Some(t) => first_move_rate(link_mib, t),
        None => link_mib,
    };
    let rate_mib = [Some(path), f.cap_mib, qemu_rate_mib]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(path)
        .max(1);
    CopyRate {
        link_mib,
        rate_mib,
        qemu_rate_mib,
        first_touch_mib,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinkSource::{Assumed, LastMigration, Measured};

    /// (link, source, cap, last, first touch) → (link shown, rate, QEMU's
    /// rate shown, first touch shown).
    type Row = (
        (u64, LinkSource, Option<u64>, Option<u64>, Option<u64>),
        (u64, u64, Option<u64>, Option<u64>),
    );

    #[test]
    fn the_rate_the_model_takes() {
        #[rustfmt::skip]
        let rows: &[Row] = &[
            // Nothing measured: the assumed figure.
            ((200, Assumed, None, None, None), (200, 200, None, None)),
            // An assumed link is not weighed against a first touch.
            ((200, Assumed, None, None, Some(1400)), (200, 200, None, None)),
            // The probe alone (an older target reports no first touch).
            ((750, Measured, None, None, None), (750, 750, None, None)),
            // Probe and first touch, a first move: the slower.
            ((750, Measured, None, None, Some(1400)), (750, 750, None, Some(1400))),
            ((750, Measured, None, None, Some(434)), (750, 434, None, Some(434))),
            // After a move QEMU's last rate bounds it; first touch unused.
            ((750, Measured, None, Some(400), Some(1400)), (750, 400, Some(400), None)),
            // ... even when the last rate is above the slower stage.
            ((750, Measured, None, Some(600), Some(1400)), (750, 600, Some(600), None)),
            // A last rate above the link: the link.
            ((750, Measured, None, Some(900), Some(1400)), (750, 750, None, None)),
            // A cap lower than both bounds it.
            ((750, Measured, Some(300), None, Some(1400)), (750, 300, None, Some(1400))),
            // A cap above the slower does not.
            ((750, Measured, Some(600), None, Some(434)), (750, 434, None, Some(434))),
            // No probe: the last move's rate is the link, no first touch.
            ((200, LastMigration, None, Some(420), Some(1400)), (420, 420, None, None)),
            // A zero first touch is no figure.
            ((750, Measured, None, None, Some(0)), (750, 750, None, None)),
        ];
        for ((link, source, cap, last, touch), want) in rows {
            let r = copy_rate(&RateFacts {
                link_mib: *link,
                link_source: *source,
                cap_mib: *cap,
                last_mib: *last,
                first_touch_mib: *touch,
            });
            let got = (r.link_mib, r.rate_mib, r.qemu_rate_mib, r.first_touch_mib);
            assert_eq!(
                got, *want,
                "{link} {source:?} cap {cap:?} last {last:?} touch {touch:?}"
            );
        }
    }

    #[test]
    fn the_slower_stage_bounds_a_first_move() {
        assert_eq!(first_move_rate(750, 2143), 750);
        assert_eq!(first_move_rate(750, 434), 434);
        assert_eq!(first_move_rate(1000, 1000), 1000);
        assert_eq!(first_move_rate(0, 0), 1);
    }
}

//! Where the guest-observed pause goes: the probe's longest gap split at
//! the source's stop and the target's resume. The lab's hosts are
//! namespaces of this machine, so the probe and both QEMUs read one wall
//! clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ldm_qemu::{QmpEvent, QmpTimestamp};

/// The probe's longest gap in three: the last reply before it to the
/// source's stop, the stop to the target's resume, the resume to the
/// first reply after it; ms. A negative share means the event fell
/// outside the gap (the clients saw no pause there). The last share is
/// cut again by the round trip of that first reply: the datagram it
/// answers was sent `after_ms - answer_ms` after the resume (negative:
/// before; those sent between were lost), and waited `answer_ms` for the
/// guest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// The gap's length: the sum of the three shares.
    pub gap_ms: f64,
    pub before_ms: f64,
    pub pause_ms: f64,
    pub after_ms: f64,
    pub answer_ms: f64,
    /// The probe's longest gap (the guest-observed downtime), ms, and
    /// where it began, ms from the stop (negative: before): the gap over
    /// the pause is not always the longest.
    pub longest_ms: f64,
    pub longest_from_stop_ms: f64,
}

impl Split {
    /// Gap `g` split with the guest stopped at `stop` and running again
    /// at `resume`; `longest` is the longest gap.
    pub fn of(g: &WallGap, longest: &WallGap, stop: SystemTime, resume: SystemTime) -> Split {
        Split {
            longest_ms: longest.length.as_secs_f64() * 1000.0,
            longest_from_stop_ms: ms_between(stop, longest.start),
            gap_ms: g.length.as_secs_f64() * 1000.0,
            before_ms: ms_between(g.start, stop),
            pause_ms: ms_between(stop, resume),
            after_ms: ms_between(resume, g.start + g.length),
            answer_ms: g.answer.as_secs_f64() * 1000.0,
        }
    }

    /// Whether the gap over the pause is the longest one.
    pub fn over_pause_is_longest(&self) -> bool {
        self.gap_ms >= self.longest_ms
    }

    /// From the resume to the sending of the first datagram answered
    /// after the gap, ms.
    pub fn unanswered_ms(&self) -> f64 {
        self.after_ms - self.answer_ms
    }

    /// The three shares as JSON.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "gap_ms": self.gap_ms,
            "before_stop_ms": self.before_ms,
            "pause_ms": self.pause_ms,
            "after_resume_ms": self.after_ms,
            "first_answer_rtt_ms": self.answer_ms,
            "longest_gap_ms": self.longest_ms,
            "longest_gap_from_stop_ms": self.longest_from_stop_ms,
        })
    }
}

impl Split {
    /// Each share aggregated by `f` (a median, a maximum) over `splits`;
    /// `None` if `f` gives nothing (no splits).
    pub fn each(splits: &[Split], f: impl Fn(Vec<f64>) -> Option<f64>) -> Option<Split> {
        let of = |g: fn(&Split) -> f64| f(splits.iter().map(g).collect());
        Some(Split {
            gap_ms: of(|s| s.gap_ms)?,
            before_ms: of(|s| s.before_ms)?,
            pause_ms: of(|s| s.pause_ms)?,
            after_ms: of(|s| s.after_ms)?,
            answer_ms: of(|s| s.answer_ms)?,
            longest_ms: of(|s| s.longest_ms)?,
            longest_from_stop_ms: of(|s| s.longest_from_stop_ms)?,
        })
    }

    /// The gap and its shares, without where the longest gap was.
    pub fn shares(&self) -> String {
        format!(
            "gap {:.1} = before stop {:.1} + pause {:.1} + after resume {:.1} ms (first answered datagram sent at resume {:+.1}, its round trip {:.1})",
            self.gap_ms,
            self.before_ms,
            self.pause_ms,
            self.after_ms,
            self.unanswered_ms(),
            self.answer_ms
        )
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.shares())?;
        if !self.over_pause_is_longest() {
            write!(
                f,
                "; the longest gap, {:.1} ms, began at stop {:+.1}",
                self.longest_ms, self.longest_from_stop_ms
            )?;
        }
        Ok(())
    }
}

/// A gap in the probe's replies on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallGap {
    /// The last reply before it.
    pub start: SystemTime,
    pub length: Duration,
    /// The round trip of the reply that ended it.
    pub answer: Duration,
}

impl WallGap {
    fn holds(&self, t: SystemTime) -> bool {
        self.start <= t && t <= self.start + self.length
    }
}

/// The gap over the guest's pause among `gaps`: the one the resume falls
/// in (the stopped guest answers nothing, and for a while after it runs
/// again), else the one the stop falls in. Not always the longest gap: a
/// guest starved of CPU during the copy can leave a longer one earlier.
pub fn pause_gap(gaps: &[WallGap], stop: SystemTime, resume: SystemTime) -> Option<&WallGap> {
    gaps.iter()
        .find(|g| g.holds(resume))
        .or_else(|| gaps.iter().find(|g| g.holds(stop)))
}

/// The longest of `gaps` (the first of equals).
pub fn longest(gaps: &[WallGap]) -> Option<&WallGap> {
    gaps.iter()
        .reduce(|a, b| if b.length > a.length { b } else { a })
}

/// From `a` to `b`, ms, negative if `b` is earlier.
pub fn ms_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// A QMP event's time on the wall clock.
pub fn qmp_time(ts: QmpTimestamp) -> Option<SystemTime> {
    let secs = u64::try_from(ts.seconds).ok()?;
    let micros = u64::try_from(ts.microseconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// Microseconds since the Unix epoch on the wall clock.
pub fn unix_us(us: i64) -> Option<SystemTime> {
    Some(UNIX_EPOCH + Duration::from_micros(u64::try_from(us).ok()?))
}

/// The time of the first event named `name` among `events`.
pub fn first(events: &[QmpEvent], name: &str) -> Option<SystemTime> {
    events
        .iter()
        .find(|e| e.event == name)
        .and_then(|e| e.timestamp)
        .and_then(qmp_time)
}

/// ldm's pause on the wall clock: from the source's `STOP` (reported by
/// ldmd) for the pause's total, as ldmd measures it (the hand-off's link
/// counted one way, half its round trip; whole ms).
pub fn ldm_pause(p: &ldm_api::migration::PauseBreakdown) -> Option<(SystemTime, SystemTime)> {
    let stop = unix_us(p.source_stopped_at_us?)?;
    Some((stop, stop + Duration::from_millis(p.total_ms())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
    }

    fn gap(start_ms: u64, length_ms: u64, answer_ms: u64) -> WallGap {
        WallGap {
            start: at(start_ms),
            length: Duration::from_millis(length_ms),
            answer: Duration::from_millis(answer_ms),
        }
    }

    #[test]
    fn the_pauses_gap_is_the_one_over_the_resume_else_the_stop() {
        // A longer gap during the copy, then the pause's.
        let gaps = [gap(0, 150, 1), gap(500, 100, 60)];
        assert_eq!(pause_gap(&gaps, at(501), at(520)), Some(&gaps[1]));
        // A resume placed just after the gap's end (ldm's is computed):
        // the gap the stop is in.
        assert_eq!(pause_gap(&gaps, at(510), at(601)), Some(&gaps[1]));
        assert_eq!(pause_gap(&gaps, at(700), at(710)), None);
        assert_eq!(longest(&gaps), Some(&gaps[0]));
        assert_eq!(longest(&[]), None);
    }

    #[test]
    fn a_gap_splits_at_the_stop_and_the_resume() {
        // Last reply at 100, stop at 102, resume at 117, next reply at
        // 190 to a datagram sent at 150.
        let g = gap(100, 90, 40);
        let s = Split::of(&g, &g, at(102), at(117));
        assert_eq!((s.before_ms, s.pause_ms, s.after_ms), (2.0, 15.0, 73.0));
        assert_eq!(s.unanswered_ms(), 33.0);
        assert_eq!(
            s.to_string(),
            "gap 90.0 = before stop 2.0 + pause 15.0 + after resume 73.0 ms (first answered datagram sent at resume +33.0, its round trip 40.0)"
        );
    }

    #[test]
    fn an_event_outside_the_gap_shows_as_a_negative_share() {
        // The replies stopped 3 ms after the stop (replies in flight).
        // Datagrams waited through the pause and were answered late.
        let g = gap(103, 50, 45);
        // The longest gap came earlier, during the copy.
        let s = Split::of(&g, &gap(20, 80, 1), at(100), at(120));
        assert_eq!((s.before_ms, s.pause_ms, s.after_ms), (-3.0, 20.0, 33.0));
        assert!(!s.over_pause_is_longest());
        assert_eq!((s.longest_ms, s.longest_from_stop_ms), (80.0, -80.0));
        assert!(
            s.to_string()
                .ends_with("; the longest gap, 80.0 ms, began at stop -80.0"),
            "{s}"
        );
        assert_eq!(s.unanswered_ms(), -12.0);
    }

    #[test]
    fn qmp_timestamps_and_microseconds_are_wall_clock() {
        let ts = QmpTimestamp {
            seconds: 1_800_000_000,
            microseconds: 250_500,
        };
        assert_eq!(qmp_time(ts), Some(at(250) + Duration::from_micros(500)));
        assert_eq!(
            qmp_time(QmpTimestamp {
                seconds: -1,
                microseconds: 0
            }),
            None
        );
        assert_eq!(unix_us(1_800_000_000_250_000), Some(at(250)));
        assert_eq!(unix_us(-5), None);
    }

    #[test]
    fn events_are_found_by_name() {
        let ev = |name: &str, ms: i64| QmpEvent {
            event: name.into(),
            data: serde_json::Value::Null,
            timestamp: Some(QmpTimestamp {
                seconds: 1_800_000_000,
                microseconds: ms * 1000,
            }),
        };
        let events = [
            ev("MIGRATION", 1),
            ev("STOP", 2),
            ev("RESUME", 3),
            ev("STOP", 4),
        ];
        assert_eq!(first(&events, "STOP"), Some(at(2)));
        assert_eq!(first(&events, "SHUTDOWN"), None);
    }

    #[test]
    fn ldms_pause_runs_from_the_reported_stop_for_its_total() {
        let p = ldm_api::migration::PauseBreakdown {
            qemu_downtime_ms: 10,
            completion_to_commit_ms: 2,
            link_ms: 4,
            target_load_ms: 1,
            target_cont_ms: 30,
            target_resume_event_ms: Some(1),
            source_stopped_at_us: Some(1_800_000_000_100_000),
            ..Default::default()
        };
        assert_eq!(ldm_pause(&p), Some((at(100), at(116))));
        let old = ldm_api::migration::PauseBreakdown {
            source_stopped_at_us: None,
            ..p
        };
        assert_eq!(ldm_pause(&old), None);
    }
}

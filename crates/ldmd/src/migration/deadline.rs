//! Every deadline of a migration, in one place.
//!
//! Each state of the source and target machines waits for something (a
//! peer message, a QEMU event, the release of an earlier migration); each
//! wait ends at the deadline given here. What a missed deadline means is
//! decided by the step functions (`source/machine.rs`, `target/machine.rs`),
//! never by the wait itself: before the source sent `Commit` it rolls the
//! migration back; after, it leaves the source paused in `e` and asks the
//! target for the outcome.
//!
//! Test override: with `LDMD_TEST_DEADLINE_SECS=N` in ldmd's environment,
//! every deadline here is capped at N seconds, so fault tests do not wait
//! minutes.

use std::time::Duration;

/// The environment variable that caps every migration deadline (seconds).
pub const TEST_ENV: &str = "LDMD_TEST_DEADLINE_SECS";

/// What a deadline guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A reply to `Check` or `Abort`, and each message of the hand-shake.
    PeerReply,
    /// `Prepared`: the target starts an incoming QEMU (slow under TCG).
    Prepare,
    /// Sending one control message (a peer that stops reading).
    PeerSend,
    /// The target's silence limit in `Prepared`/`Receiving`: the source
    /// sends `Progress` at least once a second.
    SourceSilence,
    /// The source's copy making no headway (bytes sent not growing), as
    /// when the target ldmd is frozen.
    CopyHeadway,
    /// From QEMU pausing the source to QEMU reporting completion.
    Switchover,
    /// From `Commit` sent to `Committed` received.
    Handoff,
    /// The target's wait for the incoming QEMU to hold everything.
    IncomingLoad,
    /// One QMP command during the migration (QEMU may be busy switching
    /// over: a missed reply is "no news", not a failure).
    QemuCommand,
    /// QEMU's release of an earlier outgoing migration.
    Release,
    /// A resolution query to the target about an unconfirmed hand-off.
    Resolve,
    /// One attempt to resume a paused post-copy: connect, `Recover`, the
    /// target's `Recovering` (its QEMU listening again).
    Recover,
}

impl Wait {
    /// The deadline without the test override.
    pub const fn base(self) -> Duration {
        Duration::from_secs(match self {
            Wait::PeerReply => 30,
            Wait::Prepare => 90,
            Wait::PeerSend => 10,
            Wait::SourceSilence => 15,
            Wait::CopyHeadway => 30,
            Wait::Switchover => 60,
            Wait::Handoff => 60,
            Wait::IncomingLoad => 30,
            Wait::QemuCommand => 2,
            Wait::Release => 5,
            Wait::Resolve => 15,
            Wait::Recover => 15,
        })
    }

    /// The deadline in force: the base, capped by the test override.
    pub fn get(self) -> Duration {
        capped(self.base(), test_cap())
    }
}

/// The test override, if set to a positive number of seconds.
fn test_cap() -> Option<Duration> {
    std::env::var(TEST_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

fn capped(base: Duration, cap: Option<Duration>) -> Duration {
    cap.map_or(base, |c| base.min(c))
}

/// How often the source sends `Progress` (the target's heartbeat).
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// First and longest pause between resolution attempts of an unconfirmed
/// hand-off (doubling in between); the longest is capped by the test
/// override like the deadlines (see [`resolve_backoff`]).
pub const RESOLVE_BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(60));

/// [`RESOLVE_BACKOFF`] with its longest pause capped by the test override.
pub fn resolve_backoff() -> (Duration, Duration) {
    let (first, longest) = RESOLVE_BACKOFF;
    (first, capped(longest, test_cap()).max(first))
}

/// First and longest pause between attempts to resume a paused
/// post-copy (doubling in between): the guest waits on the target for its
/// memory, so the source tries often.
pub const RECOVER_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(15));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_override_only_shortens() {
        let base = Wait::Handoff.base();
        assert_eq!(capped(base, None), base);
        assert_eq!(
            capped(base, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            capped(Wait::QemuCommand.base(), Some(Duration::from_secs(3))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn the_target_waits_longer_than_the_heartbeat() {
        assert!(Wait::SourceSilence.base() > HEARTBEAT * 5);
    }
}

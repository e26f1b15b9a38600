//! What a [`super::UdpProbe`] saw: replies, gaps and their analysis.

use super::{ms, LISTED_GAP};
use std::time::{Duration, SystemTime};

/// One reply: its sequence number, when it arrived and its round trip
/// (both since the probe started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub seq: u64,
    pub at: Duration,
    pub rtt: Duration,
}

/// A pause in the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// When the last reply before it arrived, since the probe started.
    pub after: Duration,
    /// How long no reply arrived.
    pub length: Duration,
    /// The round trip of the reply that ended it (zero if the replies
    /// stopped for good): when that datagram was sent, which tells a guest
    /// slow to answer (datagrams waited and were answered late) from one
    /// that did not get them (they were lost until then).
    pub next_rtt: Duration,
}

/// What a [`UdpProbe`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Datagrams sent.
    pub sent: u64,
    /// Distinct datagrams answered.
    pub received: u64,
    /// Sent and never answered.
    pub lost: u64,
    /// Replies to a datagram already answered.
    pub duplicates: u64,
    /// Replies from the target that were not a datagram of this probe.
    pub foreign: u64,
    /// The longest time between two consecutive replies, or between the
    /// last reply and the last send if the replies stopped: the pause the
    /// guest's clients saw. Zero with fewer than one reply.
    pub longest_gap: Duration,
    /// Every gap of at least [`LISTED_GAP`], in order.
    pub gaps: Vec<Gap>,
    /// The longest round trip of an answered datagram.
    pub max_rtt: Duration,
    /// From the first send to the last.
    pub duration: Duration,
    /// The wall clock when the probe started (the origin of every
    /// `Duration` since the start above); the Unix epoch from [`analyse`].
    pub wall_start: SystemTime,
}

impl ProbeReport {
    /// The wall-clock time of `at` (since the probe started).
    pub fn wall(&self, at: Duration) -> SystemTime {
        self.wall_start + at
    }

    /// The listed gap that is the longest (the first of equals), if it is
    /// listed (at least [`LISTED_GAP`]).
    pub fn longest_listed(&self) -> Option<Gap> {
        self.gaps
            .iter()
            .copied()
            .reduce(|a, b| if b.length > a.length { b } else { a })
            .filter(|g| g.length == self.longest_gap)
    }
}

/// The report of `sent` datagrams, the last sent at `last_send`, answered
/// by `replies` (in arrival order, all of this probe).
pub fn analyse(sent: u64, last_send: Duration, replies: &[Reply]) -> ProbeReport {
    let mut seen = std::collections::HashSet::with_capacity(replies.len());
    let mut duplicates = 0;
    for r in replies {
        if !seen.insert(r.seq) {
            duplicates += 1;
        }
    }
    let received = seen.len() as u64;
    let mut gaps = Vec::new();
    let mut longest = Duration::ZERO;
    let mut note = |after: Duration, length: Duration, next_rtt: Duration| {
        longest = longest.max(length);
        if length >= LISTED_GAP {
            gaps.push(Gap {
                after,
                length,
                next_rtt,
            });
        }
    };
    for w in replies.windows(2) {
        note(w[0].at, w[1].at.saturating_sub(w[0].at), w[1].rtt);
    }
    if let Some(last) = replies.last() {
        // Replies that stopped for good are a gap too.
        note(last.at, last_send.saturating_sub(last.at), Duration::ZERO);
    }
    ProbeReport {
        sent,
        received,
        lost: sent - received.min(sent),
        duplicates,
        foreign: 0,
        longest_gap: longest,
        gaps,
        max_rtt: replies.iter().map(|r| r.rtt).max().unwrap_or_default(),
        duration: last_send,
        wall_start: SystemTime::UNIX_EPOCH,
    }
}

impl std::fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent={} received={} lost={} duplicates={} longest_gap={:.1}ms max_rtt={:.1}ms gaps=[",
            self.sent,
            self.received,
            self.lost,
            self.duplicates,
            ms(self.longest_gap),
            ms(self.max_rtt)
        )?;
        for (i, g) in self.gaps.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(
                f,
                "{sep}{:.1}ms@{:.3}s",
                ms(g.length),
                g.after.as_secs_f64()
            )?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(seq: u64, at_ms: u64) -> Reply {
        Reply {
            seq,
            at: Duration::from_millis(at_ms),
            rtt: Duration::from_micros(300),
        }
    }

    #[test]
    fn the_longest_gap_is_between_consecutive_replies() {
        // 0..=4 answered every ms, 5..=39 lost (a 36 ms pause), 40..=49 answered.
        let mut replies: Vec<Reply> = (0..5).map(|s| reply(s, s)).collect();
        replies.extend((40..50).map(|s| reply(s, s)));
        let r = analyse(50, Duration::from_millis(49), &replies);
        assert_eq!((r.sent, r.received, r.lost, r.duplicates), (50, 15, 35, 0));
        assert_eq!(r.longest_gap, Duration::from_millis(36));
        assert_eq!(
            r.gaps,
            [Gap {
                after: Duration::from_millis(4),
                length: Duration::from_millis(36),
                next_rtt: Duration::from_micros(300),
            }]
        );
        assert!(r.to_string().contains("longest_gap=36.0ms"), "{r}");
        assert_eq!(r.longest_listed(), Some(r.gaps[0]));
    }

    #[test]
    fn the_longest_gap_is_placed_on_the_wall_clock() {
        // Gaps of 20 ms after 2 ms and of 30 ms after 30 ms.
        let mut replies: Vec<Reply> = (0..3).map(|s| reply(s, s)).collect();
        replies.extend((22..31).map(|s| reply(s, s)));
        replies.extend((60..65).map(|s| reply(s, s)));
        // The reply that ends it answers a datagram sent 25 ms before.
        replies[12].rtt = Duration::from_millis(25);
        let mut r = analyse(65, Duration::from_millis(64), &replies);
        r.wall_start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let g = r.longest_listed().unwrap();
        assert_eq!(
            (g.after, g.length, g.next_rtt),
            (
                Duration::from_millis(30),
                Duration::from_millis(30),
                Duration::from_millis(25)
            )
        );
        assert_eq!(
            r.wall(g.after),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_030)
        );
        // A longest gap under the listing threshold is not placed.
        let r = analyse(
            3,
            Duration::from_millis(2),
            &[reply(0, 0), reply(1, 1), reply(2, 2)],
        );
        assert_eq!(r.longest_listed(), None);
    }

    #[test]
    fn replies_that_stop_count_as_a_gap_up_to_the_last_send() {
        let replies: Vec<Reply> = (0..10).map(|s| reply(s, s)).collect();
        let r = analyse(100, Duration::from_millis(99), &replies);
        assert_eq!(r.longest_gap, Duration::from_millis(90));
        assert_eq!(r.lost, 90);
    }

    #[test]
    fn duplicates_and_silence() {
        let r = analyse(3, Duration::from_millis(2), &[reply(0, 0), reply(0, 1)]);
        assert_eq!((r.received, r.duplicates, r.lost), (1, 1, 2));
        let r = analyse(5, Duration::from_millis(4), &[]);
        assert_eq!((r.received, r.lost, r.longest_gap), (0, 5, Duration::ZERO));
    }
}

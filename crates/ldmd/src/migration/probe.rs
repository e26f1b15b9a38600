//! The throughput probe of a dry run, and of a live move with
//! `--postcopy=auto` before it chooses its copy: how fast the path to the
//! target carries data, measured over the already authenticated peer connection
//! (TLS, as a migration's channels are).
//!
//! A target that takes probes says so in `Checked` (`probe_bytes`, the
//! most it accepts in a session). The source then sends rounds: `Probe
//! {bytes}` followed by that much filler in raw frames (no JSON, so the
//! probe costs what a migration's relay costs: TLS), answered by
//! `Probed` once the target has it all. The first round is 1 MiB, each
//! next one twice the last, until about 0.3 s have passed; the rate is
//! that of the fastest round of at least [`RATED_ROUND`] ([`rate`]). The
//! whole probe lasts about 0.1 s on these hosts, so one stall of the
//! host (the guest's vCPU, the target's first-touch sample) weighed on
//! an average of all rounds as much as half the figure; the fastest
//! larger round is what the path carries when nothing else runs, as
//! the smaller ones are mostly their round trip. A target of an older
//! release offers nothing and is never probed; a probe that fails or
//! takes too long leaves the dry run without a measurement.
//!
//! With a live move's `Checked` the target also reports how fast it
//! writes fresh memory ([`first_touch`]): its incoming QEMU receives the
//! guest's RAM into pages it never touched, and on a host's first move
//! (no earlier rate to go by) the source's prediction combines that rate
//! with the probed link (`ldm_api::copy_rate`).

use super::protocol::{ToSource, ToTarget};
use bytes::Bytes;
use ldm_peer::Framed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// The most filler a target takes in one session, bytes.
pub const TARGET_MAX_BYTES: u64 = 64 << 20;
/// The most the source sends, bytes.
const SOURCE_MAX_BYTES: u64 = 32 << 20;
/// The first round, bytes.
const FIRST_ROUND: u64 = 1 << 20;
/// The smallest round whose rate counts, bytes.
const RATED_ROUND: u64 = 4 << 20;
/// The source starts no round after this.
const SEND_TIME: Duration = Duration::from_millis(300);
/// One raw frame of filler.
const FRAME_BYTES: usize = 256 << 10;
/// The whole probe's deadline.
const PROBE_WAIT: Duration = Duration::from_secs(3);

/// Fresh memory written by each slice of [`first_touch`], MiB: small
/// enough to cost a few milliseconds, large enough to be past the
/// allocator's caches. All slices stay mapped until the last is written
/// (so none reuses warm memory), which is ldmd's resident size during
/// the check: 24 MiB.
const FIRST_TOUCH_MIB: usize = 8;
/// Slices measured; the fastest counts. One 32 MiB measurement, taken
/// while the checks load the host, read 550–613 MiB/s where the host
/// writes 1700–1900 (docs/benchmarks.md).
const FIRST_TOUCH_TRIES: usize = 3;
/// How long the target waits for its first-touch figure.
const FIRST_TOUCH_WAIT: Duration = Duration::from_secs(1);

/// The target's first-touch write rate, MiB/s, with the pages an
/// incoming QEMU here gets (`huge`: transparent huge pages, else 4 KiB),
/// measured off the async runtime; `None` (logged) if it failed or took
/// longer than [`FIRST_TOUCH_WAIT`].
pub async fn first_touch(huge: bool) -> Option<u64> {
    let run = tokio::task::spawn_blocking(move || {
        ldm_qemu::first_touch::best_first_touch_mib_s(FIRST_TOUCH_MIB, FIRST_TOUCH_TRIES, huge)
    });
    match tokio::time::timeout(FIRST_TOUCH_WAIT, run).await {
        Ok(Ok(Ok(mib_s))) => Some((mib_s.round() as u64).max(1)),
        Ok(Ok(Err(e))) => {
            tracing::info!("no first-touch rate: {e}");
            None
        }
        Ok(Err(e)) => {
            tracing::info!("no first-touch rate: {e}");
            None
        }
        Err(_) => {
            tracing::info!("no first-touch rate: it took over {FIRST_TOUCH_WAIT:?}");
            None
        }
    }
}

/// Probes for about [`SEND_TIME`] (at most the target's `offered` bytes)
/// and returns the rate the target received at, bytes/s. `None` if the
/// probe failed; the connection may then be unusable.
pub async fn measure<S>(ch: &mut Framed<S>, offered: u64) -> Option<f64>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let budget = offered.min(SOURCE_MAX_BYTES);
    let fill = Bytes::from(vec![0x5a; FRAME_BYTES]);
    let t0 = Instant::now();
    let rounds = async {
        let (mut total, mut round) = (0u64, FIRST_ROUND);
        let mut timed = Vec::new();
        while total + round <= budget {
            let started = Instant::now();
            ch.send(&ToTarget::Probe { bytes: round }).await.ok()?;
            let mut left = round;
            while left > 0 {
                let n = left.min(FRAME_BYTES as u64) as usize;
                ch.send_raw(fill.slice(..n)).await.ok()?;
                left -= n as u64;
            }
            match ch.recv::<ToSource>().await {
                Ok(Some(ToSource::Probed { bytes })) if bytes == round => {}
                other => {
                    tracing::debug!(answer = ?other.ok().flatten(), "the target's probe answer is not usable");
                    return None;
                }
            }
            total += round;
            timed.push((round, started.elapsed()));
            if t0.elapsed() >= SEND_TIME {
                break;
            }
            round *= 2;
        }
        (total > 0).then_some(timed)
    };
    let timed = tokio::time::timeout(PROBE_WAIT, rounds)
        .await
        .ok()
        .flatten()?;
    let r = rate(&timed);
    let total: u64 = timed.iter().map(|(b, _)| b).sum();
    tracing::info!(
        rate_mib_s = (r / f64::from(1 << 20)).round(),
        average_mib_s = (total as f64 / t0.elapsed().as_secs_f64() / f64::from(1 << 20)).round(),
        rounds = ?timed.iter().map(|(b, t)| (b >> 20, t.as_micros())).collect::<Vec<_>>(),
        "link probe"
    );
    Some(r)
}

/// The probe's rate from its rounds (bytes, time each), bytes/s: the
/// fastest round of at least [`RATED_ROUND`], or all bytes over all the
/// time when no round was that large.
fn rate(rounds: &[(u64, Duration)]) -> f64 {
    let per_round = |(b, t): &(u64, Duration)| *b as f64 / t.as_secs_f64().max(1e-6);
    let best = rounds
        .iter()
        .filter(|(b, _)| *b >= RATED_ROUND)
        .map(per_round)
        .max_by(f64::total_cmp);
    best.unwrap_or_else(|| {
        let bytes: u64 = rounds.iter().map(|(b, _)| b).sum();
        let secs: f64 = rounds.iter().map(|(_, t)| t.as_secs_f64()).sum();
        bytes as f64 / secs.max(1e-3)
    })
}

/// The target's side: what one session's probes may still send.
#[derive(Debug, Default)]
pub struct Counter {
    bytes: u64,
}

impl Counter {
    /// A `Probe` of `bytes`: refused if the session's probes would pass
    /// [`TARGET_MAX_BYTES`].
    pub fn admit(&mut self, bytes: u64) -> Result<(), String> {
        let total = self.bytes.saturating_add(bytes);
        if total > TARGET_MAX_BYTES {
            return Err(format!(
                "the source asked to probe more than {} MiB",
                TARGET_MAX_BYTES >> 20
            ));
        }
        self.bytes = total;
        Ok(())
    }
}

/// Receives one round's `bytes` of filler (admitted by [`Counter`]) and
/// answers `Probed`; `Err` says why the session must end.
pub async fn receive<S>(ch: &mut Framed<S>, bytes: u64) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let take = async {
        let mut left = bytes;
        while left > 0 {
            let frame = match ch.recv_raw().await {
                Ok(Some(f)) => f,
                Ok(None) => return Err("the source closed the connection in a probe".to_string()),
                Err(e) => return Err(format!("a probe's filler did not arrive: {e}")),
            };
            left = left
                .checked_sub(frame.len() as u64)
                .ok_or("the source sent more probe filler than it announced")?;
        }
        ch.send(&ToSource::Probed { bytes })
            .await
            .map_err(|e| format!("cannot answer the probe: {e}"))
    };
    tokio::time::timeout(PROBE_WAIT, take)
        .await
        .map_err(|_| "a probe's filler did not arrive in time".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_fastest_large_round() {
        let ms = Duration::from_millis;
        const MIB: u64 = 1 << 20;
        // A stall in the 16 MiB round: the 8 MiB round's 400 MiB/s counts,
        // not the small rounds' round trips nor the stalled round.
        let rounds = [
            (MIB, ms(10)),
            (2 * MIB, ms(10)),
            (4 * MIB, ms(20)),
            (8 * MIB, ms(20)),
            (16 * MIB, ms(100)),
        ];
        assert_eq!((rate(&rounds) / MIB as f64).round(), 400.0);
        // Only small rounds: all their bytes over all their time.
        let small = [(MIB, ms(10)), (2 * MIB, ms(20))];
        assert_eq!((rate(&small) / MIB as f64).round(), 100.0);
    }

    #[test]
    fn the_target_admits_up_to_its_bound() {
        let mut c = Counter::default();
        assert!(c.admit(TARGET_MAX_BYTES - 1).is_ok());
        assert!(c.admit(1).is_ok());
        assert!(c.admit(1).is_err());
    }

    #[tokio::test]
    async fn the_target_measures_its_first_touch() {
        assert!(first_touch(false).await.is_some_and(|r| r > 0));
    }

    #[tokio::test]
    async fn a_round_trip_measures_a_rate() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (mut a, mut b) = (Framed::new(a), Framed::new(b));
        let target = tokio::spawn(async move {
            let mut c = Counter::default();
            while let Ok(Some(ToTarget::Probe { bytes })) = b.recv::<ToTarget>().await {
                c.admit(bytes).unwrap();
                receive(&mut b, bytes).await.unwrap();
            }
        });
        let rate = measure(&mut a, TARGET_MAX_BYTES).await;
        assert!(rate.is_some_and(|r| r > 0.0), "{rate:?}");
        drop(a);
        target.await.unwrap();
    }
}

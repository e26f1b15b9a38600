//! The dry run's throughput probe: how fast the path to the target
//! carries data, measured over the already authenticated peer connection
//! (TLS, the same relays' kind of path a migration's channels take).
//!
//! A target that takes probes says so in `Checked` (`probe_bytes`, the
//! most it accepts); the source then sends filler in `Probe` frames for a
//! short, bounded time and times the target's `Probed` answer. A target
//! of an older release offers nothing and is never probed; a probe that
//! fails or takes too long just leaves the dry run without a measurement.

use super::protocol::{ToSource, ToTarget};
use ldm_peer::Framed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// The most filler a target takes in one session, bytes.
pub const TARGET_MAX_BYTES: u64 = 64 << 20;
/// What the source sends at most, bytes.
const SOURCE_MAX_BYTES: u64 = 32 << 20;
/// How long the source keeps sending.
const SEND_TIME: Duration = Duration::from_millis(300);
/// One frame's filler.
const FRAME_BYTES: usize = 256 << 10;
/// The target's answer, once everything is sent.
const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Sends filler for up to [`SEND_TIME`] (at most the target's `offered`
/// bytes) and returns the rate the target received it at, bytes/s.
/// `None` if the probe failed; the connection may then be unusable.
pub async fn measure<S>(ch: &mut Framed<S>, offered: u64) -> Option<f64>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let budget = offered.min(SOURCE_MAX_BYTES);
    if budget < FRAME_BYTES as u64 {
        return None;
    }
    let fill = "x".repeat(FRAME_BYTES);
    let t0 = Instant::now();
    let send = async {
        let mut sent = 0u64;
        loop {
            sent += FRAME_BYTES as u64;
            let last = t0.elapsed() >= SEND_TIME || sent + FRAME_BYTES as u64 > budget;
            let msg = ToTarget::Probe {
                fill: fill.clone(),
                last,
            };
            ch.send(&msg).await.ok()?;
            if last {
                break;
            }
        }
        match ch.recv::<ToSource>().await {
            Ok(Some(ToSource::Probed { bytes })) if bytes == sent => Some(bytes),
            other => {
                tracing::debug!(answer = ?other.map(|m| m.is_some()), "the target's probe answer is not usable");
                None
            }
        }
    };
    let bytes = tokio::time::timeout(SEND_TIME + ANSWER_WAIT, send)
        .await
        .ok()
        .flatten()?;
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    Some(bytes as f64 / secs)
}

/// The target's count of one session's probe.
#[derive(Debug, Default)]
pub struct Counter {
    bytes: u64,
}

impl Counter {
    /// One `Probe` frame: the answer to send if it was the last, or why
    /// the session must end (more than [`TARGET_MAX_BYTES`]).
    pub fn take(&mut self, fill: &str, last: bool) -> Result<Option<ToSource>, String> {
        self.bytes = self.bytes.saturating_add(fill.len() as u64);
        if self.bytes > TARGET_MAX_BYTES {
            return Err(format!(
                "the source sent more than {} MiB of probe",
                TARGET_MAX_BYTES >> 20
            ));
        }
        Ok(last.then_some(ToSource::Probed { bytes: self.bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_answers_the_last_frame_with_the_total() {
        let mut c = Counter::default();
        assert_eq!(c.take("xxxx", false), Ok(None));
        assert_eq!(c.take("xx", true), Ok(Some(ToSource::Probed { bytes: 6 })));
    }

    #[test]
    fn the_target_refuses_more_than_its_bound() {
        let mut c = Counter::default();
        let big = "x".repeat(1 << 20);
        for _ in 0..(TARGET_MAX_BYTES >> 20) {
            assert!(c.take(&big, false).is_ok());
        }
        assert!(c.take("x", true).is_err());
    }
}

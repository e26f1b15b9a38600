//! How fast ldmd's migration relays carry bytes on this host, without a
//! guest: both ends of `ldmd::migration::tunnel` in this process, real TLS
//! 1.3 over 127.0.0.1, a stand-in source QEMU writing into the source's
//! Unix socket and a stand-in incoming QEMU reading (and discarding) from
//! the target's. Three channels, as QEMU's main stream and 2 multifd
//! channels, most bytes on the multifd ones, written 512 KiB at a time as
//! QEMU's multifd packets are.
//!
//! The CPU figure is the whole process's (getrusage): both relays, which on
//! a real move run in two ldmds, plus the stand-in QEMUs' socket copies.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// What the stand-in source QEMU writes per call (a multifd packet).
const WRITE: usize = 512 * 1024;
/// The main channel's share: QEMU's main stream carries little of the RAM
/// once multifd runs.
const MAIN_SHARE: u64 = 64 << 20;
/// Repetitions per measurement.
pub const RUNS: usize = 3;
/// The longest one repetition may take: 2 GiB at well under 100 MiB/s
/// means the relay is broken, not slow.
const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// One repetition: plaintext rate and the process's CPU per GiB.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub mib_s: f64,
    pub cpu_s_per_gib: f64,
}

/// Several repetitions of `total` bytes.
#[derive(Debug, Clone)]
pub struct RelayRate {
    pub total: u64,
    pub runs: Vec<Run>,
}

impl RelayRate {
    fn median_and_worst(&self, key: impl Fn(&Run) -> f64, higher_is_better: bool) -> (f64, f64) {
        let mut v: Vec<f64> = self.runs.iter().map(key).collect();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        let worst = if higher_is_better {
            v[0]
        } else {
            v[v.len() - 1]
        };
        (median, worst)
    }
}

impl std::fmt::Display for RelayRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rate, rate_worst) = self.median_and_worst(|r| r.mib_s, true);
        let (cpu, cpu_worst) = self.median_and_worst(|r| r.cpu_s_per_gib, false);
        write!(
            f,
            "migration relay, in-process TLS 1.3 over 127.0.0.1, 3 channels, {} MiB in 512 KiB writes, ",
            self.total >> 20
        )?;
        if self.runs.len() == 1 {
            write!(f, "1 run: {rate:.0} MiB/s; CPU {cpu:.2} s/GiB")?;
        } else {
            write!(
                f,
                "{} runs: {rate:.0} MiB/s median, {rate_worst:.0} worst; CPU {cpu:.2} s/GiB median, {cpu_worst:.2} worst",
                self.runs.len()
            )?;
        }
        write!(
            f,
            " (this process: both relays plus the stand-in QEMUs' socket copies)"
        )
    }
}

/// User plus system CPU seconds this process has used.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct whose pointer it is
    // given and reads nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Measures `runs` repetitions of `total` bytes (on a runtime of its own).
pub fn measure(total: u64, runs: usize) -> anyhow::Result<RelayRate> {
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let run = rt
            .block_on(async { tokio::time::timeout(RUN_DEADLINE, once(total)).await })
            .map_err(|_| {
                anyhow::anyhow!(
                    "{} MiB did not get through the relays within {} s",
                    total >> 20,
                    RUN_DEADLINE.as_secs()
                )
            })??;
        out.push(run);
    }
    Ok(RelayRate { total, runs: out })
}

/// One repetition.
async fn once(total: u64) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let incoming_path = dir.path().join("incoming.sock");
    let incoming = UnixListener::bind(&incoming_path).context("the stand-in incoming QEMU")?;
    let (_target, endpoint) = ldmd::migration::tunnel::listen(
        "127.0.0.1".parse().expect("an address"),
        incoming_path,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("target relay: {e}"))?;
    let out = dir.path().join("source/out.sock");
    let token = endpoint.token;
    let _source = ldmd::migration::tunnel::connect(&out, endpoint, token)
        .await
        .map_err(|e| anyhow::anyhow!("source relay: {e}"))?;

    let multifd = (total - MAIN_SHARE) / 2;
    let shares = [MAIN_SHARE, multifd, total - MAIN_SHARE - multifd];
    let receiver = tokio::spawn(receive(incoming, shares.len()));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut senders = Vec::new();
    for share in shares {
        senders.push(tokio::spawn(send(out.clone(), share)));
    }
    for s in senders {
        s.await.context("sender")??;
    }
    let received = receiver.await.context("receiver")??;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    anyhow::ensure!(
        received == total,
        "the stand-in incoming QEMU received {received} of {total} bytes"
    );
    let gib = total as f64 / f64::from(1u32 << 30);
    Ok(Run {
        mib_s: (total >> 20) as f64 / elapsed,
        cpu_s_per_gib: cpu / gib,
    })
}

/// The stand-in source QEMU of one channel: `len` bytes, then EOF.
async fn send(path: impl AsRef<Path>, len: u64) -> anyhow::Result<()> {
    let mut s = UnixStream::connect(path.as_ref())
        .await
        .context("connecting to the source relay")?;
    let buf: Vec<u8> = (0..WRITE).map(|i| (i % 251) as u8).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(WRITE as u64) as usize;
        s.write_all(&buf[..n]).await.context("writing")?;
        left -= n as u64;
    }
    s.shutdown().await.context("closing")?;
    Ok(())
}

/// The stand-in incoming QEMU: accepts `channels` connections and reads
/// each to EOF; the bytes received in all.
async fn receive(incoming: UnixListener, channels: usize) -> anyhow::Result<u64> {
    let mut readers = Vec::new();
    for _ in 0..channels {
        let (mut s, _) = incoming.accept().await.context("accepting")?;
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; WRITE];
            let mut n = 0u64;
            loop {
                match s.read(&mut buf).await {
                    Ok(0) => return Ok(n),
                    Ok(k) => n += k as u64,
                    Err(e) => return Err(e),
                }
            }
        }));
    }
    let mut total = 0;
    for r in readers {
        total += r.await.context("reader")?.context("reading")?;
    }
    Ok(total)
}

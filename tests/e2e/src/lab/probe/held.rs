//! A TCP connection to the guest's echo service, held across a move.

use crate::netns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one exchange on a [`HeldConnection`] may take before the
/// connection counts as hung (far beyond any migration's pause).
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP connection to an echo service, held open and exercised
/// periodically; see the module's documentation.
pub struct HeldConnection {
    stop: Arc<AtomicBool>,
    exchanges: Arc<AtomicU64>,
    worker: JoinHandle<HeldReport>,
}

/// What happened to a [`HeldConnection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldReport {
    /// Messages sent and echoed intact.
    pub exchanges: u64,
    /// The first failure (reset, closed, hung, or a wrong echo).
    pub failure: Option<String>,
    /// The longest exchange (send to complete echo).
    pub longest_exchange: Duration,
}

impl HeldReport {
    /// Whether the connection is still up with every echo intact.
    pub fn survived(&self) -> bool {
        self.failure.is_none() && self.exchanges > 0
    }
}

impl HeldConnection {
    /// Connects to `target` from namespace `ns`, checks one exchange, then
    /// exchanges a message every `every` in the background.
    pub fn open(ns: &str, target: SocketAddr, every: Duration) -> Result<HeldConnection, String> {
        let mut stream = netns::enter(ns, || {
            TcpStream::connect_timeout(&target, Duration::from_secs(10))
        })
        .map_err(|e| format!("cannot connect to {target} from {ns}: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(EXCHANGE_TIMEOUT)))
            .and_then(|()| stream.set_write_timeout(Some(EXCHANGE_TIMEOUT)))
            .map_err(|e| format!("cannot set up the connection to {target}: {e}"))?;
        exchange(&mut stream, 0)?;
        let stop = Arc::new(AtomicBool::new(false));
        let exchanges = Arc::new(AtomicU64::new(1));
        let worker = {
            let (stop, exchanges) = (Arc::clone(&stop), Arc::clone(&exchanges));
            std::thread::spawn(move || hold(stream, every, &stop, &exchanges))
        };
        Ok(HeldConnection {
            stop,
            exchanges,
            worker,
        })
    }

    /// Intact exchanges so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Whether the background exchanges have stopped on a failure.
    pub fn failed(&self) -> bool {
        self.worker.is_finished()
    }

    /// Makes one last exchange, closes the connection and reports.
    pub fn close(self) -> HeldReport {
        self.stop.store(true, Ordering::Relaxed);
        self.worker
            .join()
            .expect("the held connection's thread panicked")
    }
}

fn hold(mut s: TcpStream, every: Duration, stop: &AtomicBool, count: &AtomicU64) -> HeldReport {
    let mut report = HeldReport {
        exchanges: 1,
        failure: None,
        longest_exchange: Duration::ZERO,
    };
    let mut next = Instant::now() + every;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping && Instant::now() < next {
            std::thread::sleep(Duration::from_millis(5).min(every));
            continue;
        }
        let t = Instant::now();
        if let Err(e) = exchange(&mut s, report.exchanges) {
            report.failure = Some(e);
            return report;
        }
        report.longest_exchange = report.longest_exchange.max(t.elapsed());
        report.exchanges += 1;
        count.store(report.exchanges, Ordering::Relaxed);
        if stopping {
            let _ = s.shutdown(std::net::Shutdown::Both);
            return report;
        }
        next += every;
    }
}

/// Sends message `n` and reads its echo back.
fn exchange(s: &mut TcpStream, n: u64) -> Result<(), String> {
    // Lengths and contents vary with n, so a lost, repeated or reordered
    // byte shows.
    let mut msg = format!("held exchange {n} ").into_bytes();
    msg.extend((0..(n % 97) as u8).map(|i| b'a' + (i % 26)));
    msg.push(b'\n');
    s.write_all(&msg)
        .map_err(|e| format!("exchange {n}: sending failed: {e}"))?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("exchange {n}: no echo within {EXCHANGE_TIMEOUT:?}")
        }
        _ => format!("exchange {n}: receiving failed: {e}"),
    })?;
    if back != msg {
        return Err(format!(
            "exchange {n}: the echo differs: sent {:?}, got {:?}",
            String::from_utf8_lossy(&msg),
            String::from_utf8_lossy(&back)
        ));
    }
    Ok(())
}

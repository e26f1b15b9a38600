//! The UDP probe: a sender thread and a receiver thread on one socket
//! opened in the prober's namespace.

use super::report::{analyse, ProbeReport, Reply};
use super::PROBE_INTERVAL;
use crate::netns;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How long [`UdpProbe::stop`] keeps listening for late replies.
const DRAIN: Duration = Duration::from_millis(300);

/// The receiver's wake-up period, to notice a stop.
const RECV_POLL: Duration = Duration::from_millis(50);

/// Bytes of a probe datagram: probe id, sequence number, send time (ns
/// since the probe started), each big-endian u64.
const DATAGRAM: usize = 24;

/// A running UDP probe; see the module's documentation.
pub struct UdpProbe {
    start: Instant,
    /// The wall clock at `start`, to place replies on the clock QEMU's
    /// events carry.
    wall_start: SystemTime,
    sending: Arc<AtomicBool>,
    listening: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    sender: JoinHandle<(u64, Duration)>,
    receiver: JoinHandle<Vec<Reply>>,
}

impl UdpProbe {
    /// Starts probing `target` from namespace `ns`.
    #[track_caller]
    pub fn start(ns: &str, target: SocketAddr) -> UdpProbe {
        let sock = netns::enter(ns, || UdpSocket::bind("0.0.0.0:0"))
            .unwrap_or_else(|e| panic!("cannot open a UDP socket in {ns}: {e}"));
        sock.set_read_timeout(Some(RECV_POLL))
            .expect("set the probe's read timeout");
        let id = probe_id();
        let (start, wall_start) = (Instant::now(), SystemTime::now());
        let sending = Arc::new(AtomicBool::new(true));
        let listening = Arc::new(AtomicBool::new(true));
        let received = Arc::new(AtomicU64::new(0));
        let rx = sock.try_clone().expect("clone the probe socket");
        let sender = {
            let sending = Arc::clone(&sending);
            std::thread::spawn(move || send_loop(&sock, target, id, start, &sending))
        };
        let receiver = {
            let (listening, received) = (Arc::clone(&listening), Arc::clone(&received));
            std::thread::spawn(move || receive_loop(&rx, target, id, start, &listening, &received))
        };
        UdpProbe {
            start,
            wall_start,
            sending,
            listening,
            received,
            sender,
            receiver,
        }
    }

    /// Replies so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Time since the probe started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Stops sending, waits [`DRAIN`] for late replies, and reports.
    pub fn stop(self) -> ProbeReport {
        self.sending.store(false, Ordering::Relaxed);
        let (sent, last_send) = self.sender.join().expect("the probe's sender panicked");
        std::thread::sleep(DRAIN);
        self.listening.store(false, Ordering::Relaxed);
        let replies = self.receiver.join().expect("the probe's receiver panicked");
        let foreign = replies.iter().filter(|r| r.seq == u64::MAX).count() as u64;
        let mine: Vec<Reply> = replies.into_iter().filter(|r| r.seq < sent).collect();
        let mut report = analyse(sent, last_send, &mine);
        report.foreign = foreign;
        report.wall_start = self.wall_start;
        report
    }
}

/// A probe id unlikely to be shared by another probe of any process.
fn probe_id() -> u64 {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (u64::from(std::process::id()) << 32) | u64::from(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn send_loop(
    sock: &UdpSocket,
    target: SocketAddr,
    id: u64,
    start: Instant,
    sending: &AtomicBool,
) -> (u64, Duration) {
    let mut seq = 0u64;
    let mut next = Instant::now();
    let mut last = Duration::ZERO;
    while sending.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        last = start.elapsed();
        let mut d = [0u8; DATAGRAM];
        d[..8].copy_from_slice(&id.to_be_bytes());
        d[8..16].copy_from_slice(&seq.to_be_bytes());
        d[16..].copy_from_slice(&(last.as_nanos() as u64).to_be_bytes());
        // An error (no ARP answer yet, an ICMP error) loses this one only.
        let _ = sock.send_to(&d, target);
        seq += 1;
        // Behind schedule (the machine is busy): carry on from now rather
        // than send a burst.
        next = (next + PROBE_INTERVAL).max(Instant::now());
    }
    (seq, last)
}

fn receive_loop(
    sock: &UdpSocket,
    target: SocketAddr,
    id: u64,
    start: Instant,
    listening: &AtomicBool,
    received: &AtomicU64,
) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(1 << 16);
    let mut buf = [0u8; 2048];
    while listening.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue; // the poll timeout, or an ICMP error
        };
        if from != target {
            continue;
        }
        let at = start.elapsed();
        let field = |i: usize| u64::from_be_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
        if n != DATAGRAM || field(0) != id {
            replies.push(Reply {
                seq: u64::MAX,
                at,
                rtt: Duration::ZERO,
            });
            continue;
        }
        let sent_at = Duration::from_nanos(field(16));
        replies.push(Reply {
            seq: field(8),
            at,
            rtt: at.saturating_sub(sent_at),
        });
        received.fetch_add(1, Ordering::Relaxed);
    }
    replies
}

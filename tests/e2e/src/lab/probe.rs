//! Probing a guest's echo service (port 7) from a namespace, the way an
//! administrator measures an interruption: with packets, from outside.
//!
//! - [`UdpProbe`] sends one datagram every [`PROBE_INTERVAL`] (sequence
//!   number and send time inside) and records every reply; its
//!   [`ProbeReport`] gives the longest gap between consecutive replies,
//!   the pause the guest's clients saw, with the lost count and each gap.
//! - [`HeldConnection`] keeps one TCP connection to the echo service and
//!   exchanges a message on it periodically; its [`HeldReport`] says
//!   whether the connection survived (no reset, no hang, every echo
//!   intact).
//!
//! Sockets are opened inside the namespace (e.g. the lab's client) and
//! used from threads of this process.

use crate::netns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The echo port (RFC 862), where the test guest's echo service listens.
pub const ECHO_PORT: u16 = 7;

/// How often [`UdpProbe`] sends.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// Gaps at least this long are listed in [`ProbeReport::gaps`].
pub const LISTED_GAP: Duration = Duration::from_millis(10);

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

/// Milliseconds of `d`, fractional.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

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

    /// A namespace of the test's own with an echo server on its
    /// loopback (UDP and TCP, one port).
    fn echo_namespace() -> (String, SocketAddr) {
        let ns = format!("{}-probe", netns::unique_prefix());
        netns::add(&ns);
        let (udp, tcp) = netns::enter(&ns, || {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let tcp = std::net::TcpListener::bind(udp.local_addr().unwrap()).unwrap();
            (udp, tcp)
        });
        let addr = udp.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut b = [0u8; 2048];
            while let Ok((n, from)) = udp.recv_from(&mut b) {
                let _ = udp.send_to(&b[..n], from);
            }
        });
        std::thread::spawn(move || {
            for s in tcp.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = std::io::copy(&mut r, &mut w);
                });
            }
        });
        (ns, addr)
    }

    #[test]
    fn probes_measure_a_loopback_echo() {
        let (ns, target) = echo_namespace();
        let probe = UdpProbe::start(&ns, target);
        let held = HeldConnection::open(&ns, target, Duration::from_millis(10)).unwrap();
        crate::poll(Duration::from_secs(10), Duration::from_millis(10), || {
            (probe.received() >= 50 && held.exchanges() >= 5).then_some(())
        })
        .expect("replies and exchanges");
        let report = probe.stop();
        let held = held.close();
        netns::delete(&ns);
        assert!(report.received >= 50, "{report}");
        assert_eq!((report.duplicates, report.foreign), (0, 0), "{report}");
        assert!(held.survived(), "{held:?}");
        assert!(held.exchanges >= 6, "{held:?}");
    }

    #[test]
    fn a_closed_connection_is_reported() {
        let ns = format!("{}-held", netns::unique_prefix());
        netns::add(&ns);
        let listener = netns::enter(&ns, || std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        // Echoes the first message, then closes.
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 256];
            let n = s.read(&mut b).unwrap();
            s.write_all(&b[..n]).unwrap();
        });
        let held = HeldConnection::open(&ns, addr, Duration::from_millis(10)).unwrap();
        crate::poll(Duration::from_secs(10), Duration::from_millis(10), || {
            held.failed().then_some(())
        })
        .expect("the failure is noticed");
        let report = held.close();
        netns::delete(&ns);
        assert!(!report.survived());
        assert_eq!(report.exchanges, 1);
        assert!(report.failure.unwrap().contains("exchange 1"));
    }
}

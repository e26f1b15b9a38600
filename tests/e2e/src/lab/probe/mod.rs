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
//!
//! `udp` holds the probe, `report` what it saw (and the arithmetic of
//! gaps), `held` the TCP connection.

mod held;
mod report;
mod udp;

pub use held::{HeldConnection, HeldReport, EXCHANGE_TIMEOUT};
pub use report::{analyse, Gap, ProbeReport, Reply};
pub use udp::UdpProbe;

use std::time::Duration;

/// The echo port (RFC 862), where the test guest's echo service listens.
pub const ECHO_PORT: u16 = 7;

/// How often [`UdpProbe`] sends.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// Gaps at least this long are listed in [`ProbeReport::gaps`].
pub const LISTED_GAP: Duration = Duration::from_millis(10);

/// Milliseconds of `d`, fractional.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, UdpSocket};

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

//! The guest's echo service (`memwork --echo`): the classic echo protocol
//! on port 7, so that tests and the benchmark can probe the guest from
//! outside. UDP: every datagram is sent back to its sender. TCP: each
//! connection is kept open and everything it sends comes back, in order,
//! on a thread of its own.
//!
//! It prints one line when it listens and one per failure, each as a
//! single write starting with `echo:`, so a reader of memwork's lines on the
//! same console never sees them mixed into its own.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The echo port (RFC 862).
pub const PORT: u16 = 7;

/// TCP connections served at once; more are closed at once, so a flood
/// cannot use up a small guest's memory in thread stacks.
const MAX_CONNECTIONS: usize = 64;

/// Stack of each connection's thread: it only copies through a buffer.
const THREAD_STACK: usize = 64 * 1024;

/// The largest UDP datagram.
const MAX_DATAGRAM: usize = 65536;

/// Pause after a failed accept (e.g. out of file descriptors) before the
/// next one, so a persistent failure does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

fn say(line: &str) {
    // One write per line: lines of other programs on the console stay whole.
    let _ = io::stdout()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
}

/// Serves UDP and TCP echo on `port` of every address until the process
/// ends. Returns only if a socket cannot be opened.
pub fn serve(port: u16) -> io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let udp = UdpSocket::bind(addr)?;
    let tcp = TcpListener::bind(addr)?;
    say(&format!("echo: listening udp+tcp port={port}"));
    thread::Builder::new()
        .name("echo-udp".into())
        .spawn(move || udp_loop(&udp))?;
    tcp_loop(&tcp);
    Ok(())
}

fn udp_loop(sock: &UdpSocket) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                // A full socket buffer or an unreachable sender loses this
                // reply only, as UDP may.
                let _ = sock.send_to(&buf[..n], from);
            }
            Err(e) => {
                say(&format!("echo: udp receive failed: {e}"));
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

fn tcp_loop(listener: &TcpListener) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                say(&format!("echo: tcp accept failed: {e}"));
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closed
        }
        let count = Arc::clone(&active);
        let spawned = thread::Builder::new()
            .name("echo-tcp".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _ = echo_stream(stream);
                count.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            active.fetch_sub(1, Ordering::SeqCst);
            say(&format!("echo: cannot start a connection thread: {e}"));
        }
    }
}

/// Sends back everything `stream` receives until the peer closes it.
fn echo_stream(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Shutdown;

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn echoes_udp_and_keeps_tcp_connections() {
        // The port may be taken between the probe and the bind; retry a few.
        let port = (0..5)
            .find_map(|_| {
                let p = free_port();
                UdpSocket::bind(("127.0.0.1", p)).ok().map(|_| p)
            })
            .unwrap();
        thread::spawn(move || serve(port));
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut got = None;
        for _ in 0..50 {
            udp.send_to(b"ping 1", ("127.0.0.1", port)).unwrap();
            if let Ok((n, _)) = udp.recv_from(&mut buf) {
                got = Some(buf[..n].to_vec());
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(&b"ping 1"[..]));

        // Two connections at once, each held over several exchanges.
        let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..5 {
            for (s, tag) in [(&mut a, "a"), (&mut b, "b")] {
                let msg = format!("{tag} message {i}");
                s.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            }
        }
        // A closed write side is answered by a closed connection.
        a.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
}

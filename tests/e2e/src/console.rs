//! A telnet-like client of a domain's console port.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A TCP connection to a console, accumulating everything it received.
pub struct ConsoleClient {
    stream: TcpStream,
    received: Vec<u8>,
}

impl ConsoleClient {
    /// Connects to `addr:port`.
    #[track_caller]
    pub fn connect(addr: IpAddr, port: u16) -> ConsoleClient {
        let sa = SocketAddr::new(addr, port);
        let stream = TcpStream::connect_timeout(&sa, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("cannot connect to the console at {sa}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("set_read_timeout");
        ConsoleClient {
            stream,
            received: Vec::new(),
        }
    }

    /// Everything received so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// Sends bytes.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the console");
    }

    /// Reads what arrives for `d`. Returns false if the connection closed.
    pub fn read_for(&mut self, d: Duration) -> bool {
        let end = Instant::now() + d;
        let mut buf = [0u8; 8192];
        while Instant::now() < end {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads until the text received after byte offset `from` contains
    /// `needle`; panics with what arrived after `timeout`.
    #[track_caller]
    pub fn expect_after(&mut self, from: usize, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let tail = String::from_utf8_lossy(&self.received[from.min(self.received.len())..])
                .into_owned();
            if tail.contains(needle) {
                return tail;
            }
            if Instant::now() > end {
                panic!("console: {needle:?} did not arrive within {timeout:?}; received after offset {from}:\n{tail}");
            }
            if !self.read_for(Duration::from_millis(200)) {
                let tail = String::from_utf8_lossy(&self.received[from.min(self.received.len())..])
                    .into_owned();
                if tail.contains(needle) {
                    return tail;
                }
                panic!("console closed before {needle:?} arrived; received:\n{tail}");
            }
        }
    }

    /// Reads until everything received contains `needle`.
    #[track_caller]
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        self.expect_after(0, needle, timeout)
    }

    /// Bytes received so far (an offset for [`expect_after`](Self::expect_after)).
    pub fn len(&self) -> usize {
        self.received.len()
    }

    /// Whether nothing arrived yet.
    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }
}

//! The virtual console concentrator: each running domain's serial console is
//! served on a TCP port from a vcc range.
//!
//! QEMU exposes the serial port as a Unix socket (QEMU is the server, so the
//! domain keeps running when ldmd goes away). ldmd connects to it, keeps the
//! last 64 KiB of output, and relays between the socket and any number of
//! TCP clients (`telnet`, `ldm console`). QEMU itself appends all output to
//! the console log, even while ldmd is away; a restarted ldmd replays its tail.

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

/// Bytes of console output kept and replayed on connect.
pub const RING_BYTES: usize = 64 * 1024;
/// A console log larger than this is cut back to its tail on start.
const LOG_MAX: u64 = 4 * 1024 * 1024;

/// The last [`RING_BYTES`] of output.
#[derive(Default)]
struct Ring(VecDeque<u8>);

impl Ring {
    fn push(&mut self, data: &[u8]) {
        self.0.extend(data);
        let excess = self.0.len().saturating_sub(RING_BYTES);
        self.0.drain(..excess);
    }
    fn snapshot(&self) -> Vec<u8> {
        self.0.iter().copied().collect()
    }
}

/// A running console server for one domain. Dropping it stops the relay.
pub struct Console {
    /// The TCP port.
    pub port: u16,
    ring: Arc<Mutex<Ring>>,
    /// Output to the clients; each connected client holds a receiver.
    out: broadcast::Sender<Arc<Vec<u8>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Console {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Checks whether a TCP port can be bound now.
pub fn port_free(addr: IpAddr, port: u16) -> bool {
    std::net::TcpListener::bind(SocketAddr::new(addr, port)).is_ok()
}

fn load_tail(log: &Path) -> Vec<u8> {
    let Ok(data) = std::fs::read(log) else {
        return Vec::new();
    };
    let start = data.len().saturating_sub(RING_BYTES);
    let tail = data[start..].to_vec();
    if data.len() as u64 > LOG_MAX {
        let _ = std::fs::write(log, &tail);
    }
    tail
}

impl Console {
    /// Starts serving the console of the QEMU whose serial socket is
    /// `qemu_socket` on `addr:port`, replaying first the tail of `log`.
    pub async fn start(
        addr: IpAddr,
        port: u16,
        qemu_socket: PathBuf,
        log: PathBuf,
        gate: Gate,
    ) -> Result<Console> {
        let listener = TcpListener::bind(SocketAddr::new(addr, port)).await.map_err(|e| {
            Error::io(
                format!("cannot serve the console on {addr}:{port} (is another program using the port? change the range with `ldm set-vcc`)"),
                e,
            )
        })?;
        let mut ring = Ring::default();
        ring.push(&load_tail(&log));
        let ring = Arc::new(Mutex::new(ring));
        let (out_tx, _) = broadcast::channel::<Arc<Vec<u8>>>(1024);
        let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
        let pump = tokio::spawn(pump(qemu_socket, ring.clone(), out_tx.clone(), in_rx));
        let accept = tokio::spawn(accept_loop(
            listener,
            ring.clone(),
            out_tx.clone(),
            in_tx,
            gate,
        ));
        Ok(Console {
            port,
            ring,
            out: out_tx,
            tasks: vec![pump, accept],
        })
    }

    /// How many clients are connected now.
    pub fn clients(&self) -> usize {
        self.out.receiver_count()
    }

    /// Puts earlier output (from the source of a migration) before what
    /// this console has printed so far.
    pub fn preload(&self, earlier: &[u8]) {
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let now = r.snapshot();
        let mut fresh = Ring::default();
        fresh.push(earlier);
        fresh.push(&now);
        *r = fresh;
    }

    /// What the console printed most recently (up to 64 KiB).
    pub fn dump(&self) -> Vec<u8> {
        self.ring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot()
    }
}

/// Moves bytes between QEMU's serial socket and the clients, reconnecting
/// while QEMU is not (yet) listening.
async fn pump(
    socket: PathBuf,
    ring: Arc<Mutex<Ring>>,
    out: broadcast::Sender<Arc<Vec<u8>>>,
    mut input: mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let stream = match UnixStream::connect(&socket).await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tracing::debug!(socket = %socket.display(), "console connected");
        let (mut rd, mut wr) = stream.into_split();
        let mut buf = vec![0u8; 8192];
        loop {
            tokio::select! {
                n = rd.read(&mut buf) => {
                    let n = match n { Ok(0) | Err(_) => break, Ok(n) => n };
                    let data = buf[..n].to_vec();
                    ring.lock().unwrap_or_else(|p| p.into_inner()).push(&data);
                    let _ = out.send(Arc::new(data));
                }
                Some(bytes) = input.recv() => {
                    if wr.write_all(&bytes).await.is_err() { break; }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Who may use a console port: given the uid owning the connecting
/// socket, `Ok` or why not.
pub type Gate = Arc<dyn Fn(u32) -> std::result::Result<(), String> + Send + Sync>;

/// Whether the connecting client may use the console: only a client of
/// this host whose uid the gate admits (identified as identd does).
fn admitted(
    tcp: &tokio::net::TcpStream,
    peer: SocketAddr,
    gate: &Gate,
) -> std::result::Result<u32, String> {
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let uid = crate::peeruid::tcp_peer_uid(peer, local)
        .ok_or("the client is not on this host, so its user is unknown")?;
    gate(uid).map(|_| uid)
}

async fn accept_loop(
    listener: TcpListener,
    ring: Arc<Mutex<Ring>>,
    out: broadcast::Sender<Arc<Vec<u8>>>,
    input: mpsc::Sender<Vec<u8>>,
    gate: Gate,
) {
    let mut backoff = crate::limits::Backoff::new();
    loop {
        let (mut tcp, peer) = match listener.accept().await {
            Ok(x) => {
                backoff.succeeded();
                x
            }
            Err(_) => {
                // Out of descriptors, typically: never spin.
                tokio::time::sleep(backoff.failed()).await;
                continue;
            }
        };
        match admitted(&tcp, peer, &gate) {
            Ok(uid) => tracing::info!(%peer, uid, "console client connected"),
            Err(why) => {
                tracing::info!(%peer, "console client refused: {why}");
                let msg = format!("ldm: console refused: {why}\r\n");
                let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(msg.as_bytes()))
                    .await;
                continue;
            }
        }
        let replay = ring.lock().unwrap_or_else(|p| p.into_inner()).snapshot();
        let mut rx = out.subscribe();
        let input = input.clone();
        tokio::spawn(async move {
            let (mut rd, mut wr) = tcp.into_split();
            if wr.write_all(&replay).await.is_err() {
                return;
            }
            let writer = tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(data) => {
                            if wr.write_all(&data).await.is_err() {
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            });
            let mut buf = vec![0u8; 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if input.send(buf[..n].to_vec()).await.is_err() {
                            break;
                        }
                    }
                }
            }
            writer.abort();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_tail() {
        let mut r = Ring::default();
        r.push(&vec![b'a'; RING_BYTES]);
        r.push(b"xyz");
        let s = r.snapshot();
        assert_eq!(s.len(), RING_BYTES);
        assert!(s.ends_with(b"xyz"));
    }

    #[tokio::test]
    async fn relays_between_socket_and_clients() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("ser.sock");
        let log = dir.path().join("con.log");
        std::fs::write(&log, b"before restart\n").unwrap();
        let qemu_side = tokio::net::UnixListener::bind(&sock).unwrap();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let allow_all: Gate = Arc::new(|_| Ok(()));
        let con = Console::start(
            "127.0.0.1".parse().unwrap(),
            port,
            sock,
            log.clone(),
            allow_all,
        )
        .await
        .unwrap();
        let (mut q, _) = qemu_side.accept().await.unwrap();
        q.write_all(b"hello from guest\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(String::from_utf8_lossy(&con.dump()).contains("before restart\nhello from guest"));
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut got = vec![0u8; 64];
        let n = c.read(&mut got).await.unwrap();
        assert!(String::from_utf8_lossy(&got[..n]).contains("before restart"));
        c.write_all(b"ls\n").await.unwrap();
        let mut got = [0u8; 3];
        q.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ls\n");
    }

    #[tokio::test]
    async fn a_client_the_gate_refuses_sees_no_console() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("ser.sock");
        let log = dir.path().join("con.log");
        std::fs::write(&log, b"secret console output\n").unwrap();
        let _qemu_side = tokio::net::UnixListener::bind(&sock).unwrap();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let seen = Arc::new(Mutex::new(None));
        let seen2 = seen.clone();
        let refuse: Gate = Arc::new(move |uid| {
            *seen2.lock().unwrap() = Some(uid);
            Err("user x has the review role".into())
        });
        let _con = Console::start("127.0.0.1".parse().unwrap(), port, sock, log, refuse)
            .await
            .unwrap();
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got).await;
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains("console refused: user x has the review role"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        // The gate was asked about this process's own uid.
        assert_eq!(*seen.lock().unwrap(), Some(me));
    }
}

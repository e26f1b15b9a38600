//! What attack tests need beside the in-process hosts: connections from
//! chosen loopback addresses, raw TLS to the peer listener, a snapshot of
//! what is on disk, `ldm list` under a deadline, and this process's memory.

use super::Host;
use ldm_api::{Reply, Request};
use ldm_peer::{ClientStream, Framed};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

/// How long `ldm list` may take while an attack goes on.
pub const LIST_DEADLINE: Duration = Duration::from_secs(2);

/// The loopback address 127.0.0.`n`.
pub fn lo(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// `ldm list` answers within [`LIST_DEADLINE`]; panics otherwise.
pub async fn assert_responsive(host: &Host) {
    let answer = tokio::time::timeout(LIST_DEADLINE, host.call(Request::List { names: vec![] }))
        .await
        .expect("ldm list answers within the deadline");
    assert!(
        matches!(answer, Ok(Reply::Domains { .. })),
        "ldm list: {answer:?}"
    );
}

/// Every file under the root with its size and mode, and every database
/// row: what an attack must leave as it was. (The database's own files
/// change size as SQLite checkpoints, so they are compared by content.)
pub fn snapshot(host: &Host) -> (Vec<(PathBuf, u64, u32)>, String) {
    let mut files = Vec::new();
    walk(host.root(), &mut files);
    files.retain(|(p, _, _)| !p.to_string_lossy().contains("ldm.db"));
    files.sort();
    (files, db_rows(&host.db_path()))
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.metadata() {
            Ok(m) if m.is_dir() => walk(&p, out),
            Ok(m) => out.push((p, m.len(), m.permissions().mode())),
            Err(_) => {}
        }
    }
}

fn db_rows(path: &Path) -> String {
    let c = rusqlite::Connection::open(path).expect("open the database");
    let mut out = String::new();
    for table in ["domains", "vcc", "users", "trust", "meta"] {
        let mut st = c
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .expect("query");
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).expect("column")))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .expect("rows");
        for r in rows {
            out.push_str(&format!("{table}: {}\n", r.expect("row")));
        }
    }
    out
}

/// A TCP connection to `to` from the loopback address `from`.
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(from, 0))?;
    s.connect(to).await
}

/// A TLS connection from `from` to the host's peer listener, pinned, with
/// nothing sent yet.
pub async fn tls_from(host: &Host, fingerprint: &str, from: IpAddr) -> Framed<ClientStream> {
    let fp = fingerprint.parse().expect("fingerprint");
    let cfg = ldm_peer::client_config(None, fp).expect("client config");
    let tcp = tcp_from(from, host.peer_addr).await.expect("connect");
    let connector = tokio_rustls::TlsConnector::from(cfg);
    let name = rustls::pki_types::ServerName::IpAddress(host.peer_addr.ip().into());
    Framed::new(connector.connect(name, tcp).await.expect("TLS handshake"))
}

/// Whether the other end closes `s` within 5 s.
pub async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// This process's resident memory, KiB (the daemons run in it).
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("VmRSS")
}

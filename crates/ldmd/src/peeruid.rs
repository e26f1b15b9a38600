//! Who is at the other end of a loopback TCP connection, as identd
//! answers it: the uid that owns the client's socket, from the kernel's
//! socket tables (`/proc/net/tcp`, `/proc/net/tcp6`). Only connections
//! from this host (and network namespace) can be identified.

use std::net::{IpAddr, SocketAddr};

/// The uid owning the client socket of the connection whose client end is
/// `peer` and server end `local`; `None` if the kernel lists none (a
/// client on another host).
pub fn tcp_peer_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let (table, want_local, want_remote) = match (peer.ip(), local.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => ("/proc/net/tcp", hex(peer), hex(local)),
        _ => ("/proc/net/tcp6", hex6(peer), hex6(local)),
    };
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 7 && f[1] == want_local && f[2] == want_remote)
            .then(|| f[7].parse().ok())
            .flatten()
    })
}

/// An IPv4 socket address as the kernel prints it (address in host byte
/// order, then the port).
fn hex(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("{:08X}:{:04X}", u32::from_ne_bytes(ip.octets()), a.port()),
        IpAddr::V6(_) => hex6(a),
    }
}

/// An IPv6 socket address as the kernel prints it (four 32-bit words in
/// host byte order); IPv4 addresses as IPv4-mapped ones.
fn hex6(a: SocketAddr) -> String {
    let ip = match a.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let o = ip.octets();
    let words: String = o
        .chunks(4)
        .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    format!("{words}:{:04X}", a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_kernel() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(hex(a), "0100007F:1F90");
        }
    }

    #[tokio::test]
    async fn identifies_the_owner_of_a_loopback_client() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = l.local_addr().unwrap();
        let c = tokio::net::TcpStream::connect(server).await.unwrap();
        let (_s, peer) = l.accept().await.unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert_eq!(tcp_peer_uid(peer, server), Some(me));
        assert_eq!(c.local_addr().unwrap(), peer);
        // A connection nobody has.
        let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(tcp_peer_uid(nobody, server), None);
    }
}

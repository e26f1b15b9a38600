//! The peer listener (`ldmd --listen`): TLS with this host's certificate,
//! then the protocol's Hello and authentication, then a target session.
//!
//! Until a peer has authenticated it is nobody: it gets a place only within
//! the connection caps, a deadline for every step, frames of at most
//! [`ldm_peer::PRE_AUTH_MAX_FRAME_LEN`] bytes, and password checks queued
//! by the throttle and run on the small hashing pool (`docs/security.md`).

use super::protocol::{compatible, ToSource, ToTarget, PROTOCOL_VERSION};
use crate::daemon::Daemon;
use crate::limits::{Backoff, ConnCap, LogLimit, Permit};
use ldm_api::request::UserRole;
use ldm_peer::{Fingerprint, Framed, ServerStream};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Peer connections open at once, in total.
pub const MAX_PEERS: usize = 64;
/// Peer connections open at once from one address.
pub const MAX_PEERS_PER_ADDR: usize = 8;
/// How long a peer has for each message before it has authenticated.
pub const PRE_AUTH_STEP: Duration = Duration::from_secs(10);
/// How long a peer has from its TCP connection to its authentication:
/// handshake, Hello, Auth, and its turn in the throttle and hashing queue.
pub const PRE_AUTH_TOTAL: Duration = Duration::from_secs(60);
/// How long an authenticated source may stay silent. A live migration
/// reports progress several times a second.
pub const SESSION_IDLE: Duration = Duration::from_secs(600);
/// The longest host name a peer may announce, and user name it may claim.
const MAX_LABEL: usize = 253;

static ACCEPT_LOG: LogLimit = LogLimit::new(5, Duration::from_secs(60));
static REFUSED_LOG: LogLimit = LogLimit::new(5, Duration::from_secs(60));
static AUTH_LOG: LogLimit = LogLimit::new(20, Duration::from_secs(60));

/// Accepts peers until the task is aborted.
pub async fn serve(d: Arc<Daemon>, listener: TcpListener) {
    let cfg = match ldm_peer::server_config(&d.identity) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot serve peers: {e}");
            return;
        }
    };
    let acceptor = ldm_peer::TlsAcceptor::from(cfg);
    let caps = ConnCap::<IpAddr>::new(MAX_PEERS_PER_ADDR, MAX_PEERS);
    let mut backoff = Backoff::new();
    tracing::info!(addr = ?listener.local_addr().ok(), fingerprint = %d.identity.fingerprint(), "listening for peers");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => {
                backoff.succeeded();
                x
            }
            Err(e) => {
                // Out of descriptors, typically: wait for some to close
                // instead of retrying at once.
                let pause = backoff.failed();
                if let Some(left_out) = ACCEPT_LOG.allow() {
                    tracing::warn!(left_out, ?pause, "peer accept failed: {e}");
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let permit = match caps.try_acquire(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                if let Some(left_out) = REFUSED_LOG.allow() {
                    tracing::warn!(%peer, left_out, "peer connection refused: {why}");
                }
                drop(tcp);
                continue;
            }
        };
        let d = d.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move { handle(d, acceptor, tcp, peer, permit).await });
    }
}

async fn handle(
    d: Arc<Daemon>,
    acceptor: ldm_peer::TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: Permit<IpAddr>,
) {
    let local_ip = match tcp.local_addr() {
        Ok(a) => a.ip(),
        Err(_) => return,
    };
    let admitted = tokio::time::timeout(PRE_AUTH_TOTAL, admit(&d, &acceptor, tcp, peer)).await;
    let Ok(Some((mut ch, source, recover))) = admitted else {
        tracing::debug!(%peer, "peer left or was refused before authenticating");
        return;
    };
    ch.set_max_frame_len(ldm_peer::MAX_FRAME_LEN);
    ch.set_idle_timeout(Some(SESSION_IDLE));
    let label = format!("{source} ({})", peer.ip());
    match recover {
        Some((id, secret)) => super::target::recover(d, ch, label, local_ip, id, secret).await,
        None => super::target::session(d, ch, label, local_ip).await,
    }
}

/// A `Recover` request: the migration's id and secret.
type RecoverRequest = Option<(String, String)>;

/// Everything before the session: TLS, Hello, Auth. Returns the channel and
/// the source's host name once the peer is authenticated as a manager, or
/// once it asked to resume a post-copy (checked by the target against the
/// migration's secret).
async fn admit(
    d: &Daemon,
    acceptor: &ldm_peer::TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(Framed<ServerStream>, String, RecoverRequest)> {
    let (stream, client_fp) = match ldm_peer::accept(acceptor, tcp).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return None;
        }
    };
    let mut ch = Framed::with_limit(stream, ldm_peer::PRE_AUTH_MAX_FRAME_LEN);
    ch.set_idle_timeout(Some(PRE_AUTH_STEP));
    let source = hello(d, &mut ch).await?;
    let (user, password) = match ch.recv::<ToTarget>().await {
        Ok(Some(ToTarget::Auth { user, password })) => (user, password),
        // A source asking what became of a migration it lost track of:
        // the secret of that migration is its credential.
        Ok(Some(ToTarget::Resolve { id, secret })) => {
            super::target::outcome::serve(d, &mut ch, &id, &secret).await;
            return None;
        }
        // The source of a post-copy whose link was lost: the migration's
        // secret is its credential too.
        Ok(Some(ToTarget::Recover { id, secret })) => {
            return Some((ch, source, Some((id, secret))));
        }
        _ => return None,
    };
    let refusal = match authenticate(d, peer, &user, password, client_fp).await {
        Ok(role) if role == UserRole::Management => {
            return ch
                .send(&ToSource::AuthOk { role })
                .await
                .ok()
                .map(|_| (ch, source, None));
        }
        Ok(role) => {
            d.metrics.auth_failure("role");
            format!(
                "user {user} on {} has the {} role: migrating needs the management role (`ldm set-user role=management {user}` there)",
                d.inv.hostname,
                role.as_str()
            )
        }
        Err(message) => {
            d.metrics.auth_failure("credentials");
            message
        }
    };
    let _ = ch.send(&ToSource::Error { message: refusal }).await;
    None
}

/// Receives the source's Hello and answers it; returns its host name.
async fn hello(d: &Daemon, ch: &mut Framed<ServerStream>) -> Option<String> {
    let (version, host) = match ch.recv::<ToTarget>().await {
        Ok(Some(ToTarget::Hello { version, host })) => (version, host),
        _ => return None,
    };
    let problem = if !compatible(PROTOCOL_VERSION, version) {
        Some(format!(
            "{} speaks migration protocol {PROTOCOL_VERSION} and the source {version}: upgrade the older host (one release apart is supported)",
            d.inv.hostname
        ))
    } else if !is_label(&host) {
        Some(format!(
            "the source's host name is not a host name (up to {MAX_LABEL} letters, digits, '.', '-', '_' or ':'): set one with `ldmd --hostname` there"
        ))
    } else {
        None
    };
    if let Some(message) = problem {
        let _ = ch.send(&ToSource::Error { message }).await;
        return None;
    }
    let hello = ToSource::Hello {
        version: PROTOCOL_VERSION,
        host: d.inv.hostname.clone(),
    };
    ch.send(&hello).await.ok().map(|_| host)
}

/// Whether a peer's host or user name is printable as is: it ends up in
/// listings and logs, so no spaces, control characters or separators.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// Checks credentials. The attempt is counted before the password is
/// checked, against the user name and the source address each, so parallel
/// guesses wait their turn like serial ones.
async fn authenticate(
    d: &Daemon,
    peer: SocketAddr,
    user: &str,
    password: Option<String>,
    client_fp: Option<Fingerprint>,
) -> Result<UserRole, String> {
    let host = &d.inv.hostname;
    if password.is_some() && !is_label(user) {
        return Err(format!(
            "authentication failed for this user on {host}: wrong password or no such user (`ldm list-users` there shows the accounts)"
        ));
    }
    // Certificate attempts are counted per certificate, not per (empty) user.
    let who = match (&password, &client_fp) {
        (None, Some(fp)) => format!("certificate {fp}"),
        _ => user.to_string(),
    };
    let user = who.as_str();
    if let Err(t) = d.throttle.wait_turn(peer.ip(), user).await {
        if let Some(left_out) = AUTH_LOG.allow() {
            tracing::warn!(%peer, user, left_out, "authentication refused: too many attempts");
        }
        return Err(format!(
            "too many login attempts for user {user} or from this address on {host}: try again in {} s",
            t.retry_after.as_secs().max(1)
        ));
    }
    let result = match password {
        Some(pw) => check_password(d, user, pw).await,
        None => match client_fp {
            Some(fp) => match d.db.source_trusted(&fp.to_string()) {
                Ok(Some(_)) => Ok(UserRole::Management),
                _ => Err(format!(
                    "{host} does not trust this host's certificate ({fp}): on {host}, run `ldm add-trust -c SOURCE-HOST` (or with fingerprint={fp})"
                )),
            },
            None => Err("certificate authentication requested but no certificate was presented".into()),
        },
    };
    match &result {
        Ok(_) => d.throttle.succeeded(peer.ip(), user),
        Err(_) => {
            if let Some(left_out) = AUTH_LOG.allow() {
                tracing::warn!(%peer, user, left_out, "peer authentication failed");
            }
        }
    }
    result
}

/// A password against the account's hash, on the hashing pool.
async fn check_password(d: &Daemon, user: &str, pw: String) -> Result<UserRole, String> {
    let host = &d.inv.hostname;
    let account = d.db.user(user).ok().flatten();
    // Verify against a dummy hash for unknown users, so timing does not
    // tell which accounts exist.
    let (role, hash) = account.clone().unwrap_or((
        UserRole::Review,
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000".into(),
    ));
    match ldm_peer::verify_password_pooled(pw, hash).await {
        Ok(true) if account.is_some() => Ok(role),
        Ok(_) => Err(format!(
            "authentication failed for user {user} on {host}: wrong password or no such user (`ldm list-users` there shows the accounts)"
        )),
        Err(e) => Err(format!("{host}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_printable_names_only() {
        for ok in [
            "hosta",
            "host-b.example.org",
            "10.0.0.1",
            "fe80::1",
            "admin_1",
        ] {
            assert!(is_label(ok), "{ok}");
        }
        let long = "a".repeat(MAX_LABEL + 1);
        for bad in ["", "a b", "x\nldg9|active", "../v", "a,b", long.as_str()] {
            assert!(!is_label(bad), "{bad:?}");
        }
    }
}

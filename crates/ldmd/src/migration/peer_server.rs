//! The peer listener (`ldmd --listen`): TLS with this host's certificate,
//! then the protocol's Hello and authentication, then a target session.

use super::protocol::{compatible, ToSource, ToTarget, PROTOCOL_VERSION};
use crate::daemon::Daemon;
use ldm_api::request::UserRole;
use ldm_peer::{Fingerprint, Framed, ThrottleKey};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

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
    tracing::info!(addr = ?listener.local_addr().ok(), fingerprint = %d.identity.fingerprint(), "listening for peers");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("peer accept failed: {e}");
                continue;
            }
        };
        let d = d.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move { handle(d, acceptor, tcp, peer).await });
    }
}

async fn handle(d: Arc<Daemon>, acceptor: ldm_peer::TlsAcceptor, tcp: TcpStream, peer: SocketAddr) {
    let local_ip = match tcp.local_addr() {
        Ok(a) => a.ip(),
        Err(_) => return,
    };
    let (stream, client_fp) = match ldm_peer::accept(&acceptor, tcp).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return;
        }
    };
    let mut ch = Framed::new(stream);
    let source = match ch.recv::<ToTarget>().await {
        Ok(Some(ToTarget::Hello { version, host })) => {
            if !compatible(PROTOCOL_VERSION, version) {
                let _ = ch
                    .send(&ToSource::Error {
                        message: format!(
                            "{} speaks migration protocol {PROTOCOL_VERSION} and the source {version}: upgrade the older host (one release apart is supported)",
                            d.inv.hostname
                        ),
                    })
                    .await;
                return;
            }
            host
        }
        _ => return,
    };
    let hello = ToSource::Hello {
        version: PROTOCOL_VERSION,
        host: d.inv.hostname.clone(),
    };
    if ch.send(&hello).await.is_err() {
        return;
    }
    let (user, password) = match ch.recv::<ToTarget>().await {
        Ok(Some(ToTarget::Auth { user, password })) => (user, password),
        _ => return,
    };
    match authenticate(&d, peer, &user, password, client_fp).await {
        Ok(role) if role == UserRole::Management => {
            if ch.send(&ToSource::AuthOk { role }).await.is_err() {
                return;
            }
        }
        Ok(role) => {
            let _ = ch
                .send(&ToSource::Error {
                    message: format!(
                        "user {user} on {} has the {} role: migrating needs the management role (`ldm set-user role=management {user}` there)",
                        d.inv.hostname,
                        role.as_str()
                    ),
                })
                .await;
            return;
        }
        Err(message) => {
            let _ = ch.send(&ToSource::Error { message }).await;
            return;
        }
    }
    let label = format!("{source} ({})", peer.ip());
    super::target::session(d, ch, label, local_ip).await;
}

/// Checks credentials; repeated failures from one address and user are
/// slowed down.
async fn authenticate(
    d: &Daemon,
    peer: SocketAddr,
    user: &str,
    password: Option<String>,
    client_fp: Option<Fingerprint>,
) -> Result<UserRole, String> {
    let key = ThrottleKey {
        ip: peer.ip(),
        user: user.to_string(),
    };
    d.throttle.wait(&key).await;
    let host = &d.inv.hostname;
    let result = match password {
        Some(pw) => {
            let account = d.db.user(user).ok().flatten();
            // Verify against a dummy hash for unknown users, so timing does
            // not tell which accounts exist.
            let (role, hash) = account.clone().unwrap_or((
                UserRole::Review,
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000".into(),
            ));
            let ok = tokio::task::spawn_blocking(move || ldm_peer::verify_password(&pw, &hash))
                .await
                .unwrap_or(false);
            if ok && account.is_some() {
                Ok(role)
            } else {
                Err(format!(
                    "authentication failed for user {user} on {host}: wrong password or no such user (`ldm list-users` there shows the accounts)"
                ))
            }
        }
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
        Ok(_) => d.throttle.record_success(&key),
        Err(_) => {
            tracing::warn!(%peer, user, "peer authentication failed");
            d.throttle.record_failure(&key);
        }
    }
    result
}

//! The local API: a Unix socket in the root directory; one JSON request per
//! connection, answered by events and one final response (see `ldm_api`).
//!
//! The caller is identified by the socket's peer credentials: root and the
//! daemon's own user may do everything; other local users act with the role
//! of the ldm account of the same name.

use crate::daemon::Daemon;
use crate::dispatch::dispatch;
use ldm_api::request::UserRole;
use ldm_api::{ApiError, ErrorKind, Request, Response};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

/// Serves the local API until the task is aborted.
pub async fn serve(d: Arc<Daemon>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let d = d.clone();
                tokio::spawn(async move { handle(d, stream).await });
            }
            Err(e) => {
                tracing::warn!("local API accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
    })
}

fn caller_role(d: &Daemon, uid: u32) -> Result<UserRole, ApiError> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if uid == 0 || uid == me {
        return Ok(UserRole::Management);
    }
    let name = user_name(uid).unwrap_or_else(|| uid.to_string());
    match d.db.user(&name) {
        Ok(Some((role, _))) => Ok(role),
        _ => Err(ApiError::new(
            ErrorKind::Denied,
            format!("local user {name} has no ldm account: ask an administrator to run `ldm add-user {name}`"),
        )),
    }
}

/// The least role a request needs.
pub fn required_role(req: &Request) -> UserRole {
    match req {
        Request::Host
        | Request::List { .. }
        | Request::ListServices
        | Request::ListUsers
        | Request::ListTrust => UserRole::Review,
        Request::ConsoleAddr { .. } | Request::ConsoleDump { .. } => UserRole::Console,
        _ => UserRole::Management,
    }
}

async fn handle(d: Arc<Daemon>, stream: UnixStream) {
    let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let (tx, mut rx) = mpsc::channel::<Response>(64);
    let (gone_tx, gone_rx) = watch::channel(false);
    match ldm_api::wire::decode_request(&line) {
        Err(e) => {
            let _ = tx.send(Response::Err(e)).await;
        }
        Ok(req) => match caller_role(&d, uid) {
            Err(e) => {
                let _ = tx.send(Response::Err(e)).await;
            }
            Ok(role) if role < required_role(&req) => {
                let _ = tx
                    .send(Response::Err(ApiError::new(
                        ErrorKind::Denied,
                        format!(
                            "your role ({}) does not allow this: it needs {}",
                            role.as_str(),
                            required_role(&req).as_str()
                        ),
                    )))
                    .await;
            }
            Ok(_) => {
                let d = d.clone();
                tokio::spawn(async move { dispatch(d, req, tx, gone_rx).await });
            }
        },
    }
    // The client sends nothing after its request: EOF means it went away
    // (for a migration, that cancels it, as a KILL of Oracle's ldm does).
    let mut sink = [0u8; 64];
    let mut client_open = true;
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let fin = !matches!(msg, Response::Event(_));
                let mut text = serde_json::to_string(&msg).unwrap_or_default();
                text.push('\n');
                if wr.write_all(text.as_bytes()).await.is_err() {
                    let _ = gone_tx.send(true);
                }
                if fin { break; }
            }
            n = rd.read(&mut sink), if client_open => {
                if matches!(n, Ok(0) | Err(_)) {
                    client_open = false;
                    let _ = gone_tx.send(true);
                }
            }
        }
    }
}

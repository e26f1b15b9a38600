//! The local API: a Unix socket in the root directory; one JSON request per
//! connection, answered by events and one final response (see `ldm_api`).
//!
//! The caller is identified by the socket's peer credentials: root and the
//! daemon's own user may do everything; other local users act with the role
//! of the ldm account of the same name.

use crate::daemon::Daemon;
use crate::dispatch::dispatch;
use crate::limits::{Backoff, ConnCap, LogLimit, Permit};
use crate::local_read::read_request;
use ldm_api::request::UserRole;
use ldm_api::{ApiError, ErrorKind, Request, Response};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

/// Connections one local user (other than root and ldmd's own) may hold.
pub const MAX_CONNECTIONS_PER_USER: usize = 16;
/// Connections all such users may hold together.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a reply may wait for a client that does not read it.
const WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

static ACCEPT_LOG: LogLimit = LogLimit::new(5, std::time::Duration::from_secs(60));
static REFUSED_LOG: LogLimit = LogLimit::new(5, std::time::Duration::from_secs(60));

/// Serves the local API until the task is aborted.
pub async fn serve(d: Arc<Daemon>, listener: UnixListener) {
    let caps = ConnCap::<u32>::new(MAX_CONNECTIONS_PER_USER, MAX_CONNECTIONS);
    let mut backoff = Backoff::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.succeeded();
                let Some(permit) = admit(&caps, &stream) else {
                    continue;
                };
                let d = d.clone();
                tokio::spawn(async move { handle(d, stream, permit).await });
            }
            Err(e) => {
                let pause = backoff.failed();
                if let Some(left_out) = ACCEPT_LOG.allow() {
                    tracing::warn!(left_out, ?pause, "local API accept failed: {e}");
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Counts a connection against its user's cap; root and ldmd's own user
/// are never capped, so no one can lock them out. `None`: refused (the
/// client reads a refusal, then the connection closes).
fn admit(caps: &ConnCap<u32>, stream: &UnixStream) -> Option<Option<Permit<u32>>> {
    let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
    // SAFETY: geteuid has no preconditions.
    if uid == 0 || uid == unsafe { libc::geteuid() } {
        return Some(None);
    }
    match caps.try_acquire(uid) {
        Ok(p) => Some(Some(p)),
        Err(why) => {
            if let Some(left_out) = REFUSED_LOG.allow() {
                tracing::warn!(uid, left_out, "local connection refused: {why}");
            }
            let refusal = Response::Err(ApiError::new(
                ErrorKind::Busy,
                format!("ldmd refuses the connection: {why}; close some and try again"),
            ));
            let mut text = serde_json::to_string(&refusal).unwrap_or_default();
            text.push('\n');
            // Best effort, never waiting: the socket buffer takes a line.
            let _ = stream.try_write(text.as_bytes());
            None
        }
    }
}

/// The name of local user `uid`, from /etc/passwd.
pub(crate) fn user_name(uid: u32) -> Option<String> {
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
        | Request::ListTrust
        | Request::ListSpconfig
        | Request::ListConstraints { .. } => UserRole::Review,
        Request::ConsoleAddr { .. } | Request::ConsoleDump { .. } => UserRole::Console,
        _ => UserRole::Management,
    }
}

async fn handle(d: Arc<Daemon>, stream: UnixStream, _permit: Option<Permit<u32>>) {
    let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let (tx, mut rx) = mpsc::channel::<Response>(64);
    let (gone_tx, gone_rx) = watch::channel(false);
    let decoded = match read_request(&mut rd).await {
        Ok(Some(line)) => ldm_api::wire::decode_request(&line),
        Ok(None) => return,
        Err(e) => Err(e),
    };
    match decoded {
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
                tokio::spawn(async move { dispatch(d, req, uid, tx, gone_rx).await });
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
                let written = tokio::time::timeout(WRITE_DEADLINE, wr.write_all(text.as_bytes())).await;
                if !matches!(written, Ok(Ok(()))) {
                    // A client that stops reading is gone.
                    let _ = gone_tx.send(true);
                    break;
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

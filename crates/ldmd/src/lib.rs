//! ldmd, the Logical Domains Manager daemon, as a library: the binary only
//! parses its command line and calls [`run`], so tests can start many daemons
//! in one process.

pub mod access;
pub mod adopt;
pub mod backend;
pub mod claim;
pub mod cli;
pub mod config;
pub mod console;
pub mod daemon;
pub mod db;
pub mod db_network;
pub mod db_storage;
pub mod dispatch;
pub mod error;
pub mod imagetool;
pub mod inventory;
pub mod lifecycle;
pub mod limits;
pub mod local_api;
pub mod local_read;
pub mod logging;
pub mod metrics;
pub mod migration;
pub mod net;
pub mod ops;
pub mod paths;
pub mod peeruid;
pub mod proof;
pub mod record;
pub mod resources;
pub mod rootdir;
pub mod sampler;
pub mod spconfig;
pub mod testhook;

pub use config::Config;
pub use daemon::Daemon;
pub use error::{Error, Result};

use std::future::Future;
use tokio::net::{TcpListener, UnixListener};

/// Runs a daemon on the given listeners until `shutdown` completes; on
/// return its listeners are closed. Domains keep running after it returns.
pub async fn run(
    cfg: Config,
    local: UnixListener,
    peer: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    run_with_metrics(cfg, local, peer, None, shutdown).await
}

/// [`run`], also serving Prometheus metrics on `metrics` (`--metrics`).
pub async fn run_with_metrics(
    cfg: Config,
    local: UnixListener,
    peer: Option<TcpListener>,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    testhook::check_env()?;
    let d = Daemon::open(cfg).await?;
    spconfig::boot::at_start(&d).await?;
    let mut tasks = vec![
        tokio::spawn(local_api::serve(d.clone(), local)),
        tokio::spawn(sampler::run(d.clone())),
    ];
    if let Some(l) = peer {
        tasks.push(tokio::spawn(migration::peer_server::serve(d.clone(), l)));
    }
    if let Some(l) = metrics {
        tasks.push(tokio::spawn(metrics::http::serve(d.clone(), l)));
    }
    tracing::info!(root = %d.paths.root.display(), "ldmd ready");
    shutdown.await;
    tracing::info!("ldmd shutting down; domains keep running");
    d.shutdown.send_replace(true);
    for t in &tasks {
        t.abort();
    }
    // Wait until the listeners are closed, so that a daemon started next on
    // the same root finds the socket free.
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Binds the local API socket in `root`, refusing if another ldmd serves it.
pub fn bind_local(root: &std::path::Path) -> Result<UnixListener> {
    let paths = paths::Paths::new(root);
    paths
        .create()
        .map_err(|e| Error::io(format!("cannot create {}", root.display()), e))?;
    let sock = paths.socket();
    if sock.exists() {
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            return Err(error::refuse(
                ldm_api::ErrorKind::Exists,
                format!("another ldmd already serves {}", root.display()),
            ));
        }
        let _ = std::fs::remove_file(&sock);
    }
    let l = UnixListener::bind(&sock)
        .map_err(|e| Error::io(format!("cannot listen on {}", sock.display()), e))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666));
    Ok(l)
}

//! Virtual networks on this host: each vsw a Linux bridge, each vnet of a
//! bound domain a tap on it (docs/network.md).
//!
//! All netlink work runs on one thread of its own ("ldmd-net") with its
//! own netlink connection, in the namespace ldmd manages (its own, or
//! [`crate::Config::netns`]): taps are made there by ioctl, and a netlink
//! socket belongs to the namespace it was opened in. [`Net::sync`] makes
//! the links match the database and the table of domains, one sync at a
//! time, each from the state as it is when it starts; every change that
//! adds or removes a switch or a bound vnet ends with one, and so does
//! ldmd's start (re-adopting what is in use, deleting what is stale).

pub mod apply;
pub mod links;
pub mod names;
pub mod plan;
pub mod tap;

use crate::daemon::Daemon;
use apply::Report;
use futures::future::LocalBoxFuture;
use names::Owner;
use rtnetlink::Handle;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce(Handle) -> LocalBoxFuture<'static, ()> + Send>;

/// The network side of the daemon.
pub struct Net {
    /// This ldmd's identity among the links of its namespace.
    pub owner: Owner,
    jobs: Result<mpsc::UnboundedSender<Job>, String>,
    sync: tokio::sync::Mutex<()>,
    last: std::sync::Mutex<Report>,
}

impl Net {
    /// Starts the network thread in `netns` (a namespace file such as
    /// `/run/netns/NAME`), or in ldmd's own namespace. When netlink cannot
    /// be used, every network change reports why.
    pub fn start(owner: Owner, netns: Option<PathBuf>) -> Net {
        let jobs = spawn(netns);
        if let Err(e) = &jobs {
            tracing::warn!("virtual networks are unavailable: {e}");
        }
        Net {
            owner,
            jobs,
            sync: tokio::sync::Mutex::new(()),
            last: Default::default(),
        }
    }

    /// Runs `f` with the netlink handle on the network thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(Handle) -> LocalBoxFuture<'static, T> + Send + 'static,
    {
        let jobs = self.jobs.as_ref().map_err(Clone::clone)?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |h| {
            Box::pin(async move {
                let _ = tx.send(f(h).await);
            })
        });
        jobs.send(job)
            .map_err(|_| "the network thread has stopped".to_string())?;
        rx.await
            .map_err(|_| "the network thread has stopped".to_string())
    }

    /// The links of the namespace.
    pub async fn links(&self) -> Result<Vec<links::Link>, String> {
        self.call(|h| Box::pin(async move { links::list(&h).await }))
            .await?
    }

    /// The report of the last sync.
    pub fn last_report(&self) -> Report {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Makes the links match the database and the table now; returns (and
/// keeps, for `list-services`) what did not work.
pub async fn sync(d: &Daemon) -> Report {
    let _one = d.net.sync.lock().await;
    let vsws = match d.db.vsws() {
        Ok(v) => v,
        Err(e) => {
            return Report {
                general: Some(format!("cannot read the virtual switches: {e}")),
                ..Default::default()
            }
        }
    };
    let p = {
        let t = d.table();
        plan::plan(&d.net.owner, &vsws, &t)
    };
    let owner = d.net.owner.clone();
    let report = d
        .net
        .call(move |h| Box::pin(async move { apply::apply(&h, &owner, &p).await }))
        .await
        .unwrap_or_else(|e| Report {
            general: Some(e),
            ..Default::default()
        });
    for (vsw, e) in &report.vsw {
        tracing::warn!(vsw, "virtual switch: {e}");
    }
    for ((dom, vnet), e) in &report.vnet {
        tracing::warn!(domain = dom, vnet, "vnet: {e}");
    }
    *d.net.last.lock().unwrap_or_else(|p| p.into_inner()) = report.clone();
    report
}

fn spawn(netns: Option<PathBuf>) -> Result<mpsc::UnboundedSender<Job>, String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("ldmd-net".into())
        .spawn(move || {
            let setup = || -> Result<(tokio::runtime::Runtime, _, Handle), String> {
                if let Some(p) = &netns {
                    enter(p)?;
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the network thread: {e}"))?;
                let (conn, h, _) = rt
                    .block_on(async { rtnetlink::new_connection() })
                    .map_err(|e| format!("cannot open a netlink socket: {e}"))?;
                Ok((rt, conn, h))
            };
            let (rt, conn, h) = match setup() {
                Ok(x) => x,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            rt.block_on(async move {
                tokio::spawn(conn);
                while let Some(job) = rx.recv().await {
                    job(h.clone()).await;
                }
            });
        })
        .map_err(|e| format!("cannot start the network thread: {e}"))?;
    ready_rx
        .recv()
        .map_err(|_| "the network thread failed to start".to_string())??;
    Ok(tx)
}

/// Moves the calling thread into the network namespace at `path`.
fn enter(path: &std::path::Path) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)
        .map_err(|e| format!("cannot open network namespace {}: {e}", path.display()))?;
    // SAFETY: setns takes an open namespace descriptor, valid for the call;
    // it changes only the calling thread, which is the network thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r < 0 {
        return Err(format!(
            "cannot enter network namespace {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

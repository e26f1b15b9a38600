//! The in-process test tier: real daemons (`ldmd::run`) in the test's own
//! process, each with a temporary root, a local-API socket, and a peer
//! listener on 127.0.0.1 port 0 with real TLS. No guest boots: bound and
//! inactive domains migrate cold, which exercises the protocol, the checks,
//! authentication, the database and both hosts' listings. (One test,
//! `shutdown_waits.rs`, has a daemon adopt a QEMU started with `-S`, which
//! runs no guest code.)
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod attack;
pub mod fleet;
pub mod golden;
pub mod http;
pub mod peer;

use ldm::client::Client;
use ldm_api::domain::DomainView;
use ldm_api::migration::{Auth, MigrateRequest};
use ldm_api::request::UserRole;
use ldm_api::{ApiError, HostView, Reply, Request, ResourceChange};
use ldmd::db::Db;
use ldmd::record::DomainRecord;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod netns;
pub use netns::Netns;

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// How long a condition may take to become true before a test fails.
pub const SETTLE: Duration = Duration::from_secs(20);

/// What a host may give to domains.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
}

impl Default for Size {
    fn default() -> Self {
        Size {
            vcpus: 8,
            memory_mib: 8192,
        }
    }
}

/// One ldmd running in this process.
pub struct Host {
    /// Host name (what peers and the checks show).
    pub name: String,
    /// Where its peer listener is (a new port after each restart).
    pub peer_addr: SocketAddr,
    /// Where it serves metrics (a new port after each restart).
    pub metrics_addr: SocketAddr,
    size: Size,
    /// The network namespace its bridges and taps are made in.
    pub netns: Option<PathBuf>,
    /// The boot id the daemon is given (`--boot-id`): a new one simulates
    /// a host reboot.
    boot_id: String,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<ldmd::Result<()>>>,
}

impl Host {
    /// Starts a daemon named `name` with the default size.
    pub async fn start(name: &str) -> Host {
        Self::start_sized(name, Size::default()).await
    }

    /// Starts a daemon named `name` that makes its bridges and taps in the
    /// network namespace `netns` (a test's own, never the host's).
    pub async fn start_in(name: &str, netns: &Netns) -> Host {
        Self::start_full(name, Size::default(), Some(netns.path())).await
    }

    /// Starts a daemon named `name` that may give `size` to domains.
    pub async fn start_sized(name: &str, size: Size) -> Host {
        Self::start_full(name, size, None).await
    }

    async fn start_full(name: &str, size: Size, netns: Option<PathBuf>) -> Host {
        let dir = tempfile::Builder::new()
            .prefix(&format!("ldmd-{name}-"))
            .tempdir()
            .expect("temporary root");
        let mut h = Host {
            name: name.to_string(),
            peer_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            size,
            netns,
            boot_id: "boot-1".into(),
            dir,
            stop: None,
            task: None,
        };
        h.launch().await;
        h
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    async fn launch(&mut self) {
        // A fresh port each time: the stopped daemon's listener may not be
        // closed yet (its task is aborted, not joined).
        let peer = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("peer listener on 127.0.0.1");
        self.peer_addr = peer.local_addr().expect("bound address");
        let metrics = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("metrics listener on 127.0.0.1");
        self.metrics_addr = metrics.local_addr().expect("bound address");
        let mut cfg = ldmd::Config::new(self.root());
        cfg.hostname = Some(self.name.clone());
        cfg.listen = Some(self.peer_addr);
        cfg.vcpus = Some(self.size.vcpus);
        cfg.memory_mib = Some(self.size.memory_mib);
        cfg.accel = Some("tcg".into());
        cfg.netns = self.netns.clone();
        cfg.boot_id = Some(self.boot_id.clone());
        let local = ldmd::bind_local(self.root()).expect("local API socket");
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        let shutdown = async {
            let _ = rx.await;
        };
        self.task = Some(tokio::spawn(ldmd::run_with_metrics(
            cfg,
            local,
            Some(peer),
            Some(metrics),
            shutdown,
        )));
        let deadline = Instant::now() + SETTLE;
        while self.client().call(&Request::Host).await.is_err() {
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the daemon (domains would keep running; these have no QEMU).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("ldmd task").expect("ldmd ran");
        }
    }

    /// Stops the daemon and starts it again on the same root (its peer
    /// listener gets a new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// Restarts the daemon as after a host reboot: under a new boot id.
    pub async fn reboot(&mut self, boot_id: &str) {
        self.stop().await;
        self.boot_id = boot_id.into();
        self.launch().await;
    }

    /// Runs the `ldm` command line against this daemon, as a user would;
    /// returns its exit status.
    pub async fn ldm(&self, args: &[&str]) -> i32 {
        let mut argv: Vec<String> = vec!["ldm".into(), "--root".into()];
        argv.push(self.root().display().to_string());
        argv.extend(args.iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || ldm::main_with_args(argv.into_iter().map(Into::into)))
            .await
            .expect("ldm ran")
    }

    /// A local-API client, as `ldm` uses.
    pub fn client(&self) -> Client {
        Client::new(self.root())
    }

    /// Sends a request.
    pub async fn call(&self, req: Request) -> Result<Reply, ApiError> {
        self.client().call(&req).await
    }

    /// Sends a request that must succeed.
    pub async fn ok(&self, req: Request) -> Reply {
        let what = format!("{req:?}");
        match self.call(req).await {
            Ok(r) => r,
            Err(e) => panic!("{}: {what} failed: {e}", self.name),
        }
    }

    /// `ldm list`: every domain but the primary.
    pub async fn list(&self) -> Vec<DomainView> {
        match self.ok(Request::List { names: vec![] }).await {
            Reply::Domains { domains } => domains
                .into_iter()
                .filter(|d| d.name != "primary")
                .collect(),
            other => panic!("list answered {other:?}"),
        }
    }

    /// `ldm list NAME`, if it exists.
    pub async fn domain(&self, name: &str) -> Option<DomainView> {
        self.list().await.into_iter().find(|d| d.name == name)
    }

    /// The names `ldm list` shows, sorted.
    pub async fn names(&self) -> Vec<String> {
        self.list().await.into_iter().map(|d| d.name).collect()
    }

    /// `ldm list-devices`: the host's facts.
    pub async fn host_view(&self) -> HostView {
        match self.ok(Request::Host).await {
            Reply::Host(h) => h,
            other => panic!("host answered {other:?}"),
        }
    }

    /// The fingerprint of this host's certificate.
    pub async fn fingerprint(&self) -> String {
        self.host_view().await.fingerprint.expect("a certificate")
    }

    /// The database, opened beside the daemon (SQLite allows it).
    pub fn db(&self) -> Db {
        Db::open(&self.db_path()).expect("open the database")
    }

    /// Where the database is.
    pub fn db_path(&self) -> PathBuf {
        ldmd::paths::Paths::new(self.root()).database()
    }

    /// The stored record of a domain.
    pub fn record(&self, name: &str) -> Option<DomainRecord> {
        self.db()
            .domains()
            .expect("read domains")
            .into_iter()
            .find(|r| r.spec.name == name)
    }

    /// `ldm add-domain`, `set-vcpu`, `set-memory` and, if `bind`, `bind-domain`.
    pub async fn add_domain(&self, name: &str, vcpus: u32, memory_mib: u64, bind: bool) {
        let n = name.to_string();
        self.ok(Request::AddDomain {
            name: n.clone(),
            cpu_arch: None,
            max_vcpus: None,
        })
        .await;
        self.ok(Request::Vcpu {
            name: n.clone(),
            change: ResourceChange::Set,
            count: vcpus,
        })
        .await;
        self.ok(Request::Memory {
            name: n.clone(),
            change: ResourceChange::Set,
            mib: memory_mib,
        })
        .await;
        if bind {
            self.ok(Request::Bind { name: n }).await;
        }
    }

    /// `ldm add-user USER role=ROLE` with [`PASSWORD`].
    pub async fn add_user(&self, user: &str, role: UserRole) {
        self.ok(Request::AddUser {
            name: user.into(),
            role,
            password: PASSWORD.into(),
        })
        .await;
    }

    /// A `migrate-domain` request from this host for `name` to `target`,
    /// as `user` with [`PASSWORD`], accepting the target's certificate.
    pub async fn migrate_request(&self, target: &Host, name: &str, user: &str) -> MigrateRequest {
        MigrateRequest {
            name: name.into(),
            host: target.peer_addr.ip().to_string(),
            port: target.peer_addr.port(),
            user: user.into(),
            new_name: None,
            auth: Auth::Password(PASSWORD.into()),
            dry_run: false,
            accept_fingerprint: Some(target.fingerprint().await),
            downtime_ms: None,
            bandwidth_mib: None,
            copy_storage: false,
            overwrite_storage: false,
            postcopy: Default::default(),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Waits until `cond` holds, polling; fails the test after [`SETTLE`].
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + SETTLE;
    while !cond().await {
        assert!(Instant::now() < deadline, "{what}: not within {SETTLE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

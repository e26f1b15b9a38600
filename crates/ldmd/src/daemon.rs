//! The daemon's shared state: configuration, database, host inventory and the
//! table of domains with their running parts.

use crate::config::Config;
use crate::console::Console;
use crate::db::{Db, VccRow};
use crate::error::{refuse, Error, Result};
use crate::inventory::Inventory;
use crate::paths::Paths;
use crate::record::DomainRecord;
use ldm_api::migration::OperationView;
use ldm_api::ErrorKind;
use ldm_qemu::Qmp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Mutex};

pub use crate::claim::{Claim, ClaimGuard, ClaimKind};

/// The running parts of an active domain.
pub struct Runtime {
    /// QEMU's process id.
    pub pid: u32,
    /// QMP connection, opened on first use and reopened after errors.
    pub qmp: Arc<Mutex<Option<Qmp>>>,
    /// Console server.
    pub console: Console,
    /// CPU utilisation in percent, sampled in the background.
    pub util: f64,
    /// Last CPU-time sample: when, and the process's ticks.
    pub last_sample: Option<(Instant, u64)>,
}

/// A migration holding a domain: what it shows and how to cancel it.
pub struct Busy {
    /// What `ldm list -o status` shows; updated by the operation.
    pub view: Arc<std::sync::Mutex<OperationView>>,
    /// Set to true to ask the operation to cancel.
    pub cancel: watch::Sender<bool>,
}

impl Busy {
    /// What `ldm list -o status` shows for a migration in `phase` with
    /// `peer`, shared between the migration and the listings.
    pub fn view(
        role: ldm_api::migration::Role,
        peer: String,
        phase: ldm_api::migration::Phase,
        progress: u8,
    ) -> Arc<std::sync::Mutex<OperationView>> {
        Arc::new(std::sync::Mutex::new(OperationView {
            kind: "migration".into(),
            role,
            peer,
            phase,
            progress,
        }))
    }
}

/// One domain: its record and, when running, its runtime.
pub struct Domain {
    /// What the database holds.
    pub rec: DomainRecord,
    /// Running parts.
    pub rt: Option<Runtime>,
    /// The operation that holds the domain, if any (see [`crate::claim`]).
    pub claim: Option<Claim>,
}

impl Domain {
    /// A domain as loaded or created, held by nothing.
    pub fn new(rec: DomainRecord) -> Self {
        Domain {
            rec,
            rt: None,
            claim: None,
        }
    }

    /// The migration holding this domain, if one does.
    pub fn migration(&self) -> Option<&Busy> {
        match &self.claim {
            Some(Claim {
                kind: ClaimKind::Migration(b),
                ..
            }) => Some(b),
            _ => None,
        }
    }
}

/// All domains by name.
pub type Table = BTreeMap<String, Domain>;

/// The table as the daemon and claim guards share it.
pub type SharedTable = Arc<std::sync::Mutex<Table>>;

/// The daemon.
pub struct Daemon {
    /// Configuration.
    pub cfg: Config,
    /// Directory layout.
    pub paths: Paths,
    /// Database.
    pub db: Db,
    /// Host facts.
    pub inv: Inventory,
    /// Domains. A synchronous lock, held only for short sections that do
    /// no waiting (its guard cannot be kept across an `.await` in the
    /// daemon's tasks): long operations claim their domain instead
    /// ([`crate::claim`]).
    pub table: SharedTable,
    /// When the daemon started.
    pub started: Instant,
    /// This host's TLS identity.
    pub identity: ldm_peer::HostIdentity,
    /// Slows down repeated authentication failures.
    pub throttle: ldm_peer::AuthThrottle,
    /// Migrations in their checks, before they claim a domain.
    pub checking: crate::migration::source::checking::Checking,
    /// Counters, histograms and gauges for `--metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Bridges and taps (virtual switches and networks).
    pub net: crate::net::Net,
    /// CPUID features of each CPU model QEMU expanded here.
    pub cpu_features:
        std::sync::Mutex<std::collections::HashMap<String, std::collections::BTreeSet<String>>>,
    /// Set once the daemon shuts down: background work that would
    /// outlive it (a post-copy's reconnection) stops and leaves its stored
    /// state for the next start.
    pub shutdown: watch::Sender<bool>,
}

impl Daemon {
    /// Opens the database, gathers the inventory and re-adopts running domains.
    pub async fn open(cfg: Config) -> Result<Arc<Daemon>> {
        let paths = Paths::new(&cfg.root);
        paths
            .create()
            .map_err(|e| Error::io(format!("cannot create {}", cfg.root.display()), e))?;
        let db = Db::open(&paths.database())?;
        let inv = Inventory::gather(&cfg)?;
        if db.vccs()?.is_empty() && db.meta("vcc-initialised")?.is_none() {
            db.put_vcc(&VccRow {
                name: "primary-vcc0".into(),
                port_lo: cfg.default_vcc.0,
                port_hi: cfg.default_vcc.1,
            })?;
            db.set_meta("vcc-initialised", "1")?;
        }
        let net = crate::net::Net::start(net_owner(&db)?, cfg.netns.clone());
        let identity = ldm_peer::HostIdentity::load_or_create(&paths.tls_dir(), &inv.hostname)?;
        let mut table = Table::new();
        for rec in db.domains()? {
            table.insert(rec.spec.name.clone(), Domain::new(rec));
        }
        let d = Arc::new(Daemon {
            cfg,
            paths,
            db,
            inv,
            table: Arc::new(std::sync::Mutex::new(table)),
            started: Instant::now(),
            identity,
            throttle: ldm_peer::AuthThrottle::new(),
            checking: Default::default(),
            metrics: crate::metrics::Metrics::new(),
            net,
            cpu_features: Default::default(),
            shutdown: watch::channel(false).0,
        });
        crate::adopt::adopt_all(&d).await?;
        crate::net::sync(&d).await;
        Ok(d)
    }

    /// The table of domains, for a short section that does not wait.
    pub fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the domain `name` for `kind` (see [`crate::claim`]).
    pub fn claim(&self, name: &str, kind: ClaimKind) -> Result<ClaimGuard> {
        let mut t = self.table();
        ClaimGuard::claim(&self.table, &mut t, name, kind)
    }

    /// Returns once the daemon shuts down.
    pub async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|down| *down).await;
    }

    /// vCPUs the primary domain uses for migrations.
    pub fn primary_vcpus(&self) -> u32 {
        self.db
            .meta("primary-vcpus")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.inv.host_cpus)
    }
}

/// This root's owner id among network links, made on first start.
fn net_owner(db: &Db) -> Result<crate::net::names::Owner> {
    if let Some(o) = db.meta("net-owner")? {
        return Ok(crate::net::names::Owner(o));
    }
    let o = format!("{:08x}", rand::random::<u32>());
    db.set_meta("net-owner", &o)?;
    Ok(crate::net::names::Owner(o))
}

/// Looks a domain up, with the error the administrator should see.
pub fn get<'a>(t: &'a Table, name: &str) -> Result<&'a Domain> {
    t.get(name).ok_or_else(|| not_found(name))
}

/// Looks a domain up for a change: refused while an operation holds it.
pub fn get_mut_idle<'a>(t: &'a mut Table, name: &str) -> Result<&'a mut Domain> {
    let d = t.get_mut(name).ok_or_else(|| not_found(name))?;
    if let Some(c) = &d.claim {
        return Err(c.refusal(name));
    }
    Ok(d)
}

/// The error for an unknown domain.
pub fn not_found(name: &str) -> Error {
    refuse(
        ErrorKind::NotFound,
        format!("domain {name} does not exist: `ldm list` shows the domains of this host"),
    )
}

/// Writes a changed record to the database, then to the table.
pub fn commit(db: &Db, dom: &mut Domain, rec: DomainRecord) -> Result<()> {
    db.put_domain(&rec)?;
    dom.rec = rec;
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

//! Prometheus metrics (`ldmd --metrics ADDR`, served on `/metrics` by
//! `http.rs`). Events (migrations, authentication failures) update
//! counters and histograms as they happen; what `ldm list` shows (domains,
//! their resources, UTIL, UPTIME, console clients) is read from the table
//! at each scrape. Names and labels are documented in docs/metrics.md.

pub mod http;

use crate::daemon::{Daemon, Table};
use ldm_api::migration::{Role, Summary};
use ldm_api::{DomainState, ErrorKind, Reply};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// How a migration ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The target runs the domain (source: confirmed; target: resumed).
    Completed,
    /// Refused or failed; the source keeps the domain.
    Failed,
    /// Cancelled by the administrator or the client.
    Cancelled,
    /// The source does not know whether the target resumed: left in the
    /// error state for the administrator.
    Unsettled,
    /// The target destroyed its copy (the source went away or aborted).
    RolledBack,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Unsettled => "unsettled",
            Outcome::RolledBack => "rolled-back",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MigrationLabels {
    role: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DomainLabels {
    domain: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

type Histograms = Family<KindLabels, Histogram, fn() -> Histogram>;
type PerDomain = Family<DomainLabels, Gauge>;

fn seconds_buckets() -> Histogram {
    // 0.25 s … about 17 minutes.
    Histogram::new(exponential_buckets(0.25, 2.0, 13))
}

fn downtime_buckets() -> Histogram {
    // 5 ms … about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn bytes_buckets() -> Histogram {
    // 1 MiB … 256 GiB.
    Histogram::new(exponential_buckets(1_048_576.0, 4.0, 10))
}

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    /// Serialises scrapes: each sets the table-derived gauges, then encodes.
    scrape: Mutex<()>,
    migrations: Family<MigrationLabels, Counter>,
    duration: Histograms,
    downtime: Histograms,
    bytes: Histograms,
    auth_failures: Family<ReasonLabels, Counter>,
    domains: Family<StateLabels, Gauge>,
    vcpus: PerDomain,
    memory: PerDomain,
    util: Family<DomainLabels, Gauge<f64, AtomicU64>>,
    uptime: PerDomain,
    console_clients: PerDomain,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, all zero.
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            scrape: Mutex::new(()),
            migrations: Family::default(),
            duration: Family::new_with_constructor(seconds_buckets),
            downtime: Family::new_with_constructor(downtime_buckets),
            bytes: Family::new_with_constructor(bytes_buckets),
            auth_failures: Family::default(),
            domains: Family::default(),
            vcpus: Family::default(),
            memory: Family::default(),
            util: Family::default(),
            uptime: Family::default(),
            console_clients: Family::default(),
        };
        m.register()
    }

    fn register(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "ldm_migrations",
            "Migrations this host took part in, by role and outcome",
            self.migrations.clone(),
        );
        r.register(
            "ldm_migration_duration_seconds",
            "Whole time of completed migrations, as the source measured it (live or cold)",
            self.duration.clone(),
        );
        r.register(
            "ldm_migration_downtime_seconds",
            "Time the guest was paused in completed live migrations (source)",
            self.downtime.clone(),
        );
        r.register(
            "ldm_migration_bytes",
            "Migration stream bytes sent by completed live migrations (source)",
            self.bytes.clone(),
        );
        r.register(
            "ldm_peer_auth_failures",
            "Refused peer logins on the peer listener, by reason",
            self.auth_failures.clone(),
        );
        r.register(
            "ldm_domains",
            "Domains by state (the primary not included)",
            self.domains.clone(),
        );
        r.register(
            "ldm_domain_vcpus",
            "vCPUs of each domain",
            self.vcpus.clone(),
        );
        r.register(
            "ldm_domain_memory_bytes",
            "Memory of each domain",
            self.memory.clone(),
        );
        r.register(
            "ldm_domain_util_percent",
            "UTIL of each running domain: CPU use in percent of its vCPUs",
            self.util.clone(),
        );
        r.register(
            "ldm_domain_uptime_seconds",
            "UPTIME of each running domain (continues across migrations)",
            self.uptime.clone(),
        );
        r.register(
            "ldm_console_clients",
            "Clients connected to each running domain's console",
            self.console_clients.clone(),
        );
        // Every series that can appear starts at zero, so that a scraper
        // sees it move from its first scrape on.
        for state in STATES {
            self.domains.get_or_create(&state_labels(state)).set(0);
        }
        for (role, outcomes) in OUTCOMES {
            for o in outcomes {
                let _ = self.migrations.get_or_create(&MigrationLabels {
                    role: role.into(),
                    outcome: o.as_str().into(),
                });
            }
        }
        for kind in ["live", "cold"] {
            let k = KindLabels { kind: kind.into() };
            let _ = self.duration.get_or_create(&k);
        }
        let live = KindLabels {
            kind: "live".into(),
        };
        let _ = self.downtime.get_or_create(&live);
        let _ = self.bytes.get_or_create(&live);
        for reason in ["credentials", "role"] {
            let _ = self.auth_failures.get_or_create(&ReasonLabels {
                reason: reason.into(),
            });
        }
        self
    }

    /// Records the end of a migration on this host. `summary` is the
    /// source's, for a completed migration.
    pub fn migration(&self, role: Role, outcome: Outcome, summary: Option<&Summary>) {
        let role = match role {
            Role::Source => "source",
            Role::Target => "target",
        };
        self.migrations
            .get_or_create(&MigrationLabels {
                role: role.into(),
                outcome: outcome.as_str().into(),
            })
            .inc();
        let Some(s) = summary else { return };
        let kind = KindLabels {
            kind: if s.live { "live" } else { "cold" }.into(),
        };
        self.duration
            .get_or_create(&kind)
            .observe(s.total_ms as f64 / 1000.0);
        if s.live {
            self.downtime
                .get_or_create(&kind)
                .observe(s.downtime_ms as f64 / 1000.0);
            self.bytes.get_or_create(&kind).observe(s.bytes_sent as f64);
        }
    }

    /// Counts a refused peer login: `credentials` (wrong password, unknown
    /// user, untrusted certificate, throttled) or `role` (not management).
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// The text exposition (OpenMetrics), with the gauges read from `t`.
    pub fn render(&self, t: &Table) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.read_table(t);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("cannot encode the metrics: {e}");
        }
        out
    }

    fn read_table(&self, t: &Table) {
        for f in [
            &self.vcpus,
            &self.memory,
            &self.uptime,
            &self.console_clients,
        ] {
            f.clear();
        }
        self.util.clear();
        for state in STATES {
            self.domains.get_or_create(&state_labels(state)).set(0);
        }
        for dom in t.values() {
            let v = crate::ops::views::domain_view(dom, &[], 1);
            self.domains.get_or_create(&state_labels(v.state)).inc();
            let l = DomainLabels { domain: v.name };
            self.vcpus.get_or_create(&l).set(i64::from(v.vcpus));
            self.memory
                .get_or_create(&l)
                .set((v.memory_mib * 1_048_576) as i64);
            if let Some(rt) = &dom.rt {
                self.util.get_or_create(&l).set(v.util.unwrap_or(0.0));
                self.uptime
                    .get_or_create(&l)
                    .set(v.uptime_secs.unwrap_or(0) as i64);
                self.console_clients
                    .get_or_create(&l)
                    .set(rt.console.clients() as i64);
            }
        }
    }
}

/// Records the end of a `migrate-domain` on the source, from its result
/// and, for a failure, whether it left the domain in the error state.
pub fn source_finished(d: &Daemon, name: &str, r: &crate::Result<Reply>) {
    let (outcome, summary) = match r {
        Ok(Reply::Migrated(s)) => (Outcome::Completed, Some(s)),
        Ok(_) => return,
        Err(e) if e.to_api().kind == ErrorKind::Cancelled => (Outcome::Cancelled, None),
        Err(_) => {
            let t = d.table();
            let unsettled = t.get(name).is_some_and(|dom| {
                dom.rec
                    .migration
                    .as_ref()
                    .is_some_and(|m| m.error.is_some())
            });
            let o = if unsettled {
                Outcome::Unsettled
            } else {
                Outcome::Failed
            };
            (o, None)
        }
    };
    d.metrics.migration(Role::Source, outcome, summary);
}

/// The outcomes each role can record.
const OUTCOMES: [(&str, &[Outcome]); 2] = [
    (
        "source",
        &[
            Outcome::Completed,
            Outcome::Failed,
            Outcome::Cancelled,
            Outcome::Unsettled,
        ],
    ),
    ("target", &[Outcome::Completed, Outcome::RolledBack]),
];

const STATES: [DomainState; 4] = [
    DomainState::Active,
    DomainState::Bound,
    DomainState::Inactive,
    DomainState::Suspended,
];

fn state_labels(s: DomainState) -> StateLabels {
    StateLabels {
        state: s.to_string(),
    }
}

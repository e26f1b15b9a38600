//! Carrying out an evacuation plan: at most N migrations at once, progress
//! per domain, a final table; a failed domain stays, the rest go on.

use super::plan::Placement;
use super::{request, Options, Planned};
use crate::client::Client;
use ldm_api::{ErrorKind, Reply, Request};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How one domain ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Moved: total time and downtime, ms (downtime 0 for a cold move).
    Moved {
        /// Wall time of the migration, ms.
        total_ms: u64,
        /// Time the guest was paused, ms.
        downtime_ms: u64,
    },
    /// The migration failed; the domain stays here.
    Failed(String),
    /// Cancelled; the domain stays here.
    Cancelled,
    /// Not started (stopped, or fits nowhere).
    NotStarted(String),
}

/// One row of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Domain.
    pub name: String,
    /// Target, if one was planned.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// When its migration started and ended (for moves that ran).
    pub span: Option<(Instant, Instant)>,
}

/// Stop controls shared with the signal handler and `cancel-operation`.
#[derive(Default)]
pub struct Control {
    /// No new moves once set.
    pub stop: AtomicBool,
    /// Domains whose migration is running now.
    pub running: Mutex<BTreeSet<String>>,
}

impl Control {
    fn running(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the planned moves, at most `o.max_parallel` at once, in the plan's
/// order. A cancelled move (SIGINT twice, or `ldm cancel-operation
/// migration NAME`) also stops new moves from starting.
pub async fn execute(
    client: &Client,
    o: &Options,
    planned: &[Planned],
    ctl: Arc<Control>,
) -> Vec<Row> {
    let sem = Arc::new(Semaphore::new(o.max_parallel.max(1)));
    let mut rows: Vec<Row> = Vec::new();
    let mut set = JoinSet::new();
    for (i, p) in planned.iter().enumerate() {
        let name = p.mover.name.clone();
        let target = match &p.placement {
            Placement::To(t) => o.targets[*t].clone(),
            Placement::Nowhere(_) => {
                rows.push(row(
                    name,
                    None,
                    Outcome::NotStarted("fits on no target".into()),
                ));
                continue;
            }
        };
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        if ctl.stop.load(Ordering::SeqCst) {
            rows.push(row(
                name,
                Some(target.to_string()),
                Outcome::NotStarted("evacuation stopped".into()),
            ));
            continue;
        }
        eprintln!("{name}: migrating to {target}");
        ctl.running().insert(name.clone());
        let (client, req, ctl) = (
            client.clone(),
            request(o, &name, &target, false),
            ctl.clone(),
        );
        set.spawn(async move {
            let start = Instant::now();
            let result = client.call(&Request::Migrate(req)).await;
            let end = Instant::now();
            drop(permit);
            ctl.running().remove(&name);
            let outcome = match result {
                Ok(Reply::Migrated(s)) => Outcome::Moved {
                    total_ms: s.total_ms,
                    downtime_ms: if s.live { s.downtime_ms } else { 0 },
                },
                Ok(other) => Outcome::Failed(format!("unexpected answer from ldmd: {other:?}")),
                Err(e) if e.kind == ErrorKind::Cancelled => {
                    ctl.stop.store(true, Ordering::SeqCst);
                    Outcome::Cancelled
                }
                Err(e) => Outcome::Failed(e.message),
            };
            report(&name, &target.to_string(), &outcome);
            (
                i,
                Row {
                    name,
                    target: Some(target.to_string()),
                    outcome,
                    span: Some((start, end)),
                },
            )
        });
    }
    let mut done: Vec<(usize, Row)> = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            done.push(r);
        }
    }
    done.sort_by_key(|(i, _)| *i);
    rows.extend(done.into_iter().map(|(_, r)| r));
    rows
}

fn row(name: String, target: Option<String>, outcome: Outcome) -> Row {
    Row {
        name,
        target,
        outcome,
        span: None,
    }
}

fn report(name: &str, target: &str, o: &Outcome) {
    match o {
        Outcome::Moved { total_ms, .. } => {
            eprintln!(
                "{name}: moved to {target} in {:.1} s",
                *total_ms as f64 / 1000.0
            )
        }
        Outcome::Failed(m) => eprintln!("{name}: failed, it stays here: {m}"),
        Outcome::Cancelled => eprintln!("{name}: cancelled, it stays here"),
        Outcome::NotStarted(m) => eprintln!("{name}: not started: {m}"),
    }
}

/// Prints the final table.
pub fn print_table(rows: &[Row]) {
    println!(
        "{:<16} {:<24} {:<12} {:>8} {:>9}",
        "DOMAIN", "TARGET", "OUTCOME", "TIME", "DOWNTIME"
    );
    for r in rows {
        let (outcome, time, down) = match &r.outcome {
            Outcome::Moved {
                total_ms,
                downtime_ms,
            } => (
                "moved",
                format!("{:.1}s", *total_ms as f64 / 1000.0),
                format!("{downtime_ms}ms"),
            ),
            Outcome::Failed(_) => ("failed", "-".into(), "-".into()),
            Outcome::Cancelled => ("cancelled", "-".into(), "-".into()),
            Outcome::NotStarted(_) => ("not-started", "-".into(), "-".into()),
        };
        println!(
            "{:<16} {:<24} {:<12} {:>8} {:>9}",
            r.name,
            r.target.as_deref().unwrap_or("-"),
            outcome,
            time,
            down
        );
    }
}

/// Watches SIGINT (Ctrl-C): the first stops new moves (running ones
/// finish); the second cancels the running ones, which roll back and stay.
pub fn watch_signals(client: Client, ctl: Arc<Control>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for round in 0..2 {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            ctl.stop.store(true, Ordering::SeqCst);
            if round == 0 {
                eprintln!("\nevacuation stopping: no new migrations; running ones finish (Ctrl-C again cancels them)");
                continue;
            }
            let names: Vec<String> = ctl.running().iter().cloned().collect();
            eprintln!("\ncancelling the running migrations: {}", names.join(", "));
            for name in names {
                let req = Request::CancelMigration { name };
                let _ = tokio::time::timeout(Duration::from_secs(30), client.call(&req)).await;
            }
        }
    })
}

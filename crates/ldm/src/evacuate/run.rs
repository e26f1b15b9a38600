//! Carrying out an evacuation plan: at most N migrations at once, progress
//! per domain, a final table; a failed domain stays, the rest go on.

use super::plan::Placement;
use super::{request, Options, Planned};
use crate::client::Client;
use ldm_api::{ErrorKind, Reply, Request};
use std::collections::BTreeSet;
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

/// What an interruption (the first Ctrl-C, or `cancel-operation` of one
/// move) does to the moves already running; new moves never start after
/// one. A second Ctrl-C always cancels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnInterrupt {
    /// The running moves go on to their end.
    #[default]
    Finish,
    /// The running moves are cancelled: they roll back and stay here.
    Cancel,
}

/// Stop controls shared with the signal handler and the moves.
#[derive(Default)]
pub struct Control {
    /// What an interruption does to running moves.
    pub on_interrupt: OnInterrupt,
    state: Mutex<Moves>,
}

/// Whether new moves may start, and the moves running now: one lock, so a
/// move either starts before an interruption (and is seen by it) or not
/// at all.
#[derive(Default)]
struct Moves {
    stopped: bool,
    running: BTreeSet<String>,
}

impl Control {
    /// Controls that treat an interruption as `on_interrupt` says.
    pub fn new(on_interrupt: OnInterrupt) -> Control {
        Control {
            on_interrupt,
            state: Mutex::default(),
        }
    }

    fn moves(&self) -> std::sync::MutexGuard<'_, Moves> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops new moves. Returns the running moves to cancel now: all of
    /// them if `cancel` or [`OnInterrupt::Cancel`], none otherwise.
    pub fn interrupt(&self, cancel: bool) -> Vec<String> {
        let mut m = self.moves();
        m.stopped = true;
        if cancel || self.on_interrupt == OnInterrupt::Cancel {
            m.running.iter().cloned().collect()
        } else {
            Vec::new()
        }
    }

    /// Whether new moves are stopped.
    pub fn stopped(&self) -> bool {
        self.moves().stopped
    }

    /// Records `name` as running unless moves are stopped; false if stopped.
    fn begin(&self, name: &str) -> bool {
        let mut m = self.moves();
        if m.stopped {
            return false;
        }
        m.running.insert(name.to_string())
    }

    fn end(&self, name: &str) {
        self.moves().running.remove(name);
    }

    fn is_running(&self, name: &str) -> bool {
        self.moves().running.contains(name)
    }
}

/// How long one move's cancel is retried while its migration has not yet
/// registered on the daemon.
const CANCEL_DEADLINE: Duration = Duration::from_secs(60);

/// Cancels the migrations of `names`, all at once; each until the daemon
/// took the cancel, the move ended, or [`CANCEL_DEADLINE`] passed.
pub async fn cancel_running(client: &Client, ctl: &Arc<Control>, names: Vec<String>) {
    let mut set = JoinSet::new();
    for name in names {
        let (client, ctl) = (client.clone(), ctl.clone());
        set.spawn(async move {
            let end = Instant::now() + CANCEL_DEADLINE;
            while ctl.is_running(&name) && Instant::now() < end {
                let req = Request::CancelMigration { name: name.clone() };
                let left = end.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, client.call(&req)).await {
                    // Sent before the daemon registered the migration:
                    // try again while the move still runs.
                    Ok(Err(e)) if e.message.contains("no migration of") => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok(Err(e)) => {
                        eprintln!("{name}: cannot cancel: {}", e.message);
                        return;
                    }
                    Ok(Ok(_)) | Err(_) => return,
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// Runs the planned moves, at most `o.max_parallel` at once, in the plan's
/// order. A cancelled move (SIGINT twice, or `ldm cancel-operation
/// migration NAME`) interrupts the evacuation as the first Ctrl-C does:
/// no new moves, and the running ones finish or are cancelled as
/// [`Control::on_interrupt`] says.
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
        if !ctl.begin(&name) {
            rows.push(row(
                name,
                Some(target.to_string()),
                Outcome::NotStarted("evacuation stopped".into()),
            ));
            continue;
        }
        eprintln!("{name}: migrating to {target}");
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
            ctl.end(&name);
            let outcome = match result {
                Ok(Reply::Migrated(s)) => Outcome::Moved {
                    total_ms: s.total_ms,
                    downtime_ms: if s.live { s.downtime_ms } else { 0 },
                },
                Ok(other) => Outcome::Failed(format!("unexpected answer from ldmd: {other:?}")),
                Err(e) if e.kind == ErrorKind::Cancelled => {
                    let others = ctl.interrupt(false);
                    if !others.is_empty() {
                        eprintln!(
                            "{name}: cancelled; cancelling the others: {}",
                            others.join(", ")
                        );
                        cancel_running(&client, &ctl, others).await;
                    }
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

/// The line under the table: how long planning took, and the moves from
/// the first one's start to the last one's end.
pub fn timing(plan: Duration, rows: &[Row]) -> String {
    let spans = rows.iter().filter_map(|r| r.span);
    let first = spans.clone().map(|(s, _)| s).min();
    let last = spans.map(|(_, e)| e).max();
    let moves = match (first, last) {
        (Some(a), Some(b)) => format!("{:.1} s", b.duration_since(a).as_secs_f64()),
        _ => "none ran".into(),
    };
    format!(
        "plan: {:.1} s; moves, first start to last end: {moves}",
        plan.as_secs_f64()
    )
}

/// An interruption, as Ctrl-C makes it: no new moves; the running ones
/// are cancelled if `second` (a second Ctrl-C) or [`OnInterrupt::Cancel`],
/// else they finish. Returns once the cancels are answered.
pub async fn interrupt(client: &Client, ctl: &Arc<Control>, second: bool) {
    let names = ctl.interrupt(second);
    if !second && ctl.on_interrupt == OnInterrupt::Finish {
        eprintln!("\nevacuation stopping: no new migrations; running ones finish (Ctrl-C again cancels them)");
        return;
    }
    eprintln!(
        "\nevacuation stopping: no new migrations; cancelling the running ones: {}",
        names.join(", ")
    );
    cancel_running(client, ctl, names).await;
}

/// Watches SIGINT (Ctrl-C): the first is an [`interrupt`], the second
/// cancels the running moves. The handler is in place when this returns,
/// so a Ctrl-C from then on never ends the process.
pub fn watch_signals(
    client: Client,
    ctl: Arc<Control>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        let mut rounds = 0;
        while sigint.recv().await.is_some() {
            rounds += 1;
            if rounds > 2 {
                eprintln!(
                    "the running migrations are being cancelled; the table follows when they end"
                );
                continue;
            }
            // In a task of its own: the cancels wait for the moves to
            // wind down, and the next Ctrl-C must still be caught.
            let (client, ctl) = (client.clone(), ctl.clone());
            tokio::spawn(async move { interrupt(&client, &ctl, rounds == 2).await });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_spans_the_moves_from_first_start_to_last_end() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let moved = |span| Row {
            name: "d".into(),
            target: None,
            outcome: Outcome::Cancelled,
            span: Some(span),
        };
        let rows = [
            moved((at(1000), at(3000))),
            moved((at(0), at(2500))),
            row("x".into(), None, Outcome::Cancelled),
        ];
        assert_eq!(
            timing(Duration::from_millis(1200), &rows),
            "plan: 1.2 s; moves, first start to last end: 3.0 s"
        );
        assert!(timing(Duration::ZERO, &rows[2..]).ends_with("none ran"));
    }
}

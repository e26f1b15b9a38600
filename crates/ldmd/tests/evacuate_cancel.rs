//! Interrupting `ldm evacuate`: no new moves start, and the running ones
//! finish or are cancelled as `--on-interrupt` says; then a SIGINT to the
//! command itself; then a re-run moves what is left. The source holds each
//! migration at `source-checked` (checks passed, nothing claimed yet), so
//! the interruption comes while exactly the first two moves run.
//!
//! One test: the hold variables are the process's own, and nextest runs
//! each test in a process of its own; this binary has only this test.

mod common;

use common::fleet::{fleet, Fleet};
use ldm::evacuate::make_plan;
use ldm::evacuate::run::{execute, interrupt, Control, OnInterrupt, Outcome, Row};
use ldm_api::DomainState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POINT: &str = "source-checked";

/// Releases every hold at [`POINT`] until `done` is set: a second move
/// may reach the point after the first was let go.
fn keep_releasing(held: PathBuf, done: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !done.load(Ordering::SeqCst) {
            let _ = std::fs::remove_file(&held);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

async fn wait_held(held: &Path) {
    let end = Instant::now() + Duration::from_secs(120);
    while !held.exists() {
        assert!(Instant::now() < end, "no migration reached {POINT}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the plan with `policy`, interrupts once the first move is held,
/// then lets the moves go on; returns the table's rows.
async fn interrupted_run(f: &Fleet, held: &Path, policy: OnInterrupt) -> Vec<Row> {
    let o = f.options(2);
    let (planned, _) = make_plan(&f.src.client(), &o).await.unwrap();
    let ctl = Arc::new(Control::new(policy));
    let run = {
        let (client, ctl) = (f.src.client(), ctl.clone());
        tokio::spawn(async move { execute(&client, &o, &planned, ctl).await })
    };
    wait_held(held).await;
    let stopping = {
        let (client, ctl) = (f.src.client(), ctl.clone());
        tokio::spawn(async move { interrupt(&client, &ctl, false).await })
    };
    if policy == OnInterrupt::Cancel {
        // The cancels reach the daemon while the moves are held (they
        // answer only once the moves end, so there is nothing to wait on).
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let done = Arc::new(AtomicBool::new(false));
    let releaser = keep_releasing(held.to_path_buf(), done.clone());
    let rows = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the evacuation ends")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), stopping)
        .await
        .expect("the interruption ends")
        .unwrap();
    done.store(true, Ordering::SeqCst);
    releaser.await.unwrap();
    rows
}

fn outcome<'a>(rows: &'a [Row], name: &str) -> &'a Outcome {
    &rows.iter().find(|r| r.name == name).expect(name).outcome
}

async fn state_on_source(f: &Fleet, name: &str) -> Option<DomainState> {
    f.src.domain(name).await.map(|d| d.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_new_moves_and_finishes_or_cancels_the_running_ones() {
    let holds = tempfile::tempdir().expect("hold directory");
    std::env::set_var(ldmd::testhook::HOLD_VAR, POINT);
    std::env::set_var(ldmd::testhook::HOLD_DIR_VAR, holds.path());
    let held = ldmd::testhook::held_file(holds.path(), POINT);
    let f = fleet().await;

    // finish: d1 and d2 run when interrupted and go on to their end; d3,
    // d4 and d5 never start.
    let rows = interrupted_run(&f, &held, OnInterrupt::Finish).await;
    for d in ["d1", "d2"] {
        assert!(
            matches!(outcome(&rows, d), Outcome::Moved { .. }),
            "{rows:?}"
        );
        assert_eq!(state_on_source(&f, d).await, None, "{d} left the source");
    }
    for d in ["d3", "d4", "d5"] {
        assert!(
            matches!(outcome(&rows, d), Outcome::NotStarted(m) if m.contains("stopped")),
            "{rows:?}"
        );
        assert_eq!(state_on_source(&f, d).await, Some(DomainState::Bound));
    }

    // cancel: d3 and d4 run when interrupted and are cancelled; they stay,
    // as before, with no operation or note; d5 never starts.
    let rows = interrupted_run(&f, &held, OnInterrupt::Cancel).await;
    for d in ["d3", "d4"] {
        assert_eq!(outcome(&rows, d), &Outcome::Cancelled, "{rows:?}");
        let v = f.src.domain(d).await.expect("a cancelled domain stays");
        assert_eq!(v.state, DomainState::Bound);
        assert!(v.operation.is_none() && v.note.is_none(), "{v:?}");
        for t in &f.targets {
            assert!(t.domain(d).await.is_none(), "{d} is on {}", t.name);
        }
    }
    assert!(matches!(outcome(&rows, "d5"), Outcome::NotStarted(_)));

    // SIGINT to the command itself (this process runs it): the first
    // Ctrl-C lets d3 and d4 finish and starts nothing new; exit status 1.
    let cli = {
        let f = &f;
        async move { f.ldm(&[]).await }
    };
    let signal = async {
        wait_held(&held).await;
        // SAFETY: kill with this process's own pid; the command installed
        // its SIGINT handler before any migration started.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGINT) }, 0);
        let done = Arc::new(AtomicBool::new(false));
        (keep_releasing(held.clone(), done.clone()), done)
    };
    let (code, (releaser, done)) = tokio::join!(cli, signal);
    done.store(true, Ordering::SeqCst);
    releaser.await.unwrap();
    assert_eq!(code, 1, "an interrupted evacuation exits 1");
    for d in ["d3", "d4"] {
        assert_eq!(state_on_source(&f, d).await, None, "{d} moved");
    }
    assert_eq!(state_on_source(&f, "d5").await, Some(DomainState::Bound));

    // Re-run, uninterrupted: it picks up what is left (huge fits nowhere).
    std::fs::remove_dir_all(holds.path()).expect("disarm the holds");
    assert_eq!(f.ldm(&[]).await, 1);
    let left = f.where_all().await;
    assert_eq!(left[0].keys().collect::<Vec<_>>(), ["huge"], "{left:?}");
    let on_targets = left[1..].iter().map(|m| m.len()).sum::<usize>();
    assert_eq!(on_targets, 5, "{left:?}");
}

//! Every state × every event of the source machine.

use super::postcopy_tests::{postcopy_states, POSTCOPY_TABLE};
use super::*;

pub(super) fn states() -> Vec<State> {
    let mut states = vec![
        State::Checking,
        State::Claimed,
        State::Preparing,
        State::Copying,
        State::Switchover,
        State::CommitSent,
        State::Confirmed,
        State::Unconfirmed {
            facts: "f".into(),
            postcopy: false,
        },
        State::RolledBack { reason: "r".into() },
    ];
    states.extend(postcopy_states());
    states
}

pub(super) fn events() -> Vec<Event> {
    vec![
        Event::Checked { passed: true },
        Event::Checked { passed: false },
        Event::Claimed,
        Event::ClaimFailed("busy".into()),
        Event::Prepared { live: true },
        Event::Prepared { live: false },
        Event::QemuPaused,
        Event::QemuCompleted,
        Event::PostcopyDue,
        Event::PostcopyRefused("no".into()),
        Event::PostcopyRunning,
        Event::Failed("failed".into()),
        Event::CommitReady,
        Event::Committed,
        Event::TargetRefused("no".into()),
        Event::PeerLost("eof".into()),
        Event::Deadline,
        Event::Cancel,
        Event::Resolved(Outcome::Committed),
        Event::Resolved(Outcome::RolledBack),
        Event::Resolved(Outcome::Unknown),
        Event::Recovered,
        Event::Shutdown,
        Event::Restarted {
            qemu_completed: false,
        },
        Event::Restarted {
            qemu_completed: true,
        },
        Event::QemuSwitched,
        Event::QemuNeverSwitched,
    ]
}

/// `state [Action,…]`, short enough for a table.
fn render((s, a): (State, Vec<Action>)) -> String {
    let acts: Vec<String> = a
        .iter()
        .map(|a| format!("{a:?}").split('(').next().unwrap_or("").to_string())
        .collect();
    format!("{} {}", s.name(), acts.join(","))
}

/// The expected `next-state actions` for each state before the post-copy
/// (rows, in the order of `states()`; the post-copy ones follow, in
/// `POSTCOPY_TABLE`) and event (columns, in the order of `events()`).
const TABLE: &[(&str, &[&str])] = &[
    (
        "checking",
        &[
            "claimed Claim",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "checking Leave",
            "checking",
            "checking",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
        ],
    ),
    (
        "claimed",
        &[
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "preparing SendPrepare",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "claimed Leave",
            "claimed",
            "claimed",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
        ],
    ),
    (
        "preparing",
        &[
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "copying StartCopy",
            "switchover PrepareCommit",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
            "preparing Leave",
            "preparing",
            "preparing",
            "rolled-back SendAbort",
            "rolled-back SendAbort",
        ],
    ),
    (
        "copying",
        &[
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "copying ShowSuspended",
            "switchover PrepareCommit",
            "postcopy StartPostcopy",
            "copying",
            "copying",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume",
            "rolled-back StopCopyAndResume",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "copying Leave",
            "copying",
            "copying",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
        ],
    ),
    (
        "switchover",
        &[
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "switchover",
            "switchover",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "commit-sent SendCommit",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume",
            "rolled-back StopCopyAndResume",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
            "switchover Leave",
            "switchover",
            "switchover",
            "rolled-back StopCopyAndResume,SendAbort",
            "rolled-back StopCopyAndResume,SendAbort",
        ],
    ),
    (
        "commit-sent",
        &[
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "confirmed DestroySource",
            "rolled-back Resume",
            "unconfirmed Suspend,Resolve",
            "unconfirmed Suspend,Resolve",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent Leave",
            "commit-sent",
            "commit-sent",
            "commit-sent",
            "commit-sent",
        ],
    ),
    (
        "confirmed",
        &[
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
            "confirmed",
        ],
    ),
    (
        "unconfirmed",
        &[
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed Resolve",
            "unconfirmed Resolve",
            "rolled-back Resume",
            "confirmed DestroySource",
            "rolled-back Resume",
            "unconfirmed Resolve",
            "unconfirmed",
            "unconfirmed Leave",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
            "unconfirmed",
        ],
    ),
    (
        "rolled-back",
        &[
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
            "rolled-back",
        ],
    ),
];

#[test]
fn every_state_and_event() {
    let events = events();
    for (state, (name, row)) in states().into_iter().zip(TABLE.iter().chain(POSTCOPY_TABLE)) {
        assert_eq!(state.name(), *name);
        assert_eq!(row.len(), events.len(), "row {name}");
        for (ev, want) in events.iter().zip(row.iter()) {
            let got = render(step(state.clone(), ev.clone()));
            assert_eq!(got.trim(), *want, "{name} × {ev:?}");
        }
    }
}

#[test]
fn before_commit_nothing_destroys_or_suspends_the_source() {
    for s in states()
        .into_iter()
        .filter(|s| !s.past_point_of_no_return())
    {
        for ev in events() {
            let (next, actions) = step(s.clone(), ev.clone());
            assert!(
                !next.past_point_of_no_return()
                    || next == State::CommitSent
                    || (next == State::Postcopy && ev == Event::PostcopyDue),
                "{s:?} × {ev:?}"
            );
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::DestroySource | Action::Suspend)),
                "{s:?} × {ev:?} → {actions:?}"
            );
        }
    }
}

#[test]
fn after_commit_the_source_resumes_only_on_facts_or_the_administrator() {
    for s in [
        State::CommitSent,
        State::Unconfirmed {
            facts: "f".into(),
            postcopy: false,
        },
    ] {
        for ev in events() {
            let (_, actions) = step(s.clone(), ev.clone());
            let resumes = actions
                .iter()
                .any(|a| matches!(a, Action::Resume | Action::StopCopyAndResume));
            let allowed = match s {
                // The target says, on the same connection, it has no copy.
                State::CommitSent => matches!(ev, Event::TargetRefused(_)),
                // The target's stored outcome, or the administrator.
                _ => matches!(ev, Event::Resolved(Outcome::RolledBack) | Event::Cancel),
            };
            assert_eq!(resumes, allowed, "{s:?} × {ev:?} → {actions:?}");
        }
    }
}

#[test]
fn a_live_migration_runs_through() {
    let mut s = State::Checking;
    for ev in [
        Event::Checked { passed: true },
        Event::Claimed,
        Event::Prepared { live: true },
        Event::QemuPaused,
        Event::QemuCompleted,
        Event::CommitReady,
        Event::Committed,
    ] {
        s = step(s, ev).0;
    }
    assert_eq!(s, State::Confirmed);
}

#[test]
fn states_survive_the_database() {
    for s in states() {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s, "{json}");
    }
}

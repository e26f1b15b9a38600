//! Every state × every event of the target machine.

use super::postcopy_tests::{postcopy_states, POSTCOPY_TABLE};
use super::*;

pub(super) fn states() -> Vec<State> {
    let mut states = vec![
        State::Authenticated,
        State::Checked,
        State::Prepared,
        State::Receiving,
        State::Committing,
        State::Committed,
        State::RolledBack { reason: "r".into() },
    ];
    states.extend(postcopy_states());
    states
}

pub(super) fn events() -> Vec<Event> {
    vec![
        Event::Check,
        Event::Prepare,
        Event::PrepareDone,
        Event::PrepareFailed("pf".into()),
        Event::Progress,
        Event::Commit,
        Event::Postcopy,
        Event::PostcopyRunning,
        Event::PostcopyFailed("pc".into()),
        Event::Resumed,
        Event::ResumeFailed("rf".into()),
        Event::Abort("ab".into()),
        Event::Unexpected("ux".into()),
        Event::SourceLost,
        Event::Deadline,
        Event::Recover,
        Event::RecoverReady,
        Event::RecoverFailed("rc".into()),
        Event::Superseded,
        Event::SwitchFailed,
        Event::SwitchHeld { failed: false },
    ]
}

/// `state [Action,…]`, short enough for a table.
fn render((s, a): (State, Vec<Action>)) -> String {
    let acts: Vec<String> = a
        .iter()
        .map(|a| {
            format!("{a:?}")
                .split(['(', ' '])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    format!("{} {}", s.name(), acts.join(","))
}

/// The expected `next-state actions` for each state before the post-copy
/// (rows, in the order of `states()`; the post-copy ones follow, in
/// `POSTCOPY_TABLE`) and event (columns, in the order of `events()`).
const TABLE: &[(&str, &[&str])] = &[
    (
        "authenticated",
        &[
            "checked ReplyChecked",
            "authenticated Prepare",
            "prepared ReplyPrepared",
            "rolled-back Destroy,ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyAborted",
            "rolled-back ReplyError",
            "rolled-back",
            "rolled-back",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "authenticated",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
        ],
    ),
    (
        "checked",
        &[
            "checked ReplyChecked",
            "checked Prepare",
            "prepared ReplyPrepared",
            "rolled-back Destroy,ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyAborted",
            "rolled-back ReplyError",
            "rolled-back",
            "rolled-back",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
            "checked",
            "rolled-back ReplyError",
            "rolled-back ReplyError",
        ],
    ),
    (
        "prepared",
        &[
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "receiving ShowProgress",
            "committing Resume",
            "postcopy-starting RunPostcopy",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyAborted",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy",
            "rolled-back Destroy",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "prepared",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
        ],
    ),
    (
        "receiving",
        &[
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "receiving ShowProgress",
            "committing Resume",
            "postcopy-starting RunPostcopy",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyAborted",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy",
            "rolled-back Destroy",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
            "receiving",
            "rolled-back Destroy,ReplyError",
            "rolled-back Destroy,ReplyError",
        ],
    ),
    (
        "committing",
        &[
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committed RecordMaster,ReplyCommitted",
            "rolled-back Destroy,ReplyError",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
            "committing",
        ],
    ),
    (
        "committed",
        &[
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
            "committed",
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
fn once_committing_the_source_cannot_stop_the_resume() {
    for ev in events() {
        let (next, actions) = step(State::Committing, ev.clone());
        assert!(
            !actions.contains(&Action::Destroy) || matches!(ev, Event::ResumeFailed(_)),
            "{ev:?}"
        );
        assert!(
            matches!(next, State::Committing | State::Committed)
                || matches!(ev, Event::ResumeFailed(_)),
            "{ev:?}"
        );
    }
}

#[test]
fn a_silent_source_loses_its_copy() {
    for s in [State::Prepared, State::Receiving] {
        let (next, actions) = step(s, Event::Deadline);
        assert!(matches!(next, State::RolledBack { .. }));
        assert_eq!(actions, vec![Action::Destroy]);
    }
}

//! Every state × every event of the source machine.

use super::*;

fn states() -> Vec<State> {
    vec![
        State::Checking,
        State::Claimed,
        State::Preparing,
        State::Copying,
        State::Postcopy,
        State::PostcopyPaused { facts: "f".into() },
        State::PostcopyDone,
        State::Switchover,
        State::CommitSent,
        State::Confirmed,
        State::Unconfirmed {
            facts: "f".into(),
            postcopy: false,
        },
        State::Unconfirmed {
            facts: "f".into(),
            postcopy: true,
        },
        State::RolledBack { reason: "r".into() },
        State::TargetRolledBack,
        State::SwitchLost { facts: "f".into() },
    ]
}

fn events() -> Vec<Event> {
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

/// The expected `next-state actions` for each state (rows, in the order of
/// `states()`) and event (columns, in the order of `events()`).
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
        "postcopy",
        &[
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy-done SendCommit",
            "postcopy",
            "rolled-back StopCopyAndResume,SendAbort",
            "postcopy",
            "postcopy-paused SuspendPostcopy",
            "postcopy",
            "postcopy",
            "postcopy-paused SuspendPostcopy",
            "postcopy-paused SuspendPostcopy",
            "postcopy-paused SuspendPostcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy",
            "postcopy Leave",
            "postcopy-paused SuspendPostcopy",
            "unconfirmed Suspend,Resolve",
            "postcopy",
            "postcopy",
        ],
    ),
    (
        "postcopy-paused",
        &[
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "postcopy-paused",
            "confirmed DestroySource",
            "target-rolled-back AskQemuSwitched",
            "postcopy-paused",
            "postcopy ResumePostcopy",
            "postcopy-paused Leave",
            "postcopy-paused SuspendPostcopy",
            "unconfirmed Suspend,Resolve",
            "postcopy-paused",
            "postcopy-paused",
        ],
    ),
    (
        "postcopy-done",
        &[
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "confirmed DestroySource",
            "unconfirmed Suspend,Resolve",
            "unconfirmed Suspend,Resolve",
            "unconfirmed Suspend,Resolve",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done",
            "postcopy-done Leave",
            "postcopy-paused SuspendPostcopy",
            "unconfirmed Suspend,Resolve",
            "postcopy-done",
            "postcopy-done",
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
            "unconfirmed",
            "confirmed DestroySource",
            "target-rolled-back AskQemuSwitched",
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
    (
        "target-rolled-back",
        &[
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "target-rolled-back",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "switch-lost MarkSwitchLost",
            "target-rolled-back Leave",
            "target-rolled-back",
            "target-rolled-back",
            "switch-lost MarkSwitchLost",
            "rolled-back Resume",
        ],
    ),
    (
        "switch-lost",
        &[
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
            "switch-lost",
        ],
    ),
];

#[test]
fn every_state_and_event() {
    let events = events();
    for (state, (name, row)) in states().into_iter().zip(TABLE) {
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
fn after_postcopy_the_source_never_resumes() {
    for s in states().into_iter().filter(State::in_postcopy) {
        assert!(s.past_point_of_no_return(), "{s:?}");
        for ev in events() {
            let (next, actions) = step(s.clone(), ev.clone());
            let resumes = actions
                .iter()
                .any(|a| matches!(a, Action::Resume | Action::StopCopyAndResume));
            // Only QEMU's refusal to switch, or QEMU out of its migration
            // once the target rolled back: it never switched.
            let allowed = (s == State::Postcopy && matches!(ev, Event::PostcopyRefused(_)))
                || (s == State::TargetRolledBack && ev == Event::QemuNeverSwitched);
            assert_eq!(resumes, allowed, "{s:?} × {ev:?} → {actions:?}");
            // Destroyed only once the target confirmed a completed copy.
            let destroys = actions.contains(&Action::DestroySource);
            let confirmed = matches!(
                (&s, &ev),
                (State::PostcopyDone, Event::Committed)
                    | (
                        State::Unconfirmed { .. } | State::PostcopyPaused { .. },
                        Event::Resolved(Outcome::Committed)
                    )
            );
            assert_eq!(destroys, confirmed, "{s:?} × {ev:?}");
            // Once the target rolled back, anything but QEMU's word that
            // it never switched ends the move lost in the switch.
            let lost = s == State::TargetRolledBack
                && !matches!(
                    ev,
                    Event::Cancel | Event::Shutdown | Event::Restarted { .. }
                );
            // Cancel changes nothing.
            if ev == Event::Cancel {
                assert_eq!((next, actions), (s.clone(), vec![]), "{s:?}");
            } else if lost && !allowed {
                assert!(matches!(next, State::SwitchLost { .. }), "{next:?}");
                assert!(next.is_final() && next.past_point_of_no_return());
                assert_eq!(actions, vec![Action::MarkSwitchLost]);
            } else if !allowed && !confirmed {
                assert!(next.in_postcopy(), "{s:?} × {ev:?} → {next:?}");
            }
        }
    }
}

#[test]
fn a_postcopy_migration_runs_through() {
    let mut s = State::Checking;
    for ev in [
        Event::Checked { passed: true },
        Event::Claimed,
        Event::Prepared { live: true },
        Event::PostcopyDue,
        Event::QemuPaused,
        Event::PostcopyRunning,
        Event::QemuCompleted,
        Event::Committed,
    ] {
        s = step(s, ev).0;
    }
    assert_eq!(s, State::Confirmed);
    // The switch is recorded as its own state before QEMU is asked.
    assert_eq!(
        step(State::Copying, Event::PostcopyDue),
        (State::Postcopy, vec![Action::StartPostcopy])
    );
}

#[test]
fn a_postcopy_paused_twice_recovers_and_completes() {
    let mut s = State::Postcopy;
    for lost in [Event::PeerLost("eof".into()), Event::Deadline] {
        let (next, actions) = step(s, lost);
        assert!(matches!(next, State::PostcopyPaused { .. }), "{next:?}");
        assert_eq!(actions, vec![Action::SuspendPostcopy]);
        // Waiting to reconnect: nothing but the target moves it.
        for ev in [Event::Cancel, Event::Deadline, Event::Failed("f".into())] {
            assert_eq!(step(next.clone(), ev), (next.clone(), vec![]));
        }
        let (next, actions) = step(next, Event::Recovered);
        assert_eq!(
            (next.clone(), actions),
            (State::Postcopy, vec![Action::ResumePostcopy])
        );
        s = next;
    }
    // A resume QEMU refuses pauses again, never resumes the source.
    let (paused, actions) = step(State::Postcopy, Event::Failed("resume".into()));
    assert!(matches!(paused, State::PostcopyPaused { .. }));
    assert_eq!(actions, vec![Action::SuspendPostcopy]);
    for ev in [Event::QemuCompleted, Event::Committed] {
        s = step(s, ev).0;
    }
    assert_eq!(s, State::Confirmed);
}

#[test]
fn a_postcopy_resumes_after_a_restart_and_a_shutdown() {
    for stored in [
        State::Postcopy,
        State::PostcopyPaused { facts: "f".into() },
        State::PostcopyDone,
    ] {
        // QEMU waits: the post-copy is paused and resumed as after a lost
        // link.
        let (paused, actions) = step(
            stored.clone(),
            Event::Restarted {
                qemu_completed: false,
            },
        );
        assert_eq!(
            (paused.clone(), actions),
            (
                State::PostcopyPaused {
                    facts: RESTART_FACTS.into()
                },
                vec![Action::SuspendPostcopy]
            ),
            "{stored:?}"
        );
        // A shutdown while reconnecting leaves it as stored.
        assert_eq!(
            step(paused.clone(), Event::Shutdown),
            (paused.clone(), vec![Action::Leave])
        );
        let mut s = paused;
        for ev in [Event::Recovered, Event::QemuCompleted, Event::Committed] {
            s = step(s, ev).0;
        }
        assert_eq!(s, State::Confirmed);
        // QEMU sent everything: only the target's word settles it.
        let (next, actions) = step(
            stored,
            Event::Restarted {
                qemu_completed: true,
            },
        );
        assert!(
            matches!(next, State::Unconfirmed { postcopy: true, .. }),
            "{next:?}"
        );
        assert_eq!(actions, vec![Action::Suspend, Action::Resolve]);
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
fn a_postcopy_lost_in_the_switch_ends_and_stays_over() {
    // Switched, the link lost before `Postcopy` reached the target.
    let (s, _) = step(State::Copying, Event::PostcopyDue);
    let (paused, a) = step(s, Event::PeerLost("cut".into()));
    assert_eq!(a, vec![Action::SuspendPostcopy]);
    // Refused recoveries ask the target's outcome; unknown waits on.
    assert_eq!(
        step(paused.clone(), Event::Resolved(Outcome::Unknown)),
        (paused.clone(), vec![])
    );
    // Rolled back there: the guest never ran there; QEMU is asked.
    let (s, a) = step(paused.clone(), Event::Resolved(Outcome::RolledBack));
    assert_eq!(
        (s.clone(), a),
        (State::TargetRolledBack, vec![Action::AskQemuSwitched])
    );
    // Switched: QEMU cannot run it again: over, marked, never resumed
    // nor destroyed.
    let (s, a) = step(s, Event::QemuSwitched);
    assert_eq!(
        (s.clone(), a),
        (
            State::SwitchLost {
                facts: SWITCH_LOST_FACTS.into()
            },
            vec![Action::MarkSwitchLost]
        )
    );
    assert!(s.is_final() && !s.in_postcopy() && s.past_point_of_no_return());
    // Nothing moves it again: not a later answer, a cancel, a restart.
    for ev in events() {
        assert_eq!(step(s.clone(), ev.clone()), (s.clone(), vec![]), "{ev:?}");
    }
    // QEMU never switched (its migration thread held by the dead link in
    // pre-copy, then failed): the guest is whole here, and runs again.
    let (s, _) = step(paused, Event::Resolved(Outcome::RolledBack));
    let (s, a) = step(s, Event::QemuNeverSwitched);
    assert!(matches!(s, State::RolledBack { .. }), "{s:?}");
    assert_eq!(a, vec![Action::Resume]);
    // The same after QEMU completed the post-copy before the target heard
    // `Postcopy` (it rolled back a copy that never ran).
    let done = State::Unconfirmed {
        facts: "f".into(),
        postcopy: true,
    };
    assert_eq!(
        step(done, Event::Resolved(Outcome::RolledBack)),
        (State::TargetRolledBack, vec![Action::AskQemuSwitched])
    );
    // Without the target's rolled-back, QEMU's word resumes nothing.
    for s in states().into_iter().filter(State::in_postcopy) {
        if s != State::TargetRolledBack {
            let (_, a) = step(s.clone(), Event::QemuNeverSwitched);
            assert!(!a.contains(&Action::Resume), "{s:?}");
        }
    }
}

#[test]
fn states_survive_the_database() {
    for s in states() {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s, "{json}");
    }
}

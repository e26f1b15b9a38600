//! Every post-copy state × every event of the source machine, and the
//! post-copy and switch-window runs through it.

use super::tests::{events, states};
use super::*;

/// The post-copy states, in the order of `POSTCOPY_TABLE`; they follow
/// the others in `states()`.
pub(super) fn postcopy_states() -> Vec<State> {
    vec![
        State::Postcopy,
        State::PostcopyPaused { facts: "f".into() },
        State::PostcopyDone,
        State::Unconfirmed {
            facts: "f".into(),
            postcopy: true,
        },
        State::TargetRolledBack,
        State::SwitchLost { facts: "f".into() },
    ]
}

/// The expected `next-state actions` for each post-copy state (rows, in
/// the order of `postcopy_states()`) and event (columns, in the order of
/// `events()`).
pub(super) const POSTCOPY_TABLE: &[(&str, &[&str])] = &[
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

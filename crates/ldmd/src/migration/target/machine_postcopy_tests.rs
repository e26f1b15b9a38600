//! Every post-copy state × every event of the target machine, and the
//! post-copy, switch-window and recovery runs through it.

use super::tests::events;
use super::*;

/// The post-copy states, in the order of `POSTCOPY_TABLE`; they follow
/// the others in `states()`.
pub(super) fn postcopy_states() -> Vec<State> {
    vec![
        State::PostcopyStarting,
        State::StartingLost { reason: "l".into() },
        State::Postcopy,
        State::Stranded { reason: "s".into() },
        State::Recovering,
    ]
}

/// The expected `next-state actions` for each post-copy state (rows, in
/// the order of `postcopy_states()`) and event (columns, in the order of
/// `events()`).
pub(super) const POSTCOPY_TABLE: &[(&str, &[&str])] = &[
    (
        "postcopy-starting",
        &[
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "postcopy-starting ShowProgress",
            "postcopy-starting Resume",
            "starting-lost InspectSwitch",
            "postcopy ReplyPostcopyRunning",
            "postcopy-starting ReplyError",
            "committed RecordMaster,ReplyCommitted",
            "stranded KeepStranded,ReplyError",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
            "starting-lost InspectSwitch",
        ],
    ),
    (
        "starting-lost",
        &[
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "rolled-back Destroy",
            "stranded KeepStranded",
        ],
    ),
    (
        "postcopy",
        &[
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "postcopy ShowProgress",
            "postcopy Resume",
            "stranded KeepStranded",
            "postcopy ReplyPostcopyRunning",
            "postcopy ReplyError",
            "committed RecordMaster,ReplyCommitted",
            "stranded KeepStranded,ReplyError",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
        ],
    ),
    (
        "stranded",
        &[
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "recovering StartRecovery",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
            "stranded",
        ],
    ),
    (
        "recovering",
        &[
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "postcopy ReplyRecovering",
            "stranded ReplyError",
            "stranded KeepStranded",
            "stranded KeepStranded",
            "stranded KeepStranded",
        ],
    ),
];

#[test]
fn once_the_guest_may_have_run_here_the_copy_is_never_destroyed() {
    let stranded = State::Stranded { reason: "s".into() };
    for s in [State::Postcopy, stranded, State::Recovering] {
        for ev in events() {
            let (next, actions) = step(s.clone(), ev.clone());
            assert!(
                !actions.contains(&Action::Destroy),
                "{s:?} × {ev:?} → {actions:?}"
            );
            assert!(
                !matches!(next, State::RolledBack { .. }),
                "{s:?} × {ev:?} → {next:?}"
            );
            assert!(next.has_copy(), "{s:?} × {ev:?} → {next:?}");
        }
    }
    // Stranded is final and keeps the copy.
    let s = State::Stranded { reason: "s".into() };
    assert!(s.is_final() && s.has_copy());
}

#[test]
fn before_the_guest_ran_only_a_qemu_failed_in_the_switch_loses_its_copy() {
    // Whatever ends the session in PostcopyStarting, its QEMU is asked
    // first; nothing is destroyed on the event itself.
    for ev in events() {
        let (next, actions) = step(State::PostcopyStarting, ev.clone());
        assert!(!actions.contains(&Action::Destroy), "{ev:?} → {actions:?}");
        assert!(next.has_copy(), "{ev:?} → {next:?}");
        if matches!(next, State::StartingLost { .. }) {
            assert_eq!(actions, vec![Action::InspectSwitch], "{ev:?}");
        }
    }
    // Of what the inspection finds, only a QEMU that failed still
    // `inmigrate` destroys the copy, recorded rolled back.
    let lost = State::StartingLost { reason: "l".into() };
    for ev in events() {
        let (next, actions) = step(lost.clone(), ev.clone());
        if ev == Event::SwitchFailed {
            assert!(matches!(next, State::RolledBack { .. }), "{next:?}");
            assert_eq!(actions, vec![Action::Destroy]);
        } else {
            assert!(matches!(next, State::Stranded { .. }), "{ev:?} → {next:?}");
            // What the inspection read is carried: QEMU is not asked again.
            let failed = match ev {
                Event::SwitchHeld { failed } => Some(failed),
                _ => None,
            };
            assert_eq!(
                actions,
                vec![Action::KeepStranded {
                    guest_ran: false,
                    failed
                }],
                "{ev:?}"
            );
        }
    }
    let (_, actions) = step(lost.clone(), Event::SwitchHeld { failed: true });
    assert_eq!(
        actions,
        vec![Action::KeepStranded {
            guest_ran: false,
            failed: Some(true)
        }]
    );
    // The source lost, its QEMU failed in the switch: rolled back.
    let (s, a) = step(State::PostcopyStarting, Event::SourceLost);
    assert_eq!(a, vec![Action::InspectSwitch]);
    let (s, a) = step(s, Event::SwitchFailed);
    assert!(matches!(s, State::RolledBack { .. }), "{s:?}");
    assert_eq!(a, vec![Action::Destroy]);
}

#[test]
fn a_stranded_copy_recovers_and_completes() {
    let stranded = State::Stranded { reason: "s".into() };
    let (s, a) = step(stranded.clone(), Event::Recover);
    assert_eq!(
        (s.clone(), a),
        (State::Recovering, vec![Action::StartRecovery])
    );
    // Refused (its QEMU not paused, the copy held): kept as it was.
    let (back, a) = step(s.clone(), Event::RecoverFailed("busy".into()));
    assert!(matches!(back, State::Stranded { .. }));
    assert_eq!(a, vec![Action::ReplyError("busy".into())]);
    let (s, a) = step(s, Event::RecoverReady);
    assert_eq!(
        (s.clone(), a),
        (State::Postcopy, vec![Action::ReplyRecovering])
    );
    // Lost again: stranded again, then recovered again.
    let (s, a) = step(s, Event::SourceLost);
    assert!(matches!(s, State::Stranded { .. }));
    assert_eq!(
        a,
        vec![Action::KeepStranded {
            guest_ran: true,
            failed: None
        }]
    );
    let s = step(step(s, Event::Recover).0, Event::RecoverReady).0;
    let (s, a) = step(s, Event::Commit);
    assert_eq!(a, vec![Action::Resume]);
    let (s, a) = step(s, Event::Resumed);
    assert_eq!(s, State::Committed);
    assert_eq!(a, vec![Action::RecordMaster, Action::ReplyCommitted]);
    // Nothing else reopens a stranded copy.
    for ev in events().into_iter().filter(|e| *e != Event::Recover) {
        assert_eq!(step(stranded.clone(), ev), (stranded.clone(), vec![]));
    }
}

#[test]
fn only_a_copy_whose_guest_ran_is_kept_as_running() {
    for ev in [Event::SourceLost, Event::Deadline, Event::Abort("a".into())] {
        let (next, a) = step(State::Postcopy, ev.clone());
        assert!(matches!(next, State::Stranded { .. }));
        assert_eq!(
            a,
            vec![Action::KeepStranded {
                guest_ran: true,
                failed: None
            }]
        );
        // Before the guest ran: its QEMU asked, then kept as not run.
        let (next, a) = step(State::PostcopyStarting, ev);
        assert_eq!(a, vec![Action::InspectSwitch]);
        let (next, a) = step(next, Event::SwitchHeld { failed: false });
        assert!(matches!(next, State::Stranded { .. }));
        assert_eq!(
            a,
            vec![Action::KeepStranded {
                guest_ran: false,
                failed: Some(false)
            }]
        );
    }
}

#[test]
fn a_recover_on_a_new_connection_takes_the_copy_from_the_old_session() {
    // The old session yields: the copy kept, paused and marked, never
    // destroyed.
    let (old, actions) = step(State::Postcopy, Event::Superseded);
    assert!(matches!(old, State::Stranded { .. }), "{old:?}");
    assert_eq!(
        actions,
        vec![Action::KeepStranded {
            guest_ran: true,
            failed: None
        }]
    );
    // The new session takes it from there.
    let (new, actions) = step(old, Event::Recover);
    assert_eq!(
        (new.clone(), actions),
        (State::Recovering, vec![Action::StartRecovery])
    );
    assert_eq!(
        step(new, Event::RecoverReady),
        (State::Postcopy, vec![Action::ReplyRecovering])
    );
    // Before the guest ran here the copy yields too, after its QEMU was
    // asked whether it failed in the switch.
    assert_eq!(
        step(State::PostcopyStarting, Event::Superseded).1,
        vec![Action::InspectSwitch]
    );
    // Before post-copy nothing yields, nothing is destroyed.
    for s in [
        State::Authenticated,
        State::Checked,
        State::Prepared,
        State::Receiving,
        State::Committing,
    ] {
        assert_eq!(step(s.clone(), Event::Superseded), (s, vec![]));
    }
}

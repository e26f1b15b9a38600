//! The source's migration as a state machine, without I/O.
//!
//! [`step`] is the one place that decides what happens next: the driver
//! (`driver.rs`, `live.rs`) turns peer messages, QEMU events, cancel, the
//! client going away and deadlines into [`Event`]s, persists each new
//! state before it carries out the [`Action`]s, and feeds back what the
//! actions produced.
//!
//! The point of no return is entering [`State::CommitSent`] (persisted
//! before `Commit` leaves), or, for a move that switches to post-copy,
//! entering [`State::Postcopy`] (persisted before QEMU is asked to
//! switch). Before it, every failure, deadline or cancel ends in
//! [`State::RolledBack`] with the source running. After `CommitSent`, the
//! source never resumes by itself: only the target's answer (now, or when
//! asked later in [`State::Unconfirmed`]) or the administrator decides.
//! After `Postcopy` the source never resumes at all, not even on the
//! administrator's word: the guest has run on the target, which holds
//! newer state, and the source holds pages the target still needs; its
//! copy is destroyed only once QEMU reported the copy complete.
//!
//! The switch window: a paused post-copy whose target answers that it
//! rolled the move back (its stored outcome: the guest never ran there
//! and its copy is gone) is settled by this host's QEMU
//! ([`State::TargetRolledBack`]): one that never switched (its migration
//! failed before the switch, so it resumes) runs the guest here again
//! ([`State::RolledBack`]); one that switched cannot resume, and
//! [`State::SwitchLost`] ends it: the domain is released, marked with
//! what happened and what to do.

use serde::{Deserialize, Serialize};

/// Where a source migration is. Persisted in the domain's record from
/// [`State::Preparing`] on, except [`State::Switchover`] (the guest is
/// paused then, and a restart treats it as [`State::Copying`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// Phase 1: `Check` sent, waiting for `Checked`.
    Checking,
    /// Checks passed; the domain is claimed and this state persisted.
    Claimed,
    /// `Prepare` sent, waiting for `Prepared`.
    Preparing,
    /// QEMU copies memory (live migrations); the source still runs, or is
    /// paused by QEMU for the last pages.
    Copying,
    /// Post-copy: recorded before QEMU is asked to switch. The guest runs
    /// on the target; the source sends the rest of its memory.
    Postcopy,
    /// The link broke during post-copy: both QEMUs wait (QEMU's
    /// `postcopy-paused`); neither copy holds the whole guest. The source
    /// reconnects to the target and resumes the post-copy (`Recover`).
    PostcopyPaused {
        /// What is known, for `ldm list -l`.
        facts: String,
    },
    /// QEMU completed the post-copy; `Commit` sent, waiting for
    /// `Committed`.
    PostcopyDone,
    /// The target answered that it rolled the move back: its copy is gone
    /// and the guest never ran there. This host's QEMU is asked whether it
    /// switched (not recorded: a restart finds `PostcopyPaused` and asks
    /// the target again).
    TargetRolledBack,
    /// The link broke in the post-copy switch, before the guest ran on
    /// the target, which rolled back (its stored outcome): the guest ran
    /// nowhere since, and this switched QEMU cannot resume it. Over; the
    /// domain is left suspended, `e`, for the administrator to restart.
    SwitchLost {
        /// What is known, for `ldm list -l`.
        facts: String,
    },
    /// QEMU completed: the source is paused, `Commit` not sent yet.
    Switchover,
    /// `Commit` sent (or being sent): the point of no return.
    CommitSent,
    /// The target confirmed; the source copy is destroyed.
    Confirmed,
    /// Nobody knows yet whether the target resumed the domain: the source
    /// stays paused (`e`) while the target is asked.
    Unconfirmed {
        /// What is known, for `ldm list -l`.
        facts: String,
        /// After post-copy: the source never resumes (absent from records
        /// of older releases: false).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        postcopy: bool,
    },
    /// The migration did not happen; the source is the master copy.
    RolledBack {
        /// Why, for the administrator.
        reason: String,
    },
}

/// The outcome the target reports for a migration id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The target resumed the domain: it is the master copy.
    Committed,
    /// The target destroyed its copy.
    RolledBack,
    /// The target does not know (yet), or could not be reached.
    Unknown,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The target's `Checked`, with the local checks folded in.
    Checked {
        /// Whether every check on both hosts passed.
        passed: bool,
    },
    /// The domain was claimed for this migration.
    Claimed,
    /// Claiming failed (the domain changed or is busy).
    ClaimFailed(String),
    /// The target's `Prepared`.
    Prepared {
        /// Whether memory moves (an active domain).
        live: bool,
    },
    /// QEMU reports the source paused for the last pages.
    QemuPaused,
    /// QEMU reports the migration complete (the source is paused).
    QemuCompleted,
    /// The rule says pre-copy has had its chance: switch to post-copy.
    PostcopyDue,
    /// QEMU refused to switch to post-copy (it still runs pre-copy).
    PostcopyRefused(String),
    /// The target runs the guest in post-copy.
    PostcopyRunning,
    /// A step on this host failed (QEMU, the data channels, the database).
    Failed(String),
    /// Ready to send `Commit` (the console tail is collected).
    CommitReady,
    /// The target's `Committed`.
    Committed,
    /// The target answered with an error: it has no copy running.
    TargetRefused(String),
    /// The control connection broke.
    PeerLost(String),
    /// The current state's deadline passed.
    Deadline,
    /// `cancel-operation`, or the client went away.
    Cancel,
    /// The target's answer to a resolution query.
    Resolved(Outcome),
    /// A new connection to the target, whose QEMU listens again for the
    /// post-copy (`Recovering`).
    Recovered,
    /// ldmd shuts down: the driver stops, the stored state is left for
    /// the next start.
    Shutdown,
    /// QEMU's migration went into post-copy (or it does not answer): a
    /// source that switched cannot resume.
    QemuSwitched,
    /// QEMU's migration ended before the switch (`failed`, `cancelled`)
    /// or its guest runs: the guest is whole here.
    QemuNeverSwitched,
    /// ldmd started again and found this migration's stored state, with
    /// the source's QEMU still there; whether QEMU reports its copy
    /// complete (the target may hold everything).
    Restarted {
        /// QEMU's migration status is `completed`.
        qemu_completed: bool,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Claim the domain and persist the migration.
    Claim,
    /// Send `Prepare`.
    SendPrepare,
    /// Open the data channels and start QEMU's `migrate`.
    StartCopy,
    /// Ask QEMU to switch to post-copy, then tell the target (`Postcopy`).
    StartPostcopy,
    /// Show the suspension phase on both hosts.
    ShowSuspended,
    /// Collect what `Commit` carries (then [`Event::CommitReady`]).
    PrepareCommit,
    /// Send `Commit` (the new state is persisted first).
    SendCommit,
    /// Tell the target to destroy its copy.
    SendAbort,
    /// Cancel QEMU's migration (yank if needed) and resume the source.
    StopCopyAndResume,
    /// Resume the paused source.
    Resume,
    /// Destroy the source copy: the target runs the domain.
    DestroySource,
    /// Keep the source paused and mark it `e` with the facts.
    Suspend,
    /// Keep the source paused in post-copy and mark it `e` with the facts.
    SuspendPostcopy,
    /// Ask the target for the outcome (in the background, with backoff).
    Resolve,
    /// Resume the paused post-copy: a new channel to the target, QEMU's
    /// `migrate` with `resume`.
    ResumePostcopy,
    /// Ask QEMU whether it switched to post-copy (then
    /// [`Event::QemuSwitched`] or [`Event::QemuNeverSwitched`]).
    AskQemuSwitched,
    /// Mark the domain `e` with what was lost in the switch and how to
    /// restart it; its QEMU is left as it is (paused).
    MarkSwitchLost,
    /// Stop driving the migration without touching QEMU or the record:
    /// the next start of ldmd goes on from the stored state.
    Leave,
}

impl State {
    /// Whether the migration is over (nothing more happens by itself).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            State::Confirmed | State::RolledBack { .. } | State::SwitchLost { .. }
        )
    }

    /// Whether `Commit` may have left: the source must never resume by
    /// itself.
    pub fn past_point_of_no_return(&self) -> bool {
        matches!(
            self,
            State::CommitSent
                | State::Confirmed
                | State::Unconfirmed { .. }
                | State::SwitchLost { .. }
        ) || self.in_postcopy()
    }

    /// Whether the move went into post-copy: the source never resumes,
    /// neither by itself nor by `cancel-operation`.
    pub fn in_postcopy(&self) -> bool {
        matches!(
            self,
            State::Postcopy
                | State::PostcopyPaused { .. }
                | State::TargetRolledBack
                | State::PostcopyDone
                | State::Unconfirmed { postcopy: true, .. }
        )
    }

    /// Short name for logs and listings.
    pub fn name(&self) -> &'static str {
        match self {
            State::Checking => "checking",
            State::Claimed => "claimed",
            State::Preparing => "preparing",
            State::Copying => "copying",
            State::Postcopy => "postcopy",
            State::PostcopyPaused { .. } => "postcopy-paused",
            State::PostcopyDone => "postcopy-done",
            State::TargetRolledBack => "target-rolled-back",
            State::SwitchLost { .. } => "switch-lost",
            State::Switchover => "switchover",
            State::CommitSent => "commit-sent",
            State::Confirmed => "confirmed",
            State::Unconfirmed { .. } => "unconfirmed",
            State::RolledBack { .. } => "rolled-back",
        }
    }
}

fn back(reason: impl Into<String>, actions: Vec<Action>) -> (State, Vec<Action>) {
    (
        State::RolledBack {
            reason: reason.into(),
        },
        actions,
    )
}

/// Why a migration before the point of no return ends, for the reason.
fn why(ev: &Event, state: &State) -> String {
    match ev {
        Event::Cancel => "migration cancelled".into(),
        Event::Deadline => format!("no answer in time while {}", state.name()),
        Event::PeerLost(m) => format!("lost the connection to the target: {m}"),
        Event::TargetRefused(m) | Event::Failed(m) | Event::ClaimFailed(m) => m.clone(),
        Event::Checked { .. } => "the checks failed".into(),
        other => format!("unexpected {other:?} while {}", state.name()),
    }
}

/// What is known when post-copy stops short, for `ldm list -l`.
fn postcopy_facts(ev: &Event, when: &str) -> String {
    let what = match ev {
        Event::PeerLost(m) => format!("the connection to the target broke {when} ({m})"),
        Event::Deadline => format!("the copy made no headway {when}"),
        Event::Failed(m) | Event::TargetRefused(m) => format!("{m} ({when})"),
        other => format!("{other:?} {when}"),
    };
    format!("{what}; the guest ran on the target and this host holds memory it still needs: this copy never resumes")
}

/// What is known when the target rolled back a post-copy that paused.
pub const SWITCH_LOST_FACTS: &str = "the link to the target broke in the post-copy switch, after this host's QEMU switched and before the guest ran on the target; the target rolled back and holds no copy; QEMU cannot resume a source that switched: the guest's running state is lost";

/// What is known when ldmd restarted during a post-copy.
pub const RESTART_FACTS: &str = "ldmd restarted during the post-copy and its relay to the target went with it; the guest ran on the target and this host holds memory it still needs: this copy never resumes";

/// What is known when ldmd restarted after QEMU sent everything.
const RESTART_COMPLETED_FACTS: &str =
    "ldmd restarted after QEMU sent the last of the post-copy, before the target confirmed";

/// The one transition function of the source.
pub fn step(state: State, ev: Event) -> (State, Vec<Action>) {
    use Action as A;
    use Event as E;
    use State as S;
    match (state, ev) {
        // Over: nothing changes any more.
        (s, _) if s.is_final() => (s, vec![]),
        // ldmd shuts down: what is stored is what the next start finds.
        (s, E::Shutdown) => (s, vec![A::Leave]),
        // ldmd started again during a post-copy. Its relay died with the
        // old process, so QEMU's channel broke: the post-copy waits
        // (QEMU's `postcopy-paused`, or it soon is) and is resumed as
        // after a lost link; the source never resumes. A QEMU that
        // completed sent everything: the target says what became of it.
        (
            S::Postcopy | S::PostcopyPaused { .. } | S::PostcopyDone,
            E::Restarted {
                qemu_completed: false,
            },
        ) => (
            S::PostcopyPaused {
                facts: RESTART_FACTS.into(),
            },
            vec![A::SuspendPostcopy],
        ),
        (
            S::Postcopy | S::PostcopyPaused { .. } | S::PostcopyDone,
            E::Restarted {
                qemu_completed: true,
            },
        ) => (
            S::Unconfirmed {
                facts: format!("{RESTART_COMPLETED_FACTS}; the guest ran on the target: this copy never resumes"),
                postcopy: true,
            },
            vec![A::Suspend, A::Resolve],
        ),
        // Any other stored state is settled at start otherwise
        // (`adopt.rs`): a restart changes nothing here.
        (s, E::Restarted { .. }) => (s, vec![]),

        (S::Checking, E::Checked { passed: true }) => (S::Claimed, vec![A::Claim]),
        (S::Checking, ev @ E::Checked { passed: false }) => {
            back(why(&ev, &S::Checking), vec![A::SendAbort])
        }
        (S::Claimed, E::Claimed) => (S::Preparing, vec![A::SendPrepare]),
        (S::Preparing, E::Prepared { live: true }) => (S::Copying, vec![A::StartCopy]),
        // A cold move has nothing to copy: straight to the hand-off.
        (S::Preparing, E::Prepared { live: false }) => (S::Switchover, vec![A::PrepareCommit]),

        (S::Copying, E::QemuPaused) => (S::Copying, vec![A::ShowSuspended]),
        (S::Copying, E::QemuCompleted) => (S::Switchover, vec![A::PrepareCommit]),
        // The point of no return of a post-copy move: recorded first.
        (S::Copying, E::PostcopyDue) => (S::Postcopy, vec![A::StartPostcopy]),
        (S::Copying, E::PostcopyRunning | E::PostcopyRefused(_)) => (S::Copying, vec![]),

        // QEMU said no: it never switched, the target never ran the guest.
        (S::Postcopy, E::PostcopyRefused(m)) => back(
            format!("QEMU refused to switch to post-copy: {m}"),
            vec![A::StopCopyAndResume, A::SendAbort],
        ),
        (S::Postcopy, E::QemuCompleted) => (S::PostcopyDone, vec![A::SendCommit]),
        (S::Postcopy, ev @ (E::PeerLost(_) | E::Deadline | E::Failed(_) | E::TargetRefused(_))) => {
            let facts = postcopy_facts(&ev, "during post-copy");
            (S::PostcopyPaused { facts }, vec![A::SuspendPostcopy])
        }
        // Cancel is refused; QEMU's pause and the target's news change
        // nothing.
        (s @ S::Postcopy, _) => (s, vec![]),
        // Recovery: the target listens again; QEMU resumes the post-copy
        // (recorded first, so a restart knows it is under way again).
        (S::PostcopyPaused { .. }, E::Recovered) => (S::Postcopy, vec![A::ResumePostcopy]),
        // The target finished with what it had (its QEMU held
        // everything): the source copy goes.
        (S::PostcopyPaused { .. }, E::Resolved(Outcome::Committed)) => {
            (S::Confirmed, vec![A::DestroySource])
        }
        // The target rolled back (its stored outcome): the guest never
        // ran there and its copy is gone. This host's QEMU decides.
        (S::PostcopyPaused { .. }, E::Resolved(Outcome::RolledBack)) => {
            (S::TargetRolledBack, vec![A::AskQemuSwitched])
        }
        // Nothing else moves it: cancel is refused, the source never
        // resumes; the driver keeps reconnecting.
        (s @ S::PostcopyPaused { .. }, _) => (s, vec![]),
        (S::PostcopyDone, E::Committed) => (S::Confirmed, vec![A::DestroySource]),
        (S::PostcopyDone, ev @ (E::PeerLost(_) | E::Deadline | E::TargetRefused(_))) => {
            let facts = postcopy_facts(
                &ev,
                "after post-copy completed, before the target confirmed",
            );
            (
                S::Unconfirmed {
                    facts,
                    postcopy: true,
                },
                vec![A::Suspend, A::Resolve],
            )
        }
        (s @ S::PostcopyDone, _) => (s, vec![]),
        // QEMU's migration failed before the switch (a stalled link
        // holds its migration thread in pre-copy): the guest is whole
        // here and no copy is anywhere else; it runs here again.
        (S::TargetRolledBack, E::QemuNeverSwitched) => back(
            "the link to the target broke before QEMU switched to post-copy, and the target rolled back",
            vec![A::Resume],
        ),
        // Cancel is refused here as in every post-copy state.
        (s @ S::TargetRolledBack, E::Cancel) => (s, vec![]),
        // Switched (or QEMU cannot tell): it never resumes. Nothing is
        // left to wait for: the administrator restarts the domain.
        (S::TargetRolledBack, _) => (
            S::SwitchLost {
                facts: SWITCH_LOST_FACTS.into(),
            },
            vec![A::MarkSwitchLost],
        ),
        (S::Switchover, E::CommitReady) => (S::CommitSent, vec![A::SendCommit]),
        // QEMU's late news about a copy already complete.
        (s @ S::Switchover, E::QemuPaused | E::QemuCompleted) => (s, vec![]),

        // Before the point of no return: roll back, the source runs.
        (s @ (S::Checking | S::Claimed | S::Preparing), ev @ E::PeerLost(_)) => {
            back(why(&ev, &s), vec![])
        }
        (s @ (S::Checking | S::Claimed | S::Preparing), ev) => {
            back(why(&ev, &s), vec![A::SendAbort])
        }
        (s @ (S::Copying | S::Switchover), ev @ (E::PeerLost(_) | E::TargetRefused(_))) => {
            back(why(&ev, &s), vec![A::StopCopyAndResume])
        }
        (s @ (S::Copying | S::Switchover), ev) => {
            back(why(&ev, &s), vec![A::StopCopyAndResume, A::SendAbort])
        }

        // After it: only facts settle the outcome.
        (S::CommitSent, E::Committed) => (S::Confirmed, vec![A::DestroySource]),
        (S::CommitSent, E::TargetRefused(m)) => back(
            format!("{m}; the target destroyed its copy and the domain keeps running here"),
            vec![A::Resume],
        ),
        (S::CommitSent, ev @ (E::PeerLost(_) | E::Deadline)) => {
            let facts = match ev {
                E::PeerLost(m) => format!("the connection to the target broke after the final state was sent, before the target confirmed ({m})"),
                _ => "the target did not confirm in time after the final state was sent".into(),
            };
            (
                S::Unconfirmed {
                    facts,
                    postcopy: false,
                },
                vec![A::Suspend, A::Resolve],
            )
        }
        (s @ S::CommitSent, _) => (s, vec![]),

        // After post-copy only the target's word settles it: `committed`,
        // or `rolled-back` (QEMU completed before the target heard
        // `Postcopy`, and it rolled back), where this host's QEMU decides.
        (S::Unconfirmed { postcopy: true, .. }, E::Resolved(Outcome::Committed)) => {
            (S::Confirmed, vec![A::DestroySource])
        }
        (S::Unconfirmed { postcopy: true, .. }, E::Resolved(Outcome::RolledBack)) => {
            (S::TargetRolledBack, vec![A::AskQemuSwitched])
        }
        (
            s @ S::Unconfirmed { postcopy: true, .. },
            E::Resolved(_) | E::Deadline | E::PeerLost(_),
        ) => (s, vec![A::Resolve]),
        (s @ S::Unconfirmed { postcopy: true, .. }, _) => (s, vec![]),

        (S::Unconfirmed { .. }, E::Resolved(Outcome::Committed)) => {
            (S::Confirmed, vec![A::DestroySource])
        }
        (S::Unconfirmed { .. }, E::Resolved(Outcome::RolledBack)) => back(
            "the target reports it destroyed its copy; the domain keeps running here",
            vec![A::Resume],
        ),
        (S::Unconfirmed { .. }, E::Cancel) => back(
            "resumed by the administrator (cancel-operation)",
            vec![A::Resume],
        ),
        (
            s @ S::Unconfirmed { .. },
            E::Resolved(Outcome::Unknown) | E::Deadline | E::PeerLost(_),
        ) => (s, vec![A::Resolve]),
        (s @ S::Unconfirmed { .. }, _) => (s, vec![]),

        (S::Confirmed | S::RolledBack { .. } | S::SwitchLost { .. }, _) => {
            unreachable!("final states are handled first")
        }
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_postcopy_tests.rs"]
mod postcopy_tests;

//! The target's migration as a state machine, without I/O.
//!
//! The session driver (`target/mod.rs`) turns the source's messages, its
//! silence (a deadline: the source sends `Progress` at least once a
//! second), a lost connection and the results of its own work into
//! [`Event`]s; [`step`] decides. The driver persists the outcome of a
//! migration ([`State::Committed`] or [`State::RolledBack`]) before it
//! answers anything, so a source that lost the answer can ask again.
//!
//! Once `Commit` arrived ([`State::Committing`]) the source is paused for
//! good: the target resumes the domain even if the source goes away.
//!
//! Post-copy: on `Postcopy` ([`State::PostcopyStarting`], its outcome
//! stored first) the target runs the guest as soon as its QEMU is in
//! post-copy and holds the device state ([`State::Postcopy`]; the source
//! then never resumes: it recorded so before it switched).
//! From there the target never destroys its copy: the guest has run here
//! and holds newer state than the source. A source that goes away leaves
//! it [`State::Stranded`]: kept, marked, and finished if its QEMU already
//! holds everything.
//!
//! The switch window: a source lost in [`State::PostcopyStarting`], before
//! the guest ran here, leads to [`State::StartingLost`], where its QEMU is
//! asked what it holds ([`Action::InspectSwitch`]). Only a QEMU whose
//! migration `failed` with its run state still `inmigrate`
//! ([`Event::SwitchFailed`]: the guest provably never ran here, and this
//! QEMU never can) has its copy destroyed, the outcome `rolled-back`;
//! anything else is kept as above (docs/protocol.md, "The switch window").
//!
//! Recovery (protocol 5): a source that reconnects with `Recover` finds
//! the stranded copy again ([`Event::Recover`]): its QEMU listens for a
//! new channel ([`State::Recovering`]), and once it does the session goes
//! on as a post-copy. Nothing on this path destroys the copy either.

use serde::{Deserialize, Serialize};

/// Where a target migration is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// The source authenticated; nothing exists here yet.
    Authenticated,
    /// `Check` answered.
    Checked,
    /// The domain exists here bound (a live one with an incoming QEMU
    /// waiting); `Prepared` answered.
    Prepared,
    /// The source reports its copy under way (`Progress`).
    Receiving,
    /// `Postcopy` received: the incoming QEMU loads the device state; the
    /// guest runs nowhere yet (listings keep the copy `bound`).
    PostcopyStarting,
    /// The source was lost in `PostcopyStarting`, before the guest ran
    /// here: its QEMU is asked whether it failed in the switch (not
    /// recorded: a restart finds `PostcopyStarting` and keeps the copy).
    StartingLost {
        /// Why.
        reason: String,
    },
    /// The guest runs here while the rest of its memory arrives.
    Postcopy,
    /// `Commit` received: resuming the domain.
    Committing,
    /// The domain runs here: this host has the master copy.
    Committed,
    /// The target copy is destroyed (or was never made).
    RolledBack {
        /// Why.
        reason: String,
    },
    /// Post-copy stopped short (the source went away): the copy is kept,
    /// never destroyed; finished here if its QEMU holds everything, else
    /// marked for the administrator until the source recovers it.
    Stranded {
        /// Why.
        reason: String,
    },
    /// `Recover` for a stranded copy: its QEMU is being told to listen
    /// again (not recorded: a restart finds the copy stranded).
    Recovering,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `Check` arrived.
    Check,
    /// `Prepare` arrived.
    Prepare,
    /// The domain and its incoming QEMU are ready.
    PrepareDone,
    /// Preparing failed.
    PrepareFailed(String),
    /// `Progress` arrived (also the heartbeat).
    Progress,
    /// `Commit` arrived.
    Commit,
    /// `Postcopy` arrived.
    Postcopy,
    /// The incoming QEMU is in post-copy and the guest runs.
    PostcopyRunning,
    /// The incoming QEMU did not get into post-copy in time.
    PostcopyFailed(String),
    /// The domain runs here.
    Resumed,
    /// It could not be resumed.
    ResumeFailed(String),
    /// `Abort` arrived.
    Abort(String),
    /// A message out of turn.
    Unexpected(String),
    /// The connection broke or closed.
    SourceLost,
    /// The source fell silent past the state's deadline.
    Deadline,
    /// `Recover` arrived for this stranded post-copy (a new connection).
    Recover,
    /// The incoming QEMU listens again for the post-copy.
    RecoverReady,
    /// It could not (its QEMU not paused, the copy held, …).
    RecoverFailed(String),
    /// The source reconnected with an authenticated `Recover` for this
    /// migration on another connection: this session's link is dead, and
    /// it yields the copy to the new one.
    Superseded,
    /// The incoming QEMU failed the migration with its run state still
    /// `inmigrate`: the guest never ran here and this QEMU never can.
    SwitchFailed,
    /// Anything else the incoming QEMU says (or no answer): the guest
    /// may run here; the copy is kept. `failed`: its migration `failed`
    /// all the same (it cannot recover).
    SwitchHeld {
        /// What the inspection read: the migration status `failed`.
        failed: bool,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the checks and answer `Checked`.
    ReplyChecked,
    /// Create the domain bound and its incoming QEMU (then
    /// [`Event::PrepareDone`] or [`Event::PrepareFailed`]).
    Prepare,
    /// Answer `Prepared`.
    ReplyPrepared,
    /// Show the source's progress in `ldm list -o status`.
    ShowProgress,
    /// Wait for the incoming QEMU to hold everything and resume it (then
    /// [`Event::Resumed`] or [`Event::ResumeFailed`]).
    Resume,
    /// Record the domain as this host's (active, no migration).
    RecordMaster,
    /// Answer `Committed`.
    ReplyCommitted,
    /// Wait for the incoming QEMU to be in post-copy, then run the guest
    /// (then [`Event::PostcopyRunning`] or [`Event::PostcopyFailed`]).
    RunPostcopy,
    /// Answer `PostcopyRunning`.
    ReplyPostcopyRunning,
    /// Keep the copy of a post-copy the source left: finish it if its
    /// QEMU holds everything, else mark it for the administrator.
    KeepStranded {
        /// Whether the guest ran here: not from `PostcopyStarting`, whose
        /// QEMU cannot recover if it failed to load the device state
        /// (docs/protocol.md, "The switch window").
        guest_ran: bool,
        /// Whether its QEMU's migration `failed`, as [`Action::InspectSwitch`]
        /// just read it (QEMU already paused): not asked again. None: not
        /// inspected; a copy whose guest did not run is paused and asked.
        failed: Option<bool>,
    },
    /// Pause the incoming QEMU's post-copy and ask it whether it failed
    /// before the guest ran here (then [`Event::SwitchFailed`] or
    /// [`Event::SwitchHeld`]).
    InspectSwitch,
    /// Destroy the target copy.
    Destroy,
    /// Answer `Aborted`.
    ReplyAborted,
    /// Answer with an error.
    ReplyError(String),
    /// Hold the stranded copy again, have its QEMU listen for a new
    /// channel (`migrate-recover`) behind a new data listener (then
    /// [`Event::RecoverReady`] or [`Event::RecoverFailed`]).
    StartRecovery,
    /// Answer `Recovering` with the new endpoint.
    ReplyRecovering,
}

impl State {
    /// Whether the session is over.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            State::Committed | State::RolledBack { .. } | State::Stranded { .. }
        )
    }

    /// Whether a domain copy exists here for this migration.
    pub fn has_copy(&self) -> bool {
        matches!(
            self,
            State::Prepared
                | State::Receiving
                | State::PostcopyStarting
                | State::StartingLost { .. }
                | State::Postcopy
                | State::Committing
                | State::Committed
                | State::Stranded { .. }
                | State::Recovering
        )
    }

    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            State::Authenticated => "authenticated",
            State::Checked => "checked",
            State::Prepared => "prepared",
            State::Receiving => "receiving",
            State::PostcopyStarting => "postcopy-starting",
            State::StartingLost { .. } => "starting-lost",
            State::Postcopy => "postcopy",
            State::Stranded { .. } => "stranded",
            State::Recovering => "recovering",
            State::Committing => "committing",
            State::Committed => "committed",
            State::RolledBack { .. } => "rolled-back",
        }
    }
}

/// The one transition function of the target.
pub fn step(state: State, ev: Event) -> (State, Vec<Action>) {
    use Action as A;
    use Event as E;
    use State as S;
    let back = |reason: String, actions: Vec<Action>| (S::RolledBack { reason }, actions);
    match (state, ev) {
        // The one way out of a final state: a stranded post-copy resumed.
        (S::Stranded { .. }, E::Recover) => (S::Recovering, vec![A::StartRecovery]),
        (s, _) if s.is_final() => (s, vec![]),
        // The source recovers the post-copy on a new connection: this
        // session keeps the copy (paused; before the guest ran here, first
        // asked whether its QEMU failed in the switch) and lets it go at
        // once; the new session decides what can be recovered.
        (S::PostcopyStarting, E::Superseded) => (
            S::StartingLost {
                reason: "the source reconnected on a new connection".into(),
            },
            vec![A::InspectSwitch],
        ),
        (S::StartingLost { reason }, E::Superseded) => (
            S::Stranded { reason },
            vec![A::KeepStranded {
                guest_ran: false,
                failed: None,
            }],
        ),
        (S::Postcopy | S::Recovering, E::Superseded) => (
            S::Stranded {
                reason: "the source reconnected on a new connection".into(),
            },
            vec![A::KeepStranded {
                guest_ran: true,
                failed: None,
            }],
        ),
        // Only a post-copy yields: no copy here is given up for it.
        (s, E::Superseded) => (s, vec![]),

        (S::Authenticated | S::Checked, E::Check) => (S::Checked, vec![A::ReplyChecked]),
        // Preparing runs within the state; its result moves it.
        (s @ (S::Authenticated | S::Checked), E::Prepare) => (s, vec![A::Prepare]),
        (S::Authenticated | S::Checked, E::PrepareDone) => (S::Prepared, vec![A::ReplyPrepared]),
        (S::Authenticated | S::Checked, E::PrepareFailed(m)) => {
            back(m.clone(), vec![A::Destroy, A::ReplyError(m)])
        }
        (S::Authenticated | S::Checked, E::Abort(r)) => back(r, vec![A::ReplyAborted]),
        (S::Authenticated | S::Checked, E::SourceLost) => {
            back("the source went away".into(), vec![])
        }
        (S::Authenticated | S::Checked, E::Deadline) => {
            back("the source fell silent".into(), vec![])
        }
        (S::Authenticated | S::Checked, E::Unexpected(m)) => {
            back(m.clone(), vec![A::ReplyError(m)])
        }
        (S::Authenticated | S::Checked, e) => back(
            format!("{e:?} out of turn"),
            vec![A::ReplyError(format!("{e:?} out of turn"))],
        ),

        (S::Prepared | S::Receiving, E::Progress) => (S::Receiving, vec![A::ShowProgress]),
        (S::Prepared | S::Receiving, E::Commit) => (S::Committing, vec![A::Resume]),
        (S::Prepared | S::Receiving, E::Postcopy) => (S::PostcopyStarting, vec![A::RunPostcopy]),
        (S::Prepared | S::Receiving, E::Abort(r)) => back(r, vec![A::Destroy, A::ReplyAborted]),
        (S::Prepared | S::Receiving, E::SourceLost) => back(
            "the source went away before the hand-off".into(),
            vec![A::Destroy],
        ),
        (S::Prepared | S::Receiving, E::Deadline) => back(
            "the source fell silent before the hand-off".into(),
            vec![A::Destroy],
        ),
        (S::Prepared | S::Receiving, E::Unexpected(m)) => {
            back(m.clone(), vec![A::Destroy, A::ReplyError(m)])
        }
        (S::Prepared | S::Receiving, e) => {
            let m = format!("{e:?} out of turn");
            back(m.clone(), vec![A::Destroy, A::ReplyError(m)])
        }

        // Post-copy: the copy is never destroyed once the guest may have
        // run here (the source cannot resume once it switched, even before
        // the guest runs here). The one exception is a QEMU that failed in
        // the switch, before the guest ran (`StartingLost`, below).
        (S::PostcopyStarting | S::Postcopy, E::PostcopyRunning) => {
            (S::Postcopy, vec![A::ReplyPostcopyRunning])
        }
        (s @ (S::PostcopyStarting | S::Postcopy), E::PostcopyFailed(m)) => {
            (s, vec![A::ReplyError(m)])
        }
        (s @ (S::PostcopyStarting | S::Postcopy), E::Progress) => (s, vec![A::ShowProgress]),
        // Stays in post-copy (never Committing, whose failure destroys).
        (s @ (S::PostcopyStarting | S::Postcopy), E::Commit) => (s, vec![A::Resume]),
        (S::PostcopyStarting | S::Postcopy, E::Resumed) => {
            (S::Committed, vec![A::RecordMaster, A::ReplyCommitted])
        }
        (s @ (S::PostcopyStarting | S::Postcopy), E::ResumeFailed(m)) => (
            S::Stranded {
                reason: format!("the target could not finish the post-copy: {m}"),
            },
            vec![
                A::KeepStranded {
                    guest_ran: s == S::Postcopy,
                    failed: None,
                },
                A::ReplyError(format!("the target could not finish the post-copy: {m}")),
            ],
        ),
        // Lost before the guest ran here: what its QEMU says decides.
        (S::PostcopyStarting, ev) => (
            S::StartingLost {
                reason: format!("post-copy stopped short: {ev:?}"),
            },
            vec![A::InspectSwitch],
        ),
        (S::Postcopy, ev) => (
            S::Stranded {
                reason: format!("post-copy stopped short: {ev:?}"),
            },
            vec![A::KeepStranded {
                guest_ran: true,
                failed: None,
            }],
        ),

        // Its QEMU failed the migration still `inmigrate`: the guest never
        // ran here and never can; the copy holds nothing of value.
        (S::StartingLost { reason }, E::SwitchFailed) => back(
            format!("{reason}; this host's QEMU failed in the post-copy switch, before the guest ran here"),
            vec![A::Destroy],
        ),
        // Anything else it says: kept, with what it said.
        (S::StartingLost { reason }, E::SwitchHeld { failed }) => (
            S::Stranded { reason },
            vec![A::KeepStranded {
                guest_ran: false,
                failed: Some(failed),
            }],
        ),
        // An event the inspection cannot produce: kept.
        (S::StartingLost { reason }, _) => (
            S::Stranded { reason },
            vec![A::KeepStranded {
                guest_ran: false,
                failed: None,
            }],
        ),

        (S::Committing, E::Resumed) => (S::Committed, vec![A::RecordMaster, A::ReplyCommitted]),
        (S::Committing, E::ResumeFailed(m)) => back(
            format!("the target could not resume the domain: {m}"),
            vec![
                A::Destroy,
                A::ReplyError(format!("the target could not resume the domain: {m}")),
            ],
        ),
        // The source sent Commit and stays paused: finish regardless.
        (s @ S::Committing, _) => (s, vec![]),

        (S::Recovering, E::RecoverReady) => (S::Postcopy, vec![A::ReplyRecovering]),
        // Nothing was started: the copy stays as it was.
        (S::Recovering, E::RecoverFailed(m)) => {
            (S::Stranded { reason: m.clone() }, vec![A::ReplyError(m)])
        }
        (S::Recovering, ev) => (
            S::Stranded {
                reason: format!("recovery stopped short: {ev:?}"),
            },
            vec![A::KeepStranded {
                guest_ran: true,
                failed: None,
            }],
        ),

        (S::Committed | S::RolledBack { .. } | S::Stranded { .. }, _) => {
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

//! Drives the source machine: turns the target's messages, QEMU's events
//! (`live.rs`), cancel, the client going away and deadlines into
//! [`Event`]s, persists each new state before it acts (so `CommitSent` is
//! stored before `Commit` leaves), and carries out the [`Action`]s.

use super::claim;
use super::machine::{step, Action, Event, State};
use super::run::Run;
use crate::error::Result;
use crate::migration::connect::Peer;
use crate::migration::deadline::Wait;
use crate::migration::protocol::{DomainOffer, ResumeSteps, ToSource, ToTarget};
use crate::migration::tunnel::Endpoint;
use ldm_api::migration::Phase;
use ldm_api::Reply;
use ldm_qemu::MigrationTuning;
use std::time::{Duration, Instant};
use tokio::sync::watch;

mod finish;
pub(super) use finish::switch_lost_note;

/// One source migration from the checks on.
pub(super) struct Driver<'a> {
    pub(super) run: Run<'a>,
    /// The connection to the target (none yet for a post-copy resumed
    /// after a restart, until it reconnects).
    pub(super) peer: Option<Peer>,
    pub(super) offer: DomainOffer,
    started_at: Option<u64>,
    pub(super) tuning: MigrationTuning,
    live: bool,
    /// Where the target's data listener waits (from `Prepared`).
    pub(super) endpoint: Option<Endpoint>,
    /// QEMU's side of the copy (`live.rs`).
    pub(super) copy: super::live::Copy,
    console_tail: String,
    commit_sent: Option<Instant>,
    /// When `Committed` arrived, and the target's steps it reported.
    committed_at: Option<Instant>,
    resumed_after_ms: u64,
    steps: Option<ResumeSteps>,
    cancelled: bool,
    /// Set when the target must be asked for the outcome.
    resolve: bool,
    /// Holds the domain from the claim to the end.
    pub(super) claim: Option<crate::daemon::ClaimGuard>,
    /// A storage copy's bytes and time to sync, ms.
    pub(super) storage: Option<(u64, u64)>,
    /// Attempts to resume the paused post-copy so far (`recover.rs`).
    pub(super) recover_attempts: u32,
    /// Taken up again by a restarted ldmd (`restart.rs`): no client, and
    /// no figures of the whole move.
    pub(super) restarted: bool,
    /// Set by [`Action::Leave`]: the driver stops, the state stays stored.
    left: bool,
}

impl<'a> Driver<'a> {
    pub(super) fn new(
        run: Run<'a>,
        peer: Option<Peer>,
        offer: DomainOffer,
        started_at: Option<u64>,
        tuning: MigrationTuning,
        live: bool,
    ) -> Self {
        Driver {
            run,
            peer,
            offer,
            started_at,
            tuning,
            live,
            endpoint: None,
            copy: Default::default(),
            console_tail: String::new(),
            commit_sent: None,
            committed_at: None,
            resumed_after_ms: 0,
            steps: None,
            cancelled: false,
            resolve: false,
            claim: None,
            storage: None,
            recover_attempts: 0,
            restarted: false,
            left: false,
        }
    }

    /// Runs the machine from `first` until it ends or waits for the
    /// target's answer in the background.
    pub(super) async fn drive(self, first: Event) -> Result<Reply> {
        self.drive_from(State::Checking, first).await
    }

    /// Runs the machine from the stored `state` on `first`.
    pub(super) async fn drive_from(mut self, state: State, first: Event) -> Result<Reply> {
        let mut state = state;
        let mut ev = first;
        loop {
            self.cancelled |= ev == Event::Cancel && !state.past_point_of_no_return();
            let (next, actions) = step(state.clone(), ev);
            if next != state {
                if let Err(e) = self.enter(&next).await {
                    if next == State::CommitSent || next == State::Postcopy {
                        // Never send Commit, nor switch to post-copy,
                        // unrecorded: a restart would take the paused
                        // source for a failed migration and resume it.
                        ev = Event::Failed(format!("cannot record the hand-off: {e}"));
                        continue;
                    }
                    tracing::error!(domain = %self.run.m.name, state = next.name(), "cannot record the migration's state: {e}");
                }
            }
            state = next;
            let mut follow = None;
            for a in actions {
                if let Some(e) = self.act(a, &state).await {
                    follow = Some(e);
                }
            }
            ev = match follow {
                Some(e) => e,
                // A paused post-copy waits for the target (`recover.rs`):
                // the command ends when the move does.
                None if state.is_final()
                    || self.left
                    || matches!(state, State::Unconfirmed { .. }) =>
                {
                    break
                }
                None => self.wait(&state).await,
            };
        }
        self.finish(state).await
    }

    /// Records and shows a new state.
    async fn enter(&mut self, next: &State) -> Result<()> {
        tracing::info!(domain = %self.run.m.name, migration = %self.run.id, state = next.name(), "source migration state");
        match next {
            // Switchover needs no record: a restart treats it as Copying
            // (before the point of no return), and the guest is paused.
            // TargetRolledBack lasts one question to QEMU: a restart finds
            // PostcopyPaused and asks the target again.
            State::Checking | State::Claimed | State::Switchover | State::TargetRolledBack => {
                Ok(())
            }
            _ => self.run.persist(next).await,
        }
    }

    async fn act(&mut self, a: Action, state: &State) -> Option<Event> {
        match a {
            Action::Claim => Some(self.claim().await),
            Action::SendPrepare => self.send_prepare().await,
            Action::StartCopy => match self.start_copy().await {
                Ok(()) => {
                    crate::testhook::hold("source-copying").await;
                    None
                }
                Err(_) if self.run.cancelled() => Some(Event::Cancel),
                Err(e) => Some(Event::Failed(e.to_string())),
            },
            Action::StartPostcopy => self.start_postcopy().await,
            Action::SuspendPostcopy => {
                let facts = match state {
                    State::PostcopyPaused { facts } => facts.clone(),
                    other => other.name().to_string(),
                };
                tracing::error!(domain = %self.run.m.name, "post-copy interrupted: {facts}");
                self.pause_postcopy().await;
                // What broke; the rest of the facts is the note's own.
                self.note_paused(facts.split(';').next().unwrap_or_default())
                    .await;
                None
            }
            Action::ResumePostcopy => self.resume_postcopy().await,
            Action::AskQemuSwitched => Some(switched_event(self.qemu_switched().await)),
            Action::MarkSwitchLost => {
                let note = self.switch_lost_note();
                tracing::error!(domain = %self.run.m.name, "{note}");
                if let Err(e) = self.run.mark_error(&note, true).await {
                    tracing::error!(domain = %self.run.m.name, "cannot record the post-copy lost in the switch: {e}");
                }
                None
            }
            Action::ShowSuspended => {
                self.run.show_phase(Phase::Suspend);
                self.heartbeat(Phase::Suspend).await.err()
            }
            Action::PrepareCommit => {
                if !self.live && self.offer.copy_storage && !self.offer.spec.disks.is_empty() {
                    if let Err(ev) = self.cold_copy().await {
                        return Some(ev);
                    }
                }
                crate::testhook::hold("source-switchover").await;
                // The last moment a cancel is honoured: Commit not sent.
                if self.run.cancelled() {
                    return Some(Event::Cancel);
                }
                self.console_tail = self.console_tail().await;
                self.run.show_phase(Phase::Handoff);
                Some(Event::CommitReady)
            }
            Action::SendCommit => {
                self.run.info("Phase 5: handing over".into());
                let msg = ToTarget::Commit {
                    console_tail: std::mem::take(&mut self.console_tail),
                };
                // A failed send is not a rollback: the target may have the
                // message. Waiting for Committed settles it.
                let _ = self.send(&msg).await;
                self.commit_sent = Some(Instant::now());
                crate::testhook::hold("source-commit-sent").await;
                None
            }
            Action::SendAbort => {
                let reason = match state {
                    State::RolledBack { reason } => reason.clone(),
                    other => other.name().to_string(),
                };
                if let Some(peer) = self.peer.as_mut() {
                    send_abort(peer, &reason).await;
                }
                None
            }
            Action::StopCopyAndResume => {
                self.stop_copy_and_resume().await;
                None
            }
            Action::Resume => {
                if let Err(e) = self.run.resume().await {
                    let note = format!(
                        "The target has no copy of this domain, but resuming it here failed ({e}): resume it with `ldm cancel-operation migration {}`",
                        self.run.m.name
                    );
                    tracing::error!(domain = %self.run.m.name, "{note}");
                    let _ = self.run.mark_error(&note, true).await;
                }
                None
            }
            Action::DestroySource => {
                self.run.destroy_source().await;
                None
            }
            Action::Suspend => {
                let (facts, postcopy) = match state {
                    State::Unconfirmed { facts, postcopy } => (facts.clone(), *postcopy),
                    other => (other.name().to_string(), false),
                };
                let note = if postcopy {
                    self.postcopy_note(&facts)
                } else {
                    self.unconfirmed_note(&facts)
                };
                tracing::error!(domain = %self.run.m.name, "hand-off unconfirmed: domain left paused in error state");
                // A cold move's domain is not running: only the mark says.
                if let Err(e) = self.run.mark_error(&note, self.live).await {
                    tracing::error!(domain = %self.run.m.name, "cannot record the unconfirmed hand-off: {e}");
                }
                None
            }
            // Asked in the background once this command returns.
            Action::Resolve => {
                self.resolve = true;
                None
            }
            Action::Leave => {
                tracing::info!(domain = %self.run.m.name, state = state.name(), "ldmd shuts down: the migration goes on from its stored state at the next start");
                self.left = true;
                None
            }
        }
    }

    async fn claim(&mut self) -> Event {
        match claim(&self.run, self.offer.state) {
            Ok((rx, guard)) => {
                self.run.cancel = rx;
                self.claim = Some(guard);
            }
            Err(e) => return Event::ClaimFailed(e.to_string()),
        }
        // Now that the domain is claimed, clear what an earlier migration
        // may have left in QEMU (the checks only looked).
        if let Some((qmp, socket)) = self.qemu_handle().await {
            let name = &self.run.m.name;
            if let Some(failure) = super::leftover::check_released(name, &qmp, &socket, true).await
            {
                return Event::ClaimFailed(failure);
            }
        }
        Event::Claimed
    }

    async fn send_prepare(&mut self) -> Option<Event> {
        let t = &self.tuning;
        self.run.info(if self.live {
            format!(
                "Phase 2: preparing {} on the target ({} channels, downtime target {} ms{})",
                self.offer.spec.name,
                t.multifd_channels,
                t.downtime_limit_ms,
                if t.max_bandwidth_bytes > 0 {
                    format!(", {} MiB/s cap", t.max_bandwidth_bytes >> 20)
                } else {
                    String::new()
                }
            )
        } else {
            format!("Phase 2: creating {} on the target", self.offer.spec.name)
        });
        let msg = ToTarget::Prepare {
            offer: self.offer.clone(),
            started_at: if self.live { self.started_at } else { None },
            tuning: if self.live {
                self.tuning.clone()
            } else {
                MigrationTuning::default()
            },
            id: self.run.id.clone(),
        };
        self.send(&msg).await.err()
    }

    /// Waits for what `state` waits for.
    async fn wait(&mut self, state: &State) -> Event {
        match state {
            State::Preparing => match self.recv(Wait::Prepare, true).await {
                Ok(Some(ToSource::Prepared { data, secret })) => {
                    crate::testhook::hold("source-prepared").await;
                    if let Err(e) = self.run.store_secret(secret).await {
                        return Event::Failed(format!("cannot record the migration: {e}"));
                    }
                    if self.live && data.is_none() {
                        return Event::Failed("the target prepared no data channel".into());
                    }
                    if self.offer.copy_storage
                        && data.as_ref().is_none_or(|e| e.nbd_token.is_none())
                    {
                        return Event::Failed("the target prepared no disk channel: it cannot take a storage migration (upgrade ldm there)".into());
                    }
                    self.endpoint = data;
                    Event::Prepared { live: self.live }
                }
                Ok(other) => answer(other),
                Err(ev) => ev,
            },
            State::Copying | State::Postcopy => self.follow_copy().await,
            State::PostcopyPaused { .. } => self.recover().await,
            State::TargetRolledBack => switched_event(self.qemu_switched().await),
            State::CommitSent | State::PostcopyDone => loop {
                match self.recv(Wait::Handoff, false).await {
                    Ok(Some(ToSource::Committed {
                        resumed_after_ms,
                        steps,
                    })) => {
                        self.committed_at = Some(Instant::now());
                        self.resumed_after_ms = resumed_after_ms;
                        self.steps = steps;
                        break Event::Committed;
                    }
                    // A short post-copy can complete in QEMU before the
                    // target's report that it runs the guest is read: it
                    // is sent before `Committed`, once, and says nothing new.
                    Ok(Some(ToSource::PostcopyRunning { resumed_after_ms }))
                        if matches!(state, State::PostcopyDone) =>
                    {
                        tracing::info!(domain = %self.run.m.name, resumed_after_ms, "the target runs the guest in post-copy");
                    }
                    Ok(other) => break answer(other),
                    Err(ev) => break ev,
                }
            },
            other => Event::Failed(format!("nothing to wait for while {}", other.name())),
        }
    }

    /// Sends one message within its deadline.
    pub(super) async fn send(&mut self, msg: &ToTarget) -> std::result::Result<(), Event> {
        let Some(peer) = self.peer.as_mut() else {
            return Err(Event::PeerLost("no connection to the target".into()));
        };
        match tokio::time::timeout(Wait::PeerSend.get(), peer.ch.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Event::PeerLost(e.to_string())),
            Err(_) => Err(Event::PeerLost("the target stopped reading".into())),
        }
    }

    /// The target's next message within `wait`'s deadline; with
    /// `cancellable`, cancel ends the wait.
    async fn recv(
        &mut self,
        wait: Wait,
        cancellable: bool,
    ) -> std::result::Result<Option<ToSource>, Event> {
        let run = &self.run;
        let Some(peer) = self.peer.as_mut() else {
            return Err(Event::PeerLost("no connection to the target".into()));
        };
        let ch = &mut peer.ch;
        tokio::select! {
            r = tokio::time::timeout(wait.get(), ch.recv::<ToSource>()) => match r {
                Ok(Ok(m)) => Ok(m),
                Ok(Err(e)) => Err(Event::PeerLost(e.to_string())),
                Err(_) => Err(Event::Deadline),
            },
            _ = cancel_requested(run), if cancellable => Err(Event::Cancel),
        }
    }

    /// The last console output, so the target's replay continues it.
    pub(super) async fn console_tail(&self) -> String {
        let t = self.run.d.table();
        t.get(&self.run.m.name)
            .and_then(|dom| dom.rt.as_ref())
            .map(|rt| String::from_utf8_lossy(&rt.console.dump()).into_owned())
            .unwrap_or_default()
    }
}

/// The event for an answer that is not the one awaited. Only an explicit
/// error says the target has no copy; anything else is a broken exchange.
fn answer(m: Option<ToSource>) -> Event {
    match m {
        Some(ToSource::Error { message }) => Event::TargetRefused(message),
        None => Event::PeerLost("the target closed the connection".into()),
        Some(other) => Event::PeerLost(format!("the target answered out of turn: {other:?}")),
    }
}

/// Tells the target to destroy its copy and waits a little for it to
/// say so; a target that does not answer rolls back by itself when the
/// source falls silent.
pub(super) async fn send_abort(peer: &mut Peer, reason: &str) {
    let msg = ToTarget::Abort {
        reason: reason.to_string(),
    };
    let exchange = async {
        peer.ch.send(&msg).await.ok()?;
        peer.ch.recv::<ToSource>().await.ok()
    };
    let _ = tokio::time::timeout(Wait::PeerSend.get(), exchange).await;
}

/// Returns once `cancel-operation` asked or the client went away.
pub(super) async fn cancel_requested(run: &Run<'_>) {
    while !run.cancelled() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns once the client went away.
pub(super) async fn client_gone(gone: &mut watch::Receiver<bool>) {
    while !*gone.borrow() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The event of QEMU's answer whether it switched to post-copy (`None`:
/// ldmd shuts down before it is known).
fn switched_event(switched: Option<bool>) -> Event {
    match switched {
        Some(true) => Event::QemuSwitched,
        Some(false) => Event::QemuNeverSwitched,
        None => Event::Shutdown,
    }
}

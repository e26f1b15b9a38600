//! The target side of a migration: one session per authenticated source,
//! driven by the machine in `machine.rs`. It creates the domain bound
//! (phase 2), starts an incoming QEMU that stays paused (`copy.rs`), and
//! resumes it only on the source's `Commit` (phase 5). Any end of the
//! session before `Commit` (an `Abort`, a lost connection, the source
//! silent past [`Wait::SourceSilence`]) destroys the target copy. In
//! post-copy the copy is kept (`postcopy.rs`), unless its QEMU failed in
//! the switch, before the guest ran here (`machine.rs`,
//! `State::StartingLost`).
//!
//! `mod.rs` holds the session, its loop over the machine, the record of
//! each state and the replies; `receive.rs` turns the source's messages
//! into events; `actions.rs` carries out the machine's actions.

mod actions;
mod backends;
mod copy;
pub mod machine;
pub mod outcome;
mod postcopy;
mod receive;
mod recover;
pub mod restart;

pub use copy::rollback;
pub use postcopy::LOST_IN_SWITCH;
pub use recover::recover;

use super::deadline::Wait;
use super::protocol::{DomainOffer, ResumeSteps, ToSource};
use crate::daemon::Daemon;
use crate::record::MachineState;
use copy::Created;
use ldm_api::migration::Phase;
use ldm_peer::Framed;
use ldm_qemu::MigrationTuning;
use machine::{step, Event, State};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// What the last message carried, for the action that uses it.
#[derive(Default)]
struct Inbox {
    offer: Option<DomainOffer>,
    prepare: Option<(DomainOffer, Option<u64>, MigrationTuning, String)>,
    progress: Option<(Phase, u8)>,
    console_tail: String,
}

struct Session<S> {
    d: Arc<Daemon>,
    ch: Framed<S>,
    source: String,
    local_ip: IpAddr,
    inbox: Inbox,
    created: Option<Created>,
    /// The migration's id and the secret handed to the source.
    id: String,
    secret: String,
    prepared: Option<ToSource>,
    resumed_after_ms: u64,
    /// When `Commit` arrived, and the steps from there to the guest
    /// running.
    commit_at: Option<Instant>,
    steps: ResumeSteps,
    /// Set when the source can no longer be answered.
    closed: bool,
    /// A dry run's throughput probe, counted.
    probe: super::probe::Counter,
    /// When `Postcopy` arrived (a move that switched to post-copy).
    postcopy_at: Option<Instant>,
    /// A recovered post-copy: the domain's name and the answer
    /// `Recovering` once its QEMU listens again (`recover.rs`).
    recovering: Option<(String, Option<ToSource>)>,
}

/// Serves one source after authentication.
pub async fn session<S>(d: Arc<Daemon>, ch: Framed<S>, source: String, local_ip: IpAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut s = Session {
        d,
        ch,
        source,
        local_ip,
        inbox: Inbox::default(),
        created: None,
        id: String::new(),
        secret: String::new(),
        prepared: None,
        resumed_after_ms: 0,
        commit_at: None,
        steps: ResumeSteps::default(),
        closed: false,
        probe: Default::default(),
        postcopy_at: None,
        recovering: None,
    };
    s.drive(State::Authenticated, None).await;
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn drive(&mut self, first: State, mut pending: Option<Event>) {
        let mut state = first;
        loop {
            let ev = match pending.take() {
                Some(e) => e,
                None if state.is_final() => break,
                None => self.next_event(&state).await,
            };
            let (next, actions) = step(state.clone(), ev);
            if next != state {
                self.enter(&next).await;
            }
            state = next;
            for a in actions {
                if let Some(e) = self.act(a).await {
                    pending = Some(e);
                }
            }
        }
        if let State::RolledBack { reason } = &state {
            tracing::info!(source = %self.source, migration = %self.id, %reason, "target session ended without the domain");
        }
    }

    /// Records a new state: the outcome first (before the source is
    /// answered), then the copy's mark while a copy exists.
    async fn enter(&mut self, next: &State) {
        tracing::info!(source = %self.source, migration = %self.id, state = next.name(), "target migration state");
        let stored = match next {
            State::Committing => Some(outcome::COMMITTING),
            State::PostcopyStarting => Some(outcome::POSTCOPY),
            State::Committed => Some(outcome::COMMITTED),
            State::RolledBack { .. } => Some(outcome::ROLLED_BACK),
            _ => None,
        };
        if let (Some(o), false) = (stored, self.id.is_empty()) {
            let domain = self.domain_name();
            if let Err(e) = outcome::record(&self.d, &self.id, &domain, &self.secret, o) {
                tracing::error!(migration = %self.id, "cannot record the migration's outcome: {e}");
            }
        }
        let Some(c) = &self.created else { return };
        // Committing is on record in the outcome alone (which a restart
        // reads): one write fewer while the guest is paused.
        if !matches!(
            next,
            State::Prepared | State::Receiving | State::PostcopyStarting | State::Postcopy
        ) {
            return;
        }
        let mut t = self.d.table();
        if let Some(dom) = t.get_mut(&c.name) {
            let mut rec = dom.rec.clone();
            if let Some(mark) = rec.migration.as_mut() {
                mark.state = Some(MachineState::Target(next.clone()));
            }
            if let Err(e) = crate::daemon::commit(&self.d.db, dom, rec) {
                tracing::error!(domain = %c.name, "cannot record the migration's state: {e}");
            }
        }
    }

    /// The domain's name here, once a `Prepare` named it.
    fn domain_name(&self) -> String {
        self.inbox
            .prepare
            .as_ref()
            .map(|(o, ..)| o.spec.name.clone())
            .or_else(|| self.recovering.as_ref().map(|(n, _)| n.clone()))
            .unwrap_or_default()
    }

    /// Sends a reply within its deadline; a source that cannot be
    /// answered is gone.
    async fn reply(&mut self, msg: &ToSource) -> Option<Event> {
        if self.closed {
            return None;
        }
        match tokio::time::timeout(Wait::PeerSend.get(), self.ch.send(msg)).await {
            Ok(Ok(())) => None,
            _ => {
                self.closed = true;
                Some(Event::SourceLost)
            }
        }
    }
}

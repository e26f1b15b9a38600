//! The target side of a migration: one session per authenticated source,
//! driven by the machine in `machine.rs`. It creates the domain bound
//! (phase 2), starts an incoming QEMU that stays paused (`copy.rs`), and
//! resumes it only on the source's `Commit` (phase 5). Any end of the
//! session before `Commit` (an `Abort`, a lost connection, the source
//! silent past [`Wait::SourceSilence`]) destroys the target copy. In
//! post-copy the copy is kept (`postcopy.rs`), unless its QEMU failed in
//! the switch, before the guest ran here (`machine.rs`,
//! `State::StartingLost`).

mod backends;
mod copy;
pub mod machine;
pub mod outcome;
mod postcopy;
mod recover;
pub mod restart;

pub use copy::rollback;
pub use postcopy::LOST_IN_SWITCH;
pub use recover::recover;

use super::checks::{check, facts};
use super::deadline::Wait;
use super::protocol::{DomainOffer, ResumeSteps, ToSource, ToTarget};
use crate::daemon::Daemon;
use crate::record::{MachineState, MigrationMark};
use copy::Created;
use ldm_api::migration::{Phase, Role};
use ldm_peer::Framed;
use ldm_qemu::MigrationTuning;
use machine::{step, Action, Event, State};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// A test hook: with `LDMD_TEST_FAULT=drop-after-resume` the target resumes
/// the domain and then drops the connection without confirming, as a network
/// failure at the worst moment would.
fn fault(name: &str) -> bool {
    std::env::var("LDMD_TEST_FAULT").is_ok_and(|v| v == name)
}

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

    /// The source's next message as an event, within the state's deadline.
    async fn next_event(&mut self, state: &State) -> Event {
        let wait = match state {
            State::Prepared | State::Receiving | State::PostcopyStarting | State::Postcopy => {
                Wait::SourceSilence
            }
            _ => Wait::PeerReply,
        };
        // In post-copy a `Recover` on another connection may ask for the
        // copy (`recover.rs`): this session's link is dead then.
        let mut superseded = match state {
            State::PostcopyStarting | State::Postcopy => self.yield_signal(),
            _ => None,
        };
        let msg = loop {
            let recv = tokio::time::timeout(wait.get(), self.ch.recv::<ToTarget>());
            let r = tokio::select! {
                r = recv => r,
                _ = recover::yield_asked(&mut superseded) => return Event::Superseded,
            };
            let msg = match r {
                Err(_) => return Event::Deadline,
                Ok(Ok(Some(m))) => m,
                // A field that does not decode (a malformed UUID, an unknown
                // state) is refused in so many words.
                Ok(Err(e @ ldm_peer::Error::Decode(_))) => {
                    return Event::Unexpected(format!("the target refused a message: {e}"))
                }
                Ok(Ok(None)) | Ok(Err(_)) => return Event::SourceLost,
            };
            // A dry run's probe, answered here: it changes no state.
            let ToTarget::Probe { bytes } = msg else {
                break msg;
            };
            if *state != State::Checked {
                return Event::Unexpected("a probe out of turn".into());
            }
            if let Err(e) = self.probe.admit(bytes) {
                return Event::Unexpected(e);
            }
            if let Err(e) = super::probe::receive(&mut self.ch, bytes).await {
                tracing::info!(source = %self.source, "probe: {e}");
                return Event::SourceLost;
            }
        };
        match msg {
            ToTarget::Check(offer) => {
                self.inbox.offer = Some(offer);
                Event::Check
            }
            ToTarget::Prepare {
                offer,
                started_at,
                tuning,
                id,
            } => {
                self.inbox.prepare = Some((offer, started_at, tuning, id));
                Event::Prepare
            }
            ToTarget::Progress { phase, percent } => {
                self.inbox.progress = Some((phase, percent));
                Event::Progress
            }
            ToTarget::Commit { console_tail } => {
                self.commit_at = Some(Instant::now());
                self.inbox.console_tail = console_tail;
                Event::Commit
            }
            ToTarget::Postcopy { console_tail } => {
                self.postcopy_at = Some(Instant::now());
                self.inbox.console_tail = console_tail;
                Event::Postcopy
            }
            ToTarget::Abort { reason } => Event::Abort(reason),
            ToTarget::Hello { .. }
            | ToTarget::Auth { .. }
            | ToTarget::Resolve { .. }
            | ToTarget::Recover { .. }
            | ToTarget::Probe { .. } => Event::Unexpected("unexpected message".into()),
        }
    }

    /// The signal a `Recover` on another connection sends to the session
    /// holding the copy: the claim's cancel, which `cancel-operation`
    /// never sends to a target.
    fn yield_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        let c = self.created.as_ref()?;
        c.claim.as_ref()?;
        let t = self.d.table();
        t.get(&c.name)?.migration().map(|b| b.cancel.subscribe())
    }

    /// How many console ports are free here (for the planner of `ldm
    /// evacuate`), counted without the table's lock.
    fn free_console_ports(&self) -> u32 {
        let vccs = self.d.db.vccs().unwrap_or_default();
        let used = crate::resources::ports_in_use(&self.d.table());
        let cap = ldm_api::migration::Room::PORTS_COUNTED;
        crate::resources::count_free_ports(&used, &vccs, self.d.cfg.console_addr, cap)
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

    async fn act(&mut self, a: Action) -> Option<Event> {
        match a {
            Action::ReplyChecked => {
                let offer = self.inbox.offer.take()?;
                // The back ends are read before the table is taken.
                let volumes = super::checks::read_volumes(&self.d, &offer);
                let ports = self.free_console_ports();
                let cpu_fit = super::cpucheck::fit(&self.d, &offer).await;
                let ifaces = super::checks::interface_macs(&self.d).await;
                let reply = {
                    let t = self.d.table();
                    let mut f = facts(&self.d, &t, &offer);
                    f.macs.extend(ifaces);
                    super::checks::add_volumes(&mut f, volumes, &offer, &t);
                    f.source = self.source.clone();
                    f.cpu_fit = cpu_fit;
                    let v = check(&offer, &f);
                    ToSource::Checked {
                        failures: v.failures,
                        warnings: v.warnings,
                        room: Some(ldm_api::migration::Room {
                            free_vcpus: f.free_vcpus,
                            free_mib: f.free_mib,
                            free_console_ports: Some(ports),
                        }),
                        probe_bytes: Some(super::probe::TARGET_MAX_BYTES),
                        postcopy_unavailable: super::userfaultfd::unavailable(),
                    }
                };
                self.reply(&reply).await
            }
            Action::Prepare => Some(self.prepare().await),
            Action::ReplyPrepared => {
                crate::testhook::hold("target-prepared").await;
                let reply = self.prepared.take()?;
                self.reply(&reply).await
            }
            Action::ShowProgress => {
                self.show_progress().await;
                None
            }
            Action::Resume => {
                crate::testhook::hold("target-commit").await;
                self.created.as_ref()?;
                self.steps.record_ms = since_ms(self.commit_at);
                // Resume only what a restart would finish too: the
                // hand-off must be on record first.
                let stored = self.d.db.outcome(&self.id).ok().flatten();
                if self.postcopy_at.is_some() {
                    // Post-copy: the guest runs already; wait for the rest.
                    let c = self.created.as_ref()?;
                    return Some(match postcopy::finish_postcopy(&self.d, c).await {
                        Ok(load_ms) => {
                            self.steps.load_ms = load_ms;
                            self.resumed_after_ms = since_ms(self.commit_at);
                            Event::Resumed
                        }
                        Err(e) => Event::ResumeFailed(e.to_string()),
                    });
                }
                if stored.is_none_or(|r| r.outcome != outcome::COMMITTING) {
                    return Some(Event::ResumeFailed(
                        "the hand-off could not be recorded".into(),
                    ));
                }
                if let Some(h) = self.created.as_mut().and_then(|c| c.helper.take()) {
                    // A cold copy's back ends: written and closed first.
                    if !h.stop().await {
                        return Some(Event::ResumeFailed(
                            "the storage copy's NBD server did not stop cleanly".into(),
                        ));
                    }
                }
                let c = self.created.as_ref()?;
                match copy::resume(&self.d, c, &self.inbox.console_tail).await {
                    Ok((load_ms, cont_ms, resume_event_ms)) => {
                        self.steps.load_ms = load_ms;
                        self.steps.cont_ms = cont_ms;
                        self.steps.resume_event_ms = resume_event_ms;
                        self.resumed_after_ms = since_ms(self.commit_at);
                        tracing::debug!(domain = %c.name, resumed_after_ms = self.resumed_after_ms, steps = ?self.steps, "target resumed the domain");
                        Some(Event::Resumed)
                    }
                    Err(e) => Some(Event::ResumeFailed(e.to_string())),
                }
            }
            Action::RecordMaster => {
                let c = self.created.as_mut()?;
                if let Err(e) = copy::record_master(&self.d, c).await {
                    tracing::error!(domain = %c.name, "the domain runs here but cannot be recorded: {e}");
                }
                let done = crate::metrics::Outcome::Completed;
                self.d.metrics.migration(Role::Target, done, None);
                None
            }
            Action::ReplyCommitted => {
                crate::testhook::hold("target-committed").await;
                if fault("drop-after-resume") {
                    tracing::warn!("test fault: dropping the connection before confirming");
                    self.closed = true;
                    return None;
                }
                self.steps.reply_ms = since_ms(self.commit_at);
                let reply = ToSource::Committed {
                    resumed_after_ms: self.resumed_after_ms,
                    steps: Some(self.steps),
                };
                let _ = self.reply(&reply).await;
                if let Some(c) = self.created.take() {
                    copy::cleanup_migration_files(&self.d, &c.name).await;
                }
                None
            }
            Action::Destroy => {
                if let Some(mut c) = self.created.take() {
                    tracing::warn!(domain = %c.name, "destroying the target copy");
                    if let Some(h) = c.helper.take() {
                        h.kill().await;
                    }
                    rollback(&self.d, &c.name, &self.id).await;
                } else if let Some((offer, ..)) = &self.inbox.prepare {
                    // A prepare that failed half-way.
                    rollback(&self.d, &offer.spec.name, &self.id).await;
                }
                None
            }
            Action::RunPostcopy => {
                crate::testhook::hold("target-postcopy").await;
                // Run only what a restart would keep: the outcome first.
                let stored = self.d.db.outcome(&self.id).ok().flatten();
                if stored.is_none_or(|r| r.outcome != outcome::POSTCOPY) {
                    return Some(Event::PostcopyFailed(
                        "the target could not record the post-copy".into(),
                    ));
                }
                let c = self.created.as_ref()?;
                match postcopy::run_postcopy(&self.d, c, &self.inbox.console_tail).await {
                    Ok(()) => Some(Event::PostcopyRunning),
                    Err(e) => Some(Event::PostcopyFailed(format!(
                        "the target's QEMU did not get into post-copy: {e}"
                    ))),
                }
            }
            Action::ReplyPostcopyRunning => {
                let reply = ToSource::PostcopyRunning {
                    resumed_after_ms: since_ms(self.postcopy_at),
                };
                self.reply(&reply).await
            }
            Action::KeepStranded { guest_ran, failed } => {
                let c = self.created.as_mut()?;
                if postcopy::postcopy_complete(&self.d, c).await {
                    // Everything arrived before the source went away.
                    if let Err(e) = copy::record_master(&self.d, c).await {
                        tracing::error!(domain = %c.name, "the domain runs here but cannot be recorded: {e}");
                    }
                    let name = c.name.clone();
                    if let Err(e) =
                        outcome::record(&self.d, &self.id, &name, &self.secret, outcome::COMMITTED)
                    {
                        tracing::error!(migration = %self.id, "cannot record the migration's outcome: {e}");
                    }
                    tracing::warn!(domain = %name, "post-copy complete though the source went away: this host runs the domain");
                    return None;
                }
                // Paused, its QEMU can recover; failed before the guest
                // ran here, it cannot (docs/protocol.md, "The switch window").
                let lost = match failed {
                    // Paused and read by `InspectSwitch` just before.
                    Some(failed) => failed,
                    None => {
                        postcopy::pause_postcopy(&self.d, c).await;
                        !guest_ran && postcopy::postcopy_failed(&self.d, c).await
                    }
                };
                postcopy::mark_stranded(&self.d, c, "the source went away", lost);
                None
            }
            Action::InspectSwitch => {
                // Only a copy this session made and still holds is looked
                // at; without one there is nothing to destroy.
                let c = self.created.as_ref().filter(|c| c.claim.is_some());
                let found = match c {
                    Some(c) => postcopy::inspect_switch(&self.d, c).await,
                    None => None,
                };
                Some(match found {
                    Some((m, r)) if postcopy::never_ran(m, r) => Event::SwitchFailed,
                    // Kept: what its QEMU said goes with it, so it is not
                    // paused and asked again.
                    found => Event::SwitchHeld {
                        failed: found.is_some_and(|(m, _)| m == ldm_qemu::MigrationStatus::Failed),
                    },
                })
            }
            Action::StartRecovery => Some(self.start_recovery().await),
            Action::ReplyRecovering => {
                let reply = self.recovering.as_mut().and_then(|(_, r)| r.take())?;
                self.reply(&reply).await
            }
            Action::ReplyAborted => self.reply(&ToSource::Aborted).await,
            Action::ReplyError(message) => self.reply(&ToSource::Error { message }).await,
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

    async fn prepare(&mut self) -> Event {
        let Some((offer, started_at, tuning, id)) = self.inbox.prepare.clone() else {
            return Event::PrepareFailed("nothing to prepare".into());
        };
        // The id keys the stored outcome: a UUID not seen before (a peer
        // of release 1 sends none; one is made for it).
        self.id = if id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else if uuid::Uuid::parse_str(&id).is_err() {
            return Event::PrepareFailed("the migration id is not a UUID".into());
        } else if self.d.db.outcome(&id).ok().flatten().is_some() {
            return Event::PrepareFailed(format!("migration {id} was already prepared here"));
        } else {
            id
        };
        self.secret = new_secret();
        let name = offer.spec.name.clone();
        let state = offer.state;
        let (copy_storage, disks) = (offer.copy_storage, offer.spec.disks.len());
        if let Err(e) = outcome::record(&self.d, &self.id, &name, &self.secret, outcome::PREPARED) {
            return Event::PrepareFailed(format!("cannot record the migration: {e}"));
        }
        let mut mark = MigrationMark::new(Role::Target, self.source.clone(), self.id.clone());
        mark.secret = Some(self.secret.clone());
        match copy::prepare(&self.d, offer, tuning, &self.source, self.local_ip, mark).await {
            Ok((data, tunnel, claim, helper)) => {
                self.created = Some(Created {
                    name,
                    claim: Some(claim),
                    _tunnel: tunnel,
                    state,
                    started_at,
                    copied_disks: copy_storage.then_some(disks),
                    helper,
                });
                self.prepared = Some(ToSource::Prepared {
                    data,
                    secret: Some(self.secret.clone()),
                });
                Event::PrepareDone
            }
            Err(e) => Event::PrepareFailed(e.to_string()),
        }
    }

    /// The source's progress in `ldm list -o status`, never backwards.
    async fn show_progress(&mut self) {
        let (Some(c), Some((phase, percent))) = (&self.created, self.inbox.progress.take()) else {
            return;
        };
        let t = self.d.table();
        if let Some(b) = t.get(&c.name).and_then(|dom| dom.migration()) {
            let mut v = b.view.lock().unwrap_or_else(|p| p.into_inner());
            v.phase = phase;
            v.progress = v.progress.max(percent);
        }
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

/// 256 random bits, hex-encoded.
fn new_secret() -> String {
    use rand::RngCore;
    use std::fmt::Write;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Milliseconds since `t` (0 if unset).
fn since_ms(t: Option<Instant>) -> u64 {
    t.map_or(0, |t| t.elapsed().as_millis() as u64)
}

//! The source's messages as the target machine's events: each one read
//! within its state's deadline, what it carries kept in the session's
//! inbox for the action that uses it. A dry run's probe is answered here;
//! in post-copy a `Recover` on another connection ends the wait.

use super::machine::{Event, State};
use super::{recover, Session};
use crate::migration::deadline::Wait;
use crate::migration::protocol::ToTarget;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// The source's next message as an event, within the state's deadline.
    pub(super) async fn next_event(&mut self, state: &State) -> Event {
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
            if let Err(e) = crate::migration::probe::receive(&mut self.ch, bytes).await {
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
}

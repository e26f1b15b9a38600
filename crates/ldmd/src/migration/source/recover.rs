//! Resuming a post-copy whose link was lost. In
//! [`State::PostcopyPaused`](super::machine::State::PostcopyPaused) both
//! QEMUs wait in `postcopy-paused`: the guest runs on the target and waits
//! there for the pages this host holds. The source reconnects (pinned
//! TLS, `Hello`), sends `Recover` with the migration's id and secret in
//! place of `Auth`, and on the target's `Recovering` carries on the
//! post-copy over the new connection (`live/postcopy.rs`, `resume_postcopy`). It
//! tries again with backoff (1 s doubling to 15 s, each attempt with its
//! own deadline) until the target takes it, or says that it finished the
//! copy by itself, or that it rolled the move back (the link broke in the
//! switch, before the guest ran there: [`State::SwitchLost`]); it never
//! resumes the source, whatever happens.
//!
//! [`State::SwitchLost`]: super::machine::State::SwitchLost

use super::driver::Driver;
use super::machine::{Event, Outcome};
use crate::migration::connect::{open, Peer};
use crate::migration::deadline::{Wait, RECOVER_BACKOFF};
use crate::migration::protocol::{ToSource, ToTarget};
use crate::migration::tunnel::Endpoint;

/// First version whose target answers `Recover`.
pub const RECOVER_VERSION: u32 = 5;

/// What one attempt found.
enum Attempt {
    /// The target listens again: the new connection and its endpoint.
    Ready(Box<(Peer, Endpoint)>),
    /// The target answered, but will not recover (yet): why.
    Refused(String),
    /// No answer: why.
    Unreachable(String),
}

impl Driver<'_> {
    /// Reconnects until the target recovers the post-copy ([`Event::Recovered`],
    /// with `self.peer` and `self.endpoint` replaced) or reports the
    /// migration committed or rolled back ([`Event::Resolved`]).
    pub(super) async fn recover(&mut self) -> Event {
        let host = self.run.m.host.clone();
        self.run.info(format!(
            "link to {host} lost during post-copy; the guest waits on {host} for its memory; reconnecting…"
        ));
        let (first, longest) = RECOVER_BACKOFF;
        let mut pause = first;
        let mut attempt = 0u32;
        let d = self.run.d.clone();
        loop {
            // ldmd shutting down ends the wait and the attempt: the stored
            // `PostcopyPaused` is taken up at the next start.
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = d.shutting_down() => return Event::Shutdown,
            }
            attempt += 1;
            self.recover_attempts = attempt;
            let found = tokio::select! {
                a = self.attempt() => a,
                _ = d.shutting_down() => return Event::Shutdown,
            };
            let why = match found {
                Attempt::Ready(ready) => {
                    let (peer, endpoint) = *ready;
                    tracing::info!(domain = %self.run.m.name, attempt, "the target listens again for the post-copy");
                    self.peer = Some(peer);
                    self.endpoint = Some(endpoint);
                    return Event::Recovered;
                }
                Attempt::Refused(why) => {
                    // A target that finished the copy with what it had,
                    // or rolled it back (lost in the switch), says so
                    // only to `Resolve`.
                    let there = tokio::select! {
                        o = self.outcome_there() => o,
                        _ = d.shutting_down() => return Event::Shutdown,
                    };
                    if let Some(o @ (Outcome::Committed | Outcome::RolledBack)) = there {
                        return Event::Resolved(o);
                    }
                    why
                }
                Attempt::Unreachable(why) => why,
            };
            tracing::warn!(domain = %self.run.m.name, attempt, "cannot resume the post-copy yet: {why}");
            self.note_paused(&why).await;
            pause = (pause * 2).min(longest);
        }
    }

    /// One attempt within its deadline.
    async fn attempt(&mut self) -> Attempt {
        let Some(secret) = self.secret() else {
            return Attempt::Refused("this host has no secret for the migration".into());
        };
        let (host, port, id) = (
            self.run.m.host.clone(),
            self.run.m.port,
            self.run.id.clone(),
        );
        let d = self.run.d.clone();
        let exchange = async move {
            let (mut ch, version) = match open(&d, &host, port, None, false).await {
                Ok(x) => x,
                Err(e) => return Attempt::Unreachable(e.to_string()),
            };
            if version < RECOVER_VERSION {
                return Attempt::Refused(format!(
                    "{host} speaks migration protocol {version}, which cannot resume a post-copy: upgrade ldm there"
                ));
            }
            if let Err(e) = ch.send(&ToTarget::Recover { id, secret }).await {
                return Attempt::Unreachable(e.to_string());
            }
            match ch.recv::<ToSource>().await {
                Ok(Some(ToSource::Recovering { data })) => {
                    Attempt::Ready(Box::new((Peer { ch, version }, data)))
                }
                Ok(Some(ToSource::Error { message })) => Attempt::Refused(message),
                Ok(other) => Attempt::Refused(format!("the target answered {other:?}")),
                Err(e) => Attempt::Unreachable(e.to_string()),
            }
        };
        tokio::time::timeout(Wait::Recover.get(), exchange)
            .await
            .unwrap_or_else(|_| Attempt::Unreachable("no answer in time".into()))
    }

    /// The secret the target handed over in `Prepared`.
    fn secret(&self) -> Option<String> {
        let t = self.run.d.table();
        t.get(&self.run.m.name)?
            .rec
            .migration
            .as_ref()?
            .secret
            .clone()
    }

    /// The target's stored outcome of the move, if it answers.
    async fn outcome_there(&self) -> Option<Outcome> {
        let mark = {
            let t = self.run.d.table();
            t.get(&self.run.m.name)
                .and_then(|dom| dom.rec.migration.clone())
        };
        super::resolve::ask(&self.run.d, &mark?).await.ok()
    }

    /// Records, for `ldm list -l`, that the post-copy waits and why.
    pub(super) async fn note_paused(&self, last: &str) {
        let note = self.paused_note(last);
        if let Err(e) = self.run.mark_error(&note, true).await {
            tracing::error!(domain = %self.run.m.name, "cannot record the paused post-copy: {e}");
        }
    }

    /// What `ldm list -l` says of the paused post-copy.
    pub(super) fn paused_note(&self, last: &str) -> String {
        let host = &self.run.m.host;
        let why = match self.recover_attempts {
            0 => last.to_string(),
            n => format!("attempt {n}: {last}"),
        };
        let restarted = if self.restarted {
            " and ldmd restarted here"
        } else {
            ""
        };
        format!(
            "post-copy paused: link to {host} lost{restarted}, reconnecting ({why}). The guest runs on {host} and waits there for the memory this host still holds: do not resume or remove this copy; it goes once the move completes."
        )
    }
}

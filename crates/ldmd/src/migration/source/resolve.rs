//! Settling an unconfirmed hand-off from facts. A source left paused in
//! [`State::Unconfirmed`] (the connection broke after `Commit`, or ldmd
//! restarted then) asks the target, in the background with backoff, what
//! became of the migration: pinned TLS, then `Resolve` with the
//! migration's id and the secret the target handed over in `Prepared`.
//! Committed: the source copy goes. Rolled back: it resumes. Unknown (or
//! no answer): ask again later. The administrator may settle it first
//! (`cancel-operation`, `stop-domain -f`); the resolver then stops.

use super::machine::{step, Action, Event, Outcome, State};
use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use crate::migration::connect::open;
use crate::migration::deadline::{resolve_backoff, Wait};
use crate::migration::protocol::{ToSource, ToTarget};
use crate::record::{MachineState, MigrationMark};
use ldm_api::migration::Role;
use ldm_api::ErrorKind;
use std::sync::Arc;

/// Starts asking the target about `name`'s unconfirmed migration.
pub(crate) fn spawn(d: Arc<Daemon>, name: String) {
    tokio::spawn(async move { run(d, name).await });
}

async fn run(d: Arc<Daemon>, name: String) {
    let (first, longest) = resolve_backoff();
    let mut pause = first;
    loop {
        tokio::select! {
            biased;
            () = d.shutting_down() => {
                tracing::info!(domain = %name, "ldmd shuts down: the unconfirmed migration is asked about after the next start");
                return;
            }
            () = tokio::time::sleep(pause) => {}
        }
        let Some(mark) = unsettled(&d, &name).await else {
            tracing::info!(domain = %name, "the unconfirmed migration was settled otherwise; no more questions");
            return;
        };
        let asked = tokio::select! {
            biased;
            () = d.shutting_down() => return,
            a = ask(&d, &mark) => a,
        };
        let outcome = match asked {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(domain = %name, migration = %mark.id, "cannot ask the target yet: {e}");
                Outcome::Unknown
            }
        };
        // The stored state says whether the move went through post-copy
        // (then the source never resumes).
        let state = match &mark.state {
            Some(MachineState::Source(s @ State::Unconfirmed { .. })) => s.clone(),
            Some(MachineState::Source(s)) => State::Unconfirmed {
                facts: mark.error.clone().unwrap_or_default(),
                postcopy: s.in_postcopy(),
            },
            _ => State::Unconfirmed {
                facts: mark.error.clone().unwrap_or_default(),
                postcopy: false,
            },
        };
        let (mut next, mut actions) = step(state, Event::Resolved(outcome));
        tracing::info!(domain = %name, migration = %mark.id, ?outcome, next = next.name(), "asked the target about the unconfirmed migration");
        // Held while the outcome is carried out, so no other verb interleaves.
        let claim = match (
            actions.is_empty() || actions == [Action::Resolve],
            super::settle_claim(&d, &name),
        ) {
            (true, _) => None,
            (false, Ok(c)) => Some(c),
            (false, Err(e)) => {
                tracing::warn!(domain = %name, "cannot settle yet: {e}");
                pause = (pause * 2).min(longest);
                continue;
            }
        };
        // Rolled back there after a post-copy: this host's QEMU decides.
        if actions.contains(&Action::AskQemuSwitched) {
            let Some(switched) = qemu_switched(&d, &name).await else {
                return;
            };
            let ev = if switched {
                Event::QemuSwitched
            } else {
                Event::QemuNeverSwitched
            };
            (next, actions) = step(next, ev);
        }
        for a in actions {
            match a {
                Action::MarkSwitchLost => {
                    mark_switch_lost(&d, &name, &mark, &next);
                    drop(claim);
                    return;
                }
                Action::DestroySource => {
                    super::settle::destroy(&d, &name).await;
                    drop(claim);
                    tracing::warn!(domain = %name, "the target runs the domain: source copy destroyed");
                    return;
                }
                Action::Resume => {
                    let r = super::settle::resume(&d, &name, true).await;
                    drop(claim);
                    match r {
                        Ok(()) => {
                            tracing::warn!(domain = %name, "the target has no copy: source resumed")
                        }
                        Err(e) => {
                            tracing::error!(domain = %name, "the target has no copy, but resuming here failed: {e}")
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        pause = (pause * 2).min(longest);
    }
}

/// Whether `name`'s QEMU switched to post-copy (no QEMU: it did); `None`
/// if ldmd shuts down first.
async fn qemu_switched(d: &Daemon, name: &str) -> Option<bool> {
    let qemu = {
        let t = d.table();
        t.get(name).and_then(|dom| {
            let rt = dom.rt.as_ref()?;
            Some((rt.qmp.clone(), d.paths.qmp_socket(&dom.rec.spec.uuid)))
        })
    };
    match qemu {
        Some(q) => super::live::switched(d, name, &q).await,
        None => Some(true),
    }
}

/// Records `name`'s post-copy as lost in the switch (`next`), with the
/// note that says what to do.
fn mark_switch_lost(d: &Daemon, name: &str, mark: &MigrationMark, next: &State) {
    let host = mark
        .peer
        .rsplit_once(':')
        .map_or(mark.peer.as_str(), |(h, _)| h);
    let note = super::driver::switch_lost_note(host, name);
    let mut t = d.table();
    let Some(dom) = t.get_mut(name) else { return };
    let mut rec = dom.rec.clone();
    if let Some(m) = rec.migration.as_mut() {
        m.state = Some(MachineState::Source(next.clone()));
        m.error = Some(note.clone());
    }
    match crate::daemon::commit(&d.db, dom, rec) {
        Ok(()) => tracing::error!(domain = %name, "{note}"),
        Err(e) => {
            tracing::error!(domain = %name, "cannot record the post-copy lost in the switch: {e}")
        }
    }
}

/// The mark of `name` if it still waits for the target's answer: a source
/// migration past `Commit`, with an id and a secret, not settled by the
/// administrator and not claimed by another operation.
async fn unsettled(d: &Daemon, name: &str) -> Option<MigrationMark> {
    let t = d.table();
    let dom = t.get(name)?;
    if dom.claim.is_some() {
        return None;
    }
    let mark = dom.rec.migration.clone()?;
    let past = matches!(&mark.state, Some(MachineState::Source(s)) if unsettled_past(s));
    (mark.role == Role::Source
        && past
        && mark.error.is_some()
        && !mark.id.is_empty()
        && mark.secret.is_some())
    .then_some(mark)
}

/// Whether a stored mark is one the resolver can settle.
pub(crate) fn resolvable(mark: &MigrationMark) -> bool {
    let past = matches!(&mark.state, Some(MachineState::Source(s)) if unsettled_past(s));
    mark.role == Role::Source && past && !mark.id.is_empty() && mark.secret.is_some()
}

/// Past the point of no return and not over: a post-copy lost in the
/// switch is settled already (`State::SwitchLost`).
fn unsettled_past(s: &State) -> bool {
    s.past_point_of_no_return() && !s.is_final()
}

/// One question to the target.
pub(super) async fn ask(d: &Daemon, mark: &MigrationMark) -> Result<Outcome> {
    let (host, port) = mark
        .peer
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| refuse(ErrorKind::Internal, format!("bad target {}", mark.peer)))?;
    let exchange = async {
        let (mut ch, _) = open(d, &host, port, None, false).await?;
        let lost = |e: ldm_peer::Error| refuse(ErrorKind::Peer, e.to_string());
        ch.send(&ToTarget::Resolve {
            id: mark.id.clone(),
            secret: mark.secret.clone().unwrap_or_default(),
        })
        .await
        .map_err(lost)?;
        match ch.recv::<ToSource>().await.map_err(lost)? {
            Some(ToSource::Outcome { outcome }) => Ok(outcome),
            Some(ToSource::Error { message }) => Err(refuse(ErrorKind::Peer, message)),
            other => Err(refuse(
                ErrorKind::Peer,
                format!("the target answered {other:?}"),
            )),
        }
    };
    tokio::time::timeout(Wait::Resolve.get(), exchange)
        .await
        .map_err(|_| refuse(ErrorKind::Peer, "the target did not answer in time"))?
}

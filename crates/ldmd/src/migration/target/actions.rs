//! The target machine's actions carried out: the checks answered, the
//! copy prepared, resumed, recorded, destroyed or kept stranded, the
//! post-copy run, and each reply to the source.

use super::copy::{self, Created};
use super::machine::{Action, Event};
use super::{outcome, postcopy, rollback, Session};
use crate::migration::checks::{check, facts};
use crate::migration::protocol::ToSource;
use crate::record::MigrationMark;
use ldm_api::migration::Role;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// A test hook: with `LDMD_TEST_FAULT=drop-after-resume` the target resumes
/// the domain and then drops the connection without confirming, as a network
/// failure at the worst moment would.
fn fault(name: &str) -> bool {
    std::env::var("LDMD_TEST_FAULT").is_ok_and(|v| v == name)
}
impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// How many console ports are free here (for the planner of `ldm
    /// evacuate`), counted without the table's lock.
    fn free_console_ports(&self) -> u32 {
        let vccs = self.d.db.vccs().unwrap_or_default();
        let used = crate::resources::ports_in_use(&self.d.table());
        let cap = ldm_api::migration::Room::PORTS_COUNTED;
        crate::resources::count_free_ports(&used, &vccs, self.d.cfg.console_addr, cap)
    }
    pub(super) async fn act(&mut self, a: Action) -> Option<Event> {
        match a {
            Action::ReplyChecked => {
                let offer = self.inbox.offer.take()?;
                // The back ends are read before the table is taken.
                let volumes = crate::migration::checks::read_volumes(&self.d, &offer);
                let ports = self.free_console_ports();
                let cpu_fit = crate::migration::cpucheck::fit(&self.d, &offer).await;
                let ifaces = crate::migration::checks::interface_macs(&self.d).await;
                // A live move's prediction weighs it against the link.
                let first_touch = match offer.state {
                    ldm_api::DomainState::Active => {
                        let huge = crate::ops::machine::huge_pages(true, self.d.inv.accel);
                        crate::migration::probe::first_touch(huge).await
                    }
                    _ => None,
                };
                let reply = {
                    let t = self.d.table();
                    let mut f = facts(&self.d, &t, &offer);
                    f.macs.extend(ifaces);
                    crate::migration::checks::add_volumes(&mut f, volumes, &offer, &t);
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
                        probe_bytes: Some(crate::migration::probe::TARGET_MAX_BYTES),
                        first_touch_mib_s: first_touch,
                        postcopy_unavailable: crate::migration::userfaultfd::unavailable(),
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

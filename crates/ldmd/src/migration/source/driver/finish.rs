//! How a source migration ends: the reply for the client once the
//! machine stopped, and the notes `ldm list -l` shows of a move that did
//! not end cleanly (a post-copy stopped, an unconfirmed hand-off, a
//! post-copy lost in the switch).

use super::*;
use crate::error::refuse;
use crate::migration::source::{fail, forecast, paused_copy_advice, release, resolve};
use ldm_api::ErrorKind;

/// How the note of a source whose post-copy was lost in the switch
/// begins.
pub const SWITCH_LOST: &str = "post-copy lost in the switch";

/// What `ldm list -l` says of `name`, whose post-copy to `host` was lost
/// in the switch.
pub(in crate::migration::source) fn switch_lost_note(host: &str, name: &str) -> String {
    format!(
        "{SWITCH_LOST}: the link to {host} broke after this host's QEMU switched to post-copy and before the guest ran on {host}, which rolled back and holds no copy. QEMU cannot resume a source that switched: the guest's running state is lost. Restart the domain here: `ldm stop-domain -f {name}`, then `ldm start-domain {name}`."
    )
}

impl Driver<'_> {
    /// What `ldm list -l` says of a source stopped in post-copy.
    pub(super) fn postcopy_note(&self, facts: &str) -> String {
        format!(
            "The migration to {} went into post-copy: {facts}. Do not resume or remove this copy: the target needs its memory; `ldm list -l {}` on {} shows the domain there.",
            self.run.target_label(),
            self.run.target_name(),
            self.run.m.host
        )
    }

    /// What `ldm list -l` and `migrate-domain` say of a post-copy lost in
    /// the switch.
    pub(super) fn switch_lost_note(&self) -> String {
        switch_lost_note(&self.run.m.host, &self.run.m.name)
    }

    pub(super) fn unconfirmed_note(&self, facts: &str) -> String {
        let m = self.run.m;
        format!(
            "The migration to {}: {facts}. {}",
            self.run.target_label(),
            paused_copy_advice(&m.host, &self.run.target_name(), &m.name)
        )
    }

    /// The reply for the client once the machine stopped.
    pub(super) async fn finish(mut self, state: State) -> Result<Reply> {
        let name = self.run.m.name.clone();
        release(&self.run.d, &name, self.claim.take());
        if self.resolve {
            resolve::spawn(self.run.d.clone(), name.clone());
        }
        match state {
            State::Confirmed => {
                let channels = if self.tuning.multifd() {
                    u32::from(self.tuning.multifd_channels)
                } else {
                    1
                };
                let reply = if self.live {
                    let pause = if self.copy.postcopy_ms().is_some() {
                        // The guest ran on the target long before Commit:
                        // its pause is QEMU's (the source stopped to the
                        // device state sent).
                        ldm_api::migration::PauseBreakdown {
                            qemu_downtime_ms: self.copy.info.downtime.unwrap_or(0),
                            source_stopped_at_us: self.copy.stopped_at_us(),
                            ..Default::default()
                        }
                    } else {
                        self.copy.pause(
                            self.commit_sent,
                            self.committed_at,
                            self.resumed_after_ms,
                            self.steps,
                        )
                    };
                    let downtime = pause.total_ms();
                    self.copy.log_done(&name, downtime, &pause);
                    match self
                        .run
                        .summary(Some((&self.copy.info, downtime, channels)))
                    {
                        Reply::Migrated(mut s) => {
                            s.pause = Some(pause);
                            s.postcopy_ms = self.copy.postcopy_ms();
                            if self.storage.is_none() && !self.restarted {
                                forecast::remember(
                                    &self.run.d,
                                    &s,
                                    &self.offer.spec.uuid.to_string(),
                                    &self.copy.dirtied,
                                );
                            }
                            Reply::Migrated(s)
                        }
                        r => r,
                    }
                } else {
                    self.run.summary(None)
                };
                Ok(match (reply, self.storage) {
                    (Reply::Migrated(mut s), Some((bytes, ms))) => {
                        s.storage_bytes = bytes;
                        s.storage_ms = ms;
                        Reply::Migrated(s)
                    }
                    (r, _) => r,
                })
            }
            State::RolledBack { reason } => {
                let here = match &self.copy.resume_problem {
                    Some(p) => format!(
                        "the domain could not be resumed here ({p}): see `ldm list -l {name}`"
                    ),
                    None => "the domain keeps running here".into(),
                };
                if self.cancelled {
                    Err(refuse(
                        ErrorKind::Cancelled,
                        format!("migration of {name} cancelled; {here}"),
                    ))
                } else {
                    Err(fail(format!(
                        "migration of {name} failed: {reason}; {here}"
                    )))
                }
            }
            State::Unconfirmed {
                facts,
                postcopy: false,
            } => Err(fail(self.unconfirmed_note(&facts))),
            State::SwitchLost { .. } => Err(fail(format!(
                "migration of {name} failed: {}",
                self.switch_lost_note()
            ))),
            State::Unconfirmed { facts, .. } | State::PostcopyPaused { facts } => {
                Err(fail(self.postcopy_note(&facts)))
            }
            other => Err(fail(format!(
                "the migration of {name} stopped while {}",
                other.name()
            ))),
        }
    }
}

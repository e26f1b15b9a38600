//! The post-copy part of a live move: the switch (the point of no return,
//! already recorded), a pause when the target is lost, and the resumption
//! once the target answers `Recovering`.

use super::*;

impl Driver<'_> {
    /// A post-copy that lost its target: QEMU's channels are shut
    /// (`migrate-pause`; it waits in `postcopy-paused`, the source never
    /// resumed) and the relays closed, instead of QEMU writing into a link
    /// that may hang for minutes.
    pub(in crate::migration::source) async fn pause_postcopy(&mut self) {
        if let Some(((qmp, socket), _)) = self.copy.qemu.clone() {
            let r = async {
                let mut g = QmpGuard::lock(&qmp, &socket).await?;
                g.q().migrate_pause().await?;
                Ok::<_, crate::error::Error>(())
            };
            match tokio::time::timeout(Wait::QemuCommand.get(), r).await {
                Ok(Ok(())) => tracing::info!(domain = %self.run.m.name, "post-copy paused in QEMU"),
                Ok(Err(e)) => tracing::info!(domain = %self.run.m.name, "migrate-pause: {e}"),
                Err(_) => {
                    tracing::warn!(domain = %self.run.m.name, "migrate-pause: QEMU did not answer")
                }
            }
        }
        self.copy.tunnel = None;
    }

    /// Whether QEMU switched to post-copy, asked once the target rolled
    /// back ([`switched`]).
    /// `None` if ldmd shuts down first.
    pub(in crate::migration::source) async fn qemu_switched(&mut self) -> Option<bool> {
        let Some((qemu, _)) = self.copy.qemu.clone() else {
            return Some(true);
        };
        switched(&self.run.d, &self.run.m.name, &qemu).await
    }

    /// Resumes a paused post-copy once the target listens again
    /// (`Recovering`): a new channel to its endpoint, then QEMU's
    /// `migrate` with `resume` (QEMU waits in `postcopy-paused`). The copy
    /// is then followed as before.
    pub(in crate::migration::source) async fn resume_postcopy(&mut self) -> Option<Event> {
        let Some(((qmp, socket), dir)) = self.copy.qemu.clone() else {
            return Some(Event::Failed("no QEMU copy to resume".into()));
        };
        let Some(endpoint) = self.endpoint.take() else {
            return Some(Event::Failed("the target gave no new channel".into()));
        };
        let out = dir.join("out.sock");
        let (addr, token) = (endpoint.addr, endpoint.token);
        let tunnel = match tokio::time::timeout(
            Wait::PeerReply.get(),
            tunnel::connect(&out, endpoint, token),
        )
        .await
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Some(Event::Failed(e.to_string())),
            Err(_) => {
                return Some(Event::Failed(format!(
                    "the data channel to {addr} did not open in time"
                )))
            }
        };
        self.copy.tunnel = Some(tunnel);
        let r = async {
            let mut g = QmpGuard::lock(&qmp, &socket).await?;
            // The pause's own events are not news of the resumed copy:
            // those read already, and those still unread, which QEMU sent
            // before its reply to `migrate` (its `postcopy-paused` among
            // them, read as a new pause otherwise). What follows comes in
            // later events and in `query-migrate` each second.
            g.q().take_events();
            g.q()
                .migrate_resume(&format!("unix:{}", out.display()))
                .await?;
            g.q().take_events();
            Ok::<_, crate::error::Error>(())
        };
        match tokio::time::timeout(Wait::QemuCommand.get() * 5, r).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Some(Event::Failed(format!(
                    "QEMU did not resume the post-copy: {e}"
                )))
            }
            Err(_) => {
                return Some(Event::Failed(
                    "QEMU did not answer the resume of the post-copy".into(),
                ))
            }
        }
        // Headway is measured afresh on the new channel.
        self.copy.headway = None;
        self.copy.last_beat = None;
        if let Err(e) = self.run.clear_error().await {
            tracing::error!(domain = %self.run.m.name, "cannot record the resumed post-copy: {e}");
        }
        tracing::info!(domain = %self.run.m.name, attempts = self.recover_attempts, %addr, "post-copy resumed");
        self.run.info(format!(
            "post-copy resumed: the rest of the memory follows to {} (after {} attempt{})",
            self.run.m.host,
            self.recover_attempts,
            if self.recover_attempts == 1 { "" } else { "s" }
        ));
        self.recover_attempts = 0;
        self.run.show_phase(Phase::Postcopy);
        None
    }

    /// The point of no return of a post-copy move, already recorded: asks
    /// QEMU to switch, then tells the target to run the guest once its
    /// QEMU is in post-copy.
    pub(in crate::migration::source) async fn start_postcopy(&mut self) -> Option<Event> {
        let Some(((qmp, socket), _)) = self.copy.qemu.clone() else {
            return Some(Event::PostcopyRefused("no QEMU copy to switch".into()));
        };
        crate::testhook::hold("source-postcopy").await;
        let r = match QmpGuard::lock(&qmp, &socket).await {
            Ok(mut g) => {
                let asked = g.q().migrate_start_postcopy().await;
                match asked {
                    Ok(()) => Ok(()),
                    Err(e @ ldm_qemu::Error::QmpTimeout { .. }) => {
                        self.after_unanswered_switch(&mut g, e).await
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = r {
            return Some(Event::PostcopyRefused(e));
        }
        self.copy.postcopy_at = Some(Instant::now());
        // QEMU switched, `Postcopy` not sent yet: the switch window.
        crate::testhook::hold("source-postcopy-switched").await;
        let ram = self.copy.info.ram.clone().unwrap_or_default();
        tracing::info!(
            domain = %self.run.m.name,
            passes = ram.dirty_sync_count,
            remaining = ram.remaining,
            throttle = self.copy.info.cpu_throttle_percentage.unwrap_or(0),
            "switching to post-copy"
        );
        self.run.info(format!(
            "Post-copy: QEMU switches with {} MiB left after {} passes{}; the guest runs on the target once its QEMU holds the device state",
            ram.remaining >> 20,
            ram.dirty_sync_count,
            match self.copy.info.cpu_throttle_percentage.unwrap_or(0) {
                0 => String::new(),
                t => format!(", throttled {t} %"),
            }
        ));
        self.run.show_phase(Phase::Postcopy);
        let msg = ToTarget::Postcopy {
            console_tail: self.console_tail().await,
        };
        self.send(&msg).await.err()
    }

    /// `migrate-start-postcopy` got no answer in time (QEMU's main loop
    /// was held, e.g. writing to a slow link): the command may still run,
    /// so no answer is no refusal. QEMU answers one connection's commands
    /// in order, so once `query-migrate` is answered, the switch's own late
    /// answer has come if QEMU gave one: a refusal is a refusal, a success
    /// a switch. Without it, what `query-migrate` says comes after the
    /// switch was asked: accepted unless the migration is over
    /// ([`switch_stands`]). Asked again while QEMU stays silent, within
    /// [`Wait::CopyHeadway`]; silence throughout, or a broken connection,
    /// counts as refused, as before: the source's resume then fails if
    /// QEMU did switch, so two copies never run.
    async fn after_unanswered_switch(
        &mut self,
        g: &mut QmpGuard,
        first: ldm_qemu::Error,
    ) -> std::result::Result<(), String> {
        tracing::warn!(domain = %self.run.m.name, "migrate-start-postcopy: {first}; asking QEMU what it did");
        let until = Instant::now() + Wait::CopyHeadway.get();
        loop {
            let status = g.q().query_migrate().await;
            // Answered in order: a late reply to the switch came first.
            match g.q().late_reply("migrate-start-postcopy") {
                Some(Err(e)) => return Err(format!("{first}; then QEMU refused it: {e}")),
                Some(Ok(_)) => {
                    tracing::info!(domain = %self.run.m.name, "QEMU took the switch to post-copy after all");
                    return Ok(());
                }
                None => {}
            }
            match status {
                Ok(info) if switch_stands(info.status) => {
                    tracing::info!(domain = %self.run.m.name, status = %info.status, "QEMU took the switch to post-copy after all");
                    return Ok(());
                }
                Ok(info) => {
                    return Err(format!("{first}; QEMU's migration is then {}", info.status))
                }
                Err(ldm_qemu::Error::QmpTimeout { .. }) if Instant::now() < until => {}
                Err(e) => return Err(format!("{first}; then {e}")),
            }
        }
    }
}

/// Whether a switch to post-copy QEMU was asked for stands, by the
/// migration status QEMU reports after the request: only a migration
/// that is over or ending without a switch (failed, cancelled, none)
/// drops it; one still copying switches at its next iteration.
pub(in crate::migration::source) fn switch_stands(status: ldm_qemu::MigrationStatus) -> bool {
    status != ldm_qemu::MigrationStatus::Cancelling && !never_switched(false, status)
}

/// Whether `name`'s QEMU switched to post-copy, asked once the target
/// rolled back. Not switched only when QEMU says so ([`never_switched`]).
/// A QEMU caught in an unfinished switch over a dead link holds its main
/// loop until its channel fails (ldm closed the relays), so it is asked
/// again until it answers with a settled migration, within
/// [`Wait::CopyHeadway`]; no answer by then counts as switched (the
/// source is never resumed on a guess). `None` if ldmd shuts down first:
/// nothing is decided, and the next start asks again from the stored state.
pub(in crate::migration::source) async fn switched(
    d: &crate::daemon::Daemon,
    name: &str,
    qemu: &QemuHandle,
) -> Option<bool> {
    switched_within(d, name, qemu, Wait::CopyHeadway.get()).await
}

/// [`switched`], QEMU's silence counting as a switch after `wait`.
async fn switched_within(
    d: &crate::daemon::Daemon,
    name: &str,
    qemu: &QemuHandle,
    wait: Duration,
) -> Option<bool> {
    tokio::select! {
        biased;
        () = d.shutting_down() => {
            tracing::info!(domain = %name, "ldmd shuts down: whether QEMU switched is asked after the next start");
            None
        }
        s = ask_switched(name, qemu, wait) => Some(s),
    }
}

/// [`switched`], until QEMU answers or `wait` is over.
async fn ask_switched(name: &str, (qmp, socket): &QemuHandle, wait: Duration) -> bool {
    use ldm_qemu::MigrationStatus as M;
    let until = Instant::now() + wait;
    loop {
        let r = async {
            let mut g = QmpGuard::lock(qmp, socket).await?;
            let running = g.q().query_status().await?.running;
            let status = g.q().query_migrate().await?.status;
            Ok::<_, crate::error::Error>((running, status))
        };
        let found = tokio::time::timeout(Wait::QemuCommand.get(), r).await;
        let unsettled = match &found {
            Ok(Ok((running, status))) => {
                !running
                    && matches!(
                        status,
                        M::Setup | M::Active | M::Device | M::PreSwitchover | M::Cancelling
                    )
            }
            _ => true,
        };
        if !unsettled || Instant::now() >= until {
            return match found {
                Ok(Ok((running, status))) => {
                    tracing::info!(domain = %name, running, %status, "the target rolled back: this host's QEMU says");
                    !never_switched(running, status)
                }
                _ => {
                    tracing::warn!(domain = %name, "QEMU did not say whether it switched");
                    true
                }
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Whether a source QEMU never switched to post-copy: its guest runs, or
/// its migration is over without having been in post-copy (`failed`,
/// `cancelled`, or none). A QEMU that switched stays in a post-copy state
/// (`postcopy-paused` once its link broke); it refuses `cont` and
/// `migrate_cancel` then.
pub(in crate::migration::source) fn never_switched(
    running: bool,
    status: ldm_qemu::MigrationStatus,
) -> bool {
    use ldm_qemu::MigrationStatus as M;
    running || matches!(status, M::Failed | M::Cancelled | M::None)
}

#[cfg(test)]
mod tests {
    use super::{never_switched, switch_stands};
    use ldm_qemu::MigrationStatus as M;

    #[test]
    fn only_a_qemu_out_of_its_migration_or_running_never_switched() {
        assert!(never_switched(true, M::Active));
        for m in [M::Failed, M::Cancelled, M::None] {
            assert!(never_switched(false, m), "{m}");
        }
        for m in [
            M::PostcopyActive,
            M::PostcopyPaused,
            M::PostcopyRecoverSetup,
            M::PostcopyRecover,
            M::Completed,
            M::Active,
            M::Device,
        ] {
            assert!(!never_switched(false, m), "{m}");
        }
    }

    #[test]
    fn an_unanswered_switch_stands_unless_the_migration_is_over() {
        for m in [M::Failed, M::Cancelled, M::Cancelling, M::None] {
            assert!(!switch_stands(m), "{m}");
        }
        for m in [
            M::Setup,
            M::Active,
            M::Device,
            M::PreSwitchover,
            M::PostcopyActive,
            M::PostcopyPaused,
            M::Completed,
        ] {
            assert!(switch_stands(m), "{m}");
        }
    }
}

#[cfg(test)]
#[path = "postcopy_switched_tests.rs"]
mod switched_tests;

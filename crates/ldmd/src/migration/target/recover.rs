//! Recovery of a post-copy whose link was lost (protocol 5). The source
//! reconnects and sends `Recover{id, secret}` in place of `Auth`. The copy
//! must be this host's stranded post-copy of that migration: its outcome
//! `postcopy`, no session or verb holding it, its QEMU in
//! `postcopy-paused` (QEMU's own check: `migrate-recover` runs out of
//! band, since the guest may block QEMU's main loop meanwhile). Then the copy is held again, its QEMU listens on a
//! new Unix socket (`migrate-recover`) behind a new data listener (a new
//! certificate and token, as in phase 2), the source is answered
//! `Recovering`, and the session goes on as a post-copy: `Progress`,
//! `Commit`, `Committed`. Anything else is refused with what it is; the
//! copy stays as it was.

use super::copy::{self, Created};
use super::machine::{Event, State};
use super::outcome;
use super::Session;
use crate::daemon::{Busy, ClaimKind, Daemon};
use crate::migration::deadline::Wait;
use crate::migration::protocol::ToSource;
use crate::migration::tunnel;
use crate::ops::machine::QmpGuard;
use crate::record::MachineState;
use ldm_api::migration::{Phase, Role};
use ldm_api::DomainState;
use ldm_peer::Framed;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// Serves one `Recover` on a connection that has said `Hello`.
pub async fn recover<S>(
    d: Arc<Daemon>,
    mut ch: Framed<S>,
    source: String,
    local_ip: IpAddr,
    id: String,
    secret: String,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let name = match stranded(&d, &id, &secret) {
        Ok(n) => n,
        Err(message) => {
            tracing::warn!(migration = %id, %source, "recovery refused: {message}");
            let reply = ToSource::Error { message };
            let _ = tokio::time::timeout(Wait::PeerSend.get(), ch.send(&reply)).await;
            return;
        }
    };
    tracing::info!(migration = %id, domain = %name, %source, "the source asks to resume the post-copy");
    let mut s = Session {
        d,
        ch,
        source,
        local_ip,
        inbox: Default::default(),
        created: None,
        id,
        secret,
        prepared: None,
        resumed_after_ms: 0,
        commit_at: None,
        steps: Default::default(),
        closed: false,
        probe: Default::default(),
        postcopy_at: Some(Instant::now()),
        recovering: Some((name, None)),
    };
    let first = State::Stranded {
        reason: "the link was lost".into(),
    };
    s.drive(first, Some(Event::Recover)).await;
}

/// The domain whose stranded post-copy `id` is, if the secret is that
/// migration's; else what to tell the source.
fn stranded(d: &Daemon, id: &str, secret: &str) -> Result<String, String> {
    let unknown = || format!("{id} is not a migration this host can tell you about");
    let row = d.db.outcome(id).map_err(|e| e.to_string())?;
    let Some(row) = row else {
        return Err(unknown());
    };
    if !outcome::same_secret(row.secret.as_bytes(), secret.as_bytes()) {
        return Err(unknown());
    }
    match row.outcome.as_str() {
        outcome::POSTCOPY => {}
        outcome::COMMITTED => {
            return Err(format!(
                "migration {id} is complete: {} runs here; there is no post-copy to resume",
                row.domain
            ))
        }
        outcome::ROLLED_BACK => {
            return Err(format!(
                "migration {id} was rolled back here: there is no post-copy to resume"
            ))
        }
        other => {
            return Err(format!(
                "migration {id} is {other} here, not in post-copy: there is nothing to resume"
            ))
        }
    }
    let t = d.table();
    let ours = t.get(&row.domain).is_some_and(|dom| {
        dom.rec
            .migration
            .as_ref()
            .is_some_and(|m| m.role == Role::Target && m.id == id)
    });
    if !ours {
        return Err(format!(
            "the copy of {} that migration {id} made is no longer on this host",
            row.domain
        ));
    }
    // Its QEMU failed in the switch: nothing here to recover.
    let note = t
        .get(&row.domain)
        .and_then(|dom| dom.rec.migration.as_ref())
        .and_then(|m| m.error.clone())
        .filter(|e| e.starts_with(super::postcopy::LOST_IN_SWITCH));
    if let Some(note) = note {
        return Err(note);
    }
    Ok(row.domain)
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Holds the stranded copy again and has its QEMU listen for the
    /// source's new channel.
    pub(super) async fn start_recovery(&mut self) -> Event {
        let Some((name, _)) = self.recovering.clone() else {
            return Event::RecoverFailed("no copy to recover".into());
        };
        match self.listen_again(&name).await {
            Ok(created) => {
                self.created = Some(created);
                Event::RecoverReady
            }
            Err(e) => Event::RecoverFailed(e),
        }
    }

    /// Claims the copy. A session of the same migration still holding it
    /// has not seen its link go yet: the source's reconnection says it is
    /// dead, so that session is asked to yield (it keeps the copy paused
    /// and marked, then lets it go) and the claim is taken once it did,
    /// within [`Wait::PeerSend`].
    async fn take_over(&self, name: &str) -> Result<crate::daemon::ClaimGuard, String> {
        let until = Instant::now() + Wait::PeerSend.get();
        let mut asked = false;
        loop {
            let busy = Busy {
                view: Busy::view(Role::Target, self.source.clone(), Phase::Postcopy, 0),
                cancel: watch::channel(false).0,
            };
            let e = match self.d.claim(name, ClaimKind::Migration(busy)) {
                Ok(claim) => return Ok(claim),
                Err(e) => e,
            };
            let old_session = {
                let t = self.d.table();
                t.get(name).and_then(|dom| {
                    let same = dom.rec.migration.as_ref().is_some_and(|m| {
                        m.role == Role::Target && !self.id.is_empty() && m.id == self.id
                    });
                    let b = dom.migration().filter(|_| same)?;
                    let role = b.view.lock().unwrap_or_else(|p| p.into_inner()).role;
                    (role == Role::Target).then(|| b.cancel.send_replace(true))
                })
            };
            if old_session.is_none() || Instant::now() >= until {
                return Err(format!("{e}; try again once the post-copy here paused"));
            }
            if !asked {
                asked = true;
                tracing::info!(domain = %name, migration = %self.id, "the source reconnected: the session that held the post-copy yields it");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn listen_again(&mut self, name: &str) -> Result<Created, String> {
        let claim = self.take_over(name).await?;
        let (qmp, socket) = copy::qmp_of(&self.d, name).map_err(|e| e.to_string())?;
        let uuid = {
            let t = self.d.table();
            t.get(name).map(|dom| dom.rec.spec.uuid).unwrap_or_default()
        };
        let dir = self.d.paths.migration_dir(&uuid);
        copy::private_dir(&dir).map_err(|e| e.to_string())?;
        // A new socket each time: QEMU drops the listener of an earlier
        // `migrate-recover` that got no channel.
        let incoming = dir.join(format!("recover-{}.sock", now_ms()));
        // No query first: while the link is down a guest vCPU may hold
        // QEMU's main loop on a missing page, and only out-of-band commands
        // are answered. QEMU itself refuses unless it is `postcopy-paused`.
        let listen = async {
            let mut g = QmpGuard::lock(&qmp, &socket).await?;
            g.q()
                .migrate_recover(&format!("unix:{}", incoming.display()))
                .await?;
            Ok::<_, crate::error::Error>(())
        };
        let qemu = Wait::QemuCommand.get() * 5;
        match tokio::time::timeout(qemu, listen).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("the QEMU of {name} here did not answer")),
        }
        let (tunnel, ep) = tunnel::listen(self.local_ip, incoming, None)
            .await
            .map_err(|e| e.to_string())?;
        // The copy is on its way again: no `e`, the phase shown.
        {
            let mut t = self.d.table();
            if let Some(dom) = t.get_mut(name) {
                let mut rec = dom.rec.clone();
                if let Some(mark) = rec.migration.as_mut() {
                    mark.error = None;
                    mark.state = Some(MachineState::Target(State::Postcopy));
                }
                if let Err(e) = crate::daemon::commit(&self.d.db, dom, rec) {
                    tracing::error!(domain = %name, "cannot record the resumed post-copy: {e}");
                }
            }
        }
        tracing::info!(domain = %name, addr = %ep.addr, "post-copy: listening again for the source");
        if let Some((_, reply)) = self.recovering.as_mut() {
            *reply = Some(ToSource::Recovering { data: ep });
        }
        Ok(Created {
            name: name.to_string(),
            claim: Some(claim),
            _tunnel: Some(tunnel),
            state: DomainState::Active,
            // The source's UPTIME origin stays there: counted from now.
            started_at: Some(now_ms() / 1000),
            copied_disks: None,
            helper: None,
        })
    }
}

/// Returns once the session holding a copy is asked to yield it (never
/// without a signal).
pub(super) async fn yield_asked(rx: &mut Option<watch::Receiver<bool>>) {
    if let Some(rx) = rx {
        if rx.wait_for(|asked| *asked).await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

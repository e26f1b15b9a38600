//! One migration in progress on the source: reporting, the summary, the
//! error state, and the cold move of a bound or inactive domain.

use super::{fail, lost, unexpected};
use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use crate::migration::connect::Peer;
use crate::migration::protocol::{DomainOffer, ToSource, ToTarget};
use crate::record::MigrationMark;
use ldm_api::migration::{MigrateRequest, OperationView, Role, Summary};
use ldm_api::{DomainState, ErrorKind, Event, Reply, Response};
use ldm_qemu::{MigrationInfo, MigrationTuning};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// How long the source waits for the target's confirmation.
const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) struct Run<'a> {
    pub(super) d: Arc<Daemon>,
    pub(super) m: &'a MigrateRequest,
    pub(super) tx: &'a mpsc::Sender<Response>,
    pub(super) view: Arc<std::sync::Mutex<OperationView>>,
    pub(super) cancel: watch::Receiver<bool>,
    pub(super) gone: watch::Receiver<bool>,
    pub(super) t0: Instant,
    pub(super) warnings: Vec<String>,
}

impl Run<'_> {
    pub(super) fn cancelled(&self) -> bool {
        *self.cancel.borrow() || *self.gone.borrow()
    }

    pub(super) async fn report(&self, p: ldm_api::migration::Progress) {
        {
            let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
            v.phase = p.phase;
            v.progress = p.percent;
        }
        let _ = self.tx.send(Response::Event(Event::Progress(p))).await;
    }

    /// Phase 5: the target's answer to `Commit`, if it was `sent` and the
    /// answer came within [`COMMIT_TIMEOUT`]; `None` means the hand-off is
    /// unconfirmed.
    pub(super) async fn confirmation(&self, peer: &mut Peer, sent: bool) -> Option<ToSource> {
        if !sent {
            return None;
        }
        match tokio::time::timeout(COMMIT_TIMEOUT, peer.ch.recv::<ToSource>()).await {
            Ok(Ok(answer)) => answer,
            _ => None,
        }
    }

    /// Forgets the source copy once the target confirmed: removes it from
    /// the database and the table; returns its QEMU's pid, if it had one.
    pub(super) async fn drop_source_copy(&self) -> Result<Option<u32>> {
        let mut t = self.d.table();
        self.d.db.delete_domain(&self.m.name)?;
        Ok(t.remove(&self.m.name).and_then(|dom| dom.rt.map(|r| r.pid)))
    }

    pub(super) async fn info(&self, message: String) {
        let _ = self.tx.send(Response::Event(Event::Info { message })).await;
    }

    /// The domain's name on the target.
    pub(super) fn target_name(&self) -> String {
        self.m
            .new_name
            .clone()
            .unwrap_or_else(|| self.m.name.clone())
    }

    /// `host:port` of the target, as listings show it.
    pub(super) fn target_label(&self) -> String {
        format!("{}:{}", self.m.host, self.m.port)
    }

    /// What the administrator is told at the end; `copy` is QEMU's final
    /// statistics, the guest's measured pause and the channels, for a live
    /// migration.
    pub(super) fn summary(&self, copy: Option<(&MigrationInfo, u64, u32)>) -> Reply {
        const MIB: f64 = 1_048_576.0;
        let (info, downtime_ms, channels) = match copy {
            Some((i, d, c)) => (i.clone(), d, c),
            None => (MigrationInfo::default(), 0, 0),
        };
        let ram = info.ram.unwrap_or_default();
        let qemu_ms = info.total_time.unwrap_or(0);
        let setup_ms = info.setup_time.unwrap_or(0);
        let rate = |ms: u64| ram.transferred as f64 / MIB / (ms.max(1) as f64 / 1000.0);
        Reply::Migrated(Summary {
            name: self.m.name.clone(),
            target_name: self.target_name(),
            target: self.target_label(),
            live: copy.is_some(),
            total_ms: self.t0.elapsed().as_millis() as u64,
            downtime_ms,
            bytes_sent: ram.transferred,
            passes: ram.dirty_sync_count,
            channels,
            rate_mib_s: if copy.is_some() { rate(qemu_ms) } else { 0.0 },
            qemu_ms,
            setup_ms,
            bulk_rate_mib_s: if copy.is_some() {
                rate(qemu_ms.saturating_sub(setup_ms))
            } else {
                0.0
            },
            warnings: self.warnings.clone(),
        })
    }

    /// A bound or inactive domain: only its definition and binding move.
    pub(super) async fn cold(&self, peer: &mut Peer, offer: DomainOffer) -> Result<Reply> {
        self.info(format!(
            "Phase 2: creating {} on the target",
            offer.spec.name
        ))
        .await;
        peer.ch
            .send(&ToTarget::Prepare {
                offer,
                started_at: None,
                tuning: MigrationTuning::default(),
            })
            .await
            .map_err(lost)?;
        match peer.ch.recv::<ToSource>().await.map_err(lost)? {
            Some(ToSource::Prepared { .. }) => {}
            other => return Err(unexpected(other)),
        }
        crate::testhook::hold("source-prepared").await;
        if self.cancelled() {
            let _ = peer
                .ch
                .send(&ToTarget::Abort {
                    reason: "cancelled".into(),
                })
                .await;
            return Err(refuse(ErrorKind::Cancelled, "migration cancelled"));
        }
        self.info("Phase 5: handing over".into()).await;
        let sent = peer
            .ch
            .send(&ToTarget::Commit {
                console_tail: String::new(),
            })
            .await
            .is_ok();
        crate::testhook::hold("source-commit-sent").await;
        match self.confirmation(peer, sent).await {
            Some(ToSource::Committed { .. }) => {
                self.drop_source_copy().await?;
                Ok(self.summary(None))
            }
            Some(ToSource::Error { message }) => Err(fail(message)),
            _ => {
                let note = format!(
                    "The migration to {} lost its connection while handing over. If `ldm list` on {} shows this domain, remove it here (`ldm unbind-domain` if bound, then `ldm remove-domain {}`); otherwise clear this state with `ldm cancel-operation migration {}`.",
                    self.target_label(), self.m.host, self.m.name, self.m.name
                );
                self.mark_error(&note, false).await?;
                Err(fail(note))
            }
        }
    }

    pub(super) async fn mark_error(&self, note: &str, suspended: bool) -> Result<()> {
        let mut t = self.d.table();
        let Some(dom) = t.get_mut(&self.m.name) else {
            return Ok(());
        };
        let mark = MigrationMark {
            role: Role::Source,
            peer: self.target_label(),
            error: Some(note.to_string()),
        };
        if suspended && dom.rec.state == DomainState::Active {
            let suspend = ldm_api::state::Transition::Suspend;
            return crate::lifecycle::transition(&self.d.db, dom, suspend, |rec| {
                rec.migration = Some(mark)
            });
        }
        let mut rec = dom.rec.clone();
        rec.migration = Some(mark);
        crate::daemon::commit(&self.d.db, dom, rec)
    }
}

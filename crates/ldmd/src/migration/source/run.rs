//! One migration on the source: what it reports to the client and to
//! `ldm list`, what it records, and the summary.

use crate::daemon::Daemon;
use crate::error::Result;
use crate::migration::source::machine::State;
use crate::record::MachineState;
use ldm_api::migration::{MigrateRequest, OperationView, Phase, Summary};
use ldm_api::{DomainState, Event, Reply, Response};
use ldm_qemu::MigrationInfo;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

pub(super) struct Run<'a> {
    pub(super) d: Arc<Daemon>,
    pub(super) m: &'a MigrateRequest,
    pub(super) tx: &'a mpsc::Sender<Response>,
    pub(super) view: Arc<std::sync::Mutex<OperationView>>,
    pub(super) cancel: watch::Receiver<bool>,
    /// The sending end of [`Self::cancel`], handed to the claim so that
    /// `cancel-operation` reaches the migration once it holds the domain.
    pub(super) cancel_tx: watch::Sender<bool>,
    pub(super) gone: watch::Receiver<bool>,
    pub(super) t0: Instant,
    pub(super) warnings: Vec<String>,
    /// The migration's id, shared with the target.
    pub(super) id: String,
    /// A live move: the copy it runs and why.
    pub(super) choice: Option<ldm_api::channels::CopyChoice>,
}

impl Run<'_> {
    /// `cancel-operation`, or the client went away.
    pub(super) fn cancelled(&self) -> bool {
        *self.cancel.borrow() || *self.gone.borrow()
    }

    /// Shows progress in `ldm list -o status` and to the client. A client
    /// that does not read loses events: the migration never waits for it.
    pub(super) fn report(&self, p: ldm_api::migration::Progress) {
        {
            let mut v = self.view.lock().unwrap_or_else(|e| e.into_inner());
            v.phase = p.phase;
            v.progress = p.percent;
        }
        let _ = self.tx.try_send(Response::Event(Event::Progress(p)));
    }

    /// Shows a phase in `ldm list -o status`.
    pub(super) fn show_phase(&self, phase: Phase) {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).phase = phase;
    }

    /// A line for the client (dropped if it does not read).
    pub(super) fn info(&self, message: String) {
        let _ = self.tx.try_send(Response::Event(Event::Info { message }));
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

    /// Records the machine's state in the domain's migration mark.
    pub(super) async fn persist(&self, state: &State) -> Result<()> {
        let mut t = self.d.table();
        let Some(dom) = t.get_mut(&self.m.name) else {
            return Ok(());
        };
        let mut rec = dom.rec.clone();
        let Some(mark) = rec.migration.as_mut() else {
            return Ok(());
        };
        mark.state = Some(MachineState::Source(state.clone()));
        crate::daemon::commit(&self.d.db, dom, rec)
    }

    /// Records the secret the target handed over for asking about the
    /// outcome later.
    pub(super) async fn store_secret(&self, secret: Option<String>) -> Result<()> {
        let mut t = self.d.table();
        let Some(dom) = t.get_mut(&self.m.name) else {
            return Ok(());
        };
        let mut rec = dom.rec.clone();
        if let Some(mark) = rec.migration.as_mut() {
            mark.secret = secret;
        }
        crate::daemon::commit(&self.d.db, dom, rec)
    }

    /// Leaves the domain for the administrator: the unsettled error `note`
    /// (flag `e`), and with `suspended` the state of a paused copy.
    pub(super) async fn mark_error(&self, note: &str, suspended: bool) -> Result<()> {
        let mut t = self.d.table();
        let Some(dom) = t.get_mut(&self.m.name) else {
            return Ok(());
        };
        let edit = |rec: &mut crate::record::DomainRecord| {
            if let Some(mark) = rec.migration.as_mut() {
                mark.error = Some(note.to_string());
            }
        };
        if suspended && dom.rec.state == DomainState::Active {
            let suspend = ldm_api::state::Transition::Suspend;
            crate::lifecycle::transition(&self.d.db, dom, suspend, edit)
        } else {
            let mut rec = dom.rec.clone();
            edit(&mut rec);
            crate::daemon::commit(&self.d.db, dom, rec)
        }
    }

    /// Takes back the error note (flag `e`): the migration goes on.
    pub(super) async fn clear_error(&self) -> Result<()> {
        let mut t = self.d.table();
        let Some(dom) = t.get_mut(&self.m.name) else {
            return Ok(());
        };
        let mut rec = dom.rec.clone();
        if let Some(mark) = rec.migration.as_mut() {
            mark.error = None;
        }
        crate::daemon::commit(&self.d.db, dom, rec)
    }

    /// The target runs the domain: the source copy goes.
    pub(super) async fn destroy_source(&self) {
        super::settle::destroy(&self.d, &self.m.name).await
    }

    /// The target has no copy: the source runs on.
    pub(super) async fn resume(&self) -> Result<()> {
        super::settle::resume(&self.d, &self.m.name, false).await
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
            storage_bytes: 0,
            storage_ms: 0,
            pause: None,
            postcopy_ms: None,
            choice: copy.and(self.choice.clone()),
        })
    }
}

//! The source side of a migration.
use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use ldm_api::migration::MigrateRequest;
use ldm_api::{ErrorKind, Reply, Response};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// `migrate-domain`
pub async fn migrate(
    _d: &Arc<Daemon>,
    _m: MigrateRequest,
    _tx: &mpsc::Sender<Response>,
    _gone: watch::Receiver<bool>,
) -> Result<Reply> {
    Err(refuse(ErrorKind::Internal, "migration is not built yet"))
}

/// `cancel-operation migration`
pub async fn cancel(_d: &Daemon, _name: &str) -> Result<()> {
    Err(refuse(ErrorKind::Internal, "migration is not built yet"))
}

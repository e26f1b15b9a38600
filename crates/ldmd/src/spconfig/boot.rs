//! Applying the selected configuration at ldmd's first start after the
//! host booted: the kernel's boot id (or `--boot-id`) differs from the one
//! stored at the previous start. The saved configuration replaces the
//! host's: domains and services not in it are removed from the database;
//! its domains come back inactive, bound or started as they were saved.

use super::snapshot::SavedState;
use super::store::{BOOT_ID, CURRENT, NEXT};
use super::FACTORY_DEFAULT;
use crate::daemon::{Daemon, Domain};
use crate::error::{Error, Result};
use crate::ops::lifecycle;
use std::sync::Arc;

/// Where the kernel publishes this boot's id.
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// This boot's id: the configured one (`--boot-id`), else the kernel's.
pub fn boot_id(configured: Option<&str>) -> Result<String> {
    match configured {
        Some(id) => Ok(id.to_string()),
        None => std::fs::read_to_string(BOOT_ID_FILE)
            .map(|s| s.trim().to_string())
            .map_err(|e| Error::io(format!("cannot read {BOOT_ID_FILE}"), e)),
    }
}

/// Runs once at start, after re-adoption and before ldmd serves anyone.
pub async fn at_start(d: &Arc<Daemon>) -> Result<()> {
    let now = boot_id(d.cfg.boot_id.as_deref())?;
    if d.db.meta(BOOT_ID)?.as_deref() == Some(now.as_str()) {
        return Ok(());
    }
    if apply_selected(d).await? {
        d.db.set_meta(BOOT_ID, &now)?;
    }
    Ok(())
}

/// Applies the configuration selected for power-on. False when it must
/// wait: domains still run (the boot id changed without a reboot), so the
/// next start tries again.
async fn apply_selected(d: &Arc<Daemon>) -> Result<bool> {
    let name = d.db.meta(NEXT)?.unwrap_or_else(|| FACTORY_DEFAULT.into());
    if name == FACTORY_DEFAULT {
        return Ok(true);
    }
    let Some(cfg) = d.db.spconfig(&name)? else {
        tracing::warn!(config = %name, "the configuration selected for power-on is gone");
        return Ok(true);
    };
    let running: Vec<String> = d
        .table()
        .values()
        .filter(|dom| dom.rt.is_some())
        .map(|dom| dom.rec.spec.name.clone())
        .collect();
    if !running.is_empty() {
        tracing::error!(
            config = %name,
            "the host booted but domains still run ({}): configuration {name} is not applied; stop them and restart ldmd to apply it",
            running.join(", ")
        );
        return Ok(false);
    }
    d.db.replace_configuration(&cfg)?;
    {
        let mut t = d.table();
        t.clear();
        for rec in d.db.domains()? {
            t.insert(rec.spec.name.clone(), Domain::new(rec));
        }
    }
    d.db.set_meta(CURRENT, &name)?;
    tracing::info!(config = %name, "host booted: configuration applied");
    // The saved switches' bridges, and none of the others.
    crate::net::sync(d).await;
    for s in &cfg.domains {
        let n = &s.spec.name;
        if s.state == SavedState::Inactive {
            continue;
        }
        if let Err(e) = lifecycle::bind(d, n).await {
            tracing::error!(domain = %n, "configuration {name}: cannot bind: {e}");
            continue;
        }
        if s.state == SavedState::Active {
            match lifecycle::start(d, n).await {
                Ok(()) => tracing::info!(domain = %n, "configuration {name}: started"),
                Err(e) => tracing::error!(domain = %n, "configuration {name}: cannot start: {e}"),
            }
        }
    }
    Ok(true)
}

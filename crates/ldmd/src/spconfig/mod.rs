//! Saved configurations (Oracle's SP configurations): `add-spconfig` saves
//! the whole host configuration by name and selects it for the next
//! power-on, `set-spconfig` selects one, `remove-spconfig` and
//! `list-spconfig`. At its first start after the host booted, ldmd applies
//! the selected one ([`boot`]).

pub mod boot;
pub mod snapshot;
pub mod store;

use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use ldm_api::request::SpconfigView;
use ldm_api::ErrorKind;
use snapshot::HostConfig;
use store::{CURRENT, NEXT};

/// The built-in configuration: selecting it means nothing is applied at
/// power-on; the host keeps what its database holds.
pub const FACTORY_DEFAULT: &str = "factory-default";

fn not_found(name: &str) -> crate::error::Error {
    refuse(
        ErrorKind::NotFound,
        format!("there is no configuration {name}: `ldm list-spconfig` shows the saved ones"),
    )
}

fn selected(d: &Daemon, key: &str) -> Result<String> {
    Ok(d.db.meta(key)?.unwrap_or_else(|| FACTORY_DEFAULT.into()))
}

/// `add-spconfig NAME`
pub async fn add(d: &Daemon, name: &str) -> Result<()> {
    ldm_api::storage::check_name("configuration", name)
        .map_err(|m| refuse(ErrorKind::BadRequest, m))?;
    if name == FACTORY_DEFAULT {
        return Err(refuse(
            ErrorKind::BadRequest,
            "factory-default is the built-in configuration: choose another name",
        ));
    }
    let cfg = HostConfig::capture(d)?;
    if !d.db.add_spconfig(name, &cfg)? {
        return Err(refuse(
            ErrorKind::Exists,
            format!("configuration {name} already exists: remove it first with `ldm remove-spconfig {name}`, or choose another name"),
        ));
    }
    d.db.set_meta(NEXT, name)?;
    d.db.set_meta(CURRENT, name)?;
    tracing::info!(
        config = name,
        domains = cfg.domains.len(),
        "configuration saved"
    );
    Ok(())
}

/// `set-spconfig NAME`
pub async fn set(d: &Daemon, name: &str) -> Result<()> {
    if name != FACTORY_DEFAULT && d.db.spconfig(name)?.is_none() {
        return Err(not_found(name));
    }
    d.db.set_meta(NEXT, name)
}

/// `remove-spconfig NAME`; the next power-on falls back to factory-default
/// if it was this one.
pub async fn remove(d: &Daemon, name: &str) -> Result<()> {
    if name == FACTORY_DEFAULT {
        return Err(refuse(
            ErrorKind::BadRequest,
            "factory-default is built in and cannot be removed",
        ));
    }
    if !d.db.delete_spconfig(name)? {
        return Err(not_found(name));
    }
    for key in [NEXT, CURRENT] {
        if selected(d, key)? == name {
            d.db.set_meta(key, FACTORY_DEFAULT)?;
        }
    }
    Ok(())
}

/// `list-spconfig`: factory-default first, then the saved ones.
pub async fn list(d: &Daemon) -> Result<Vec<SpconfigView>> {
    let (current, next) = (selected(d, CURRENT)?, selected(d, NEXT)?);
    let mut names = vec![FACTORY_DEFAULT.to_string()];
    names.extend(d.db.spconfigs()?);
    Ok(names
        .into_iter()
        .map(|name| SpconfigView {
            current: name == current,
            next_poweron: name == next,
            name,
        })
        .collect())
}

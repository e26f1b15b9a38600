//! Accounts (who may act on this host from a peer) and trusted certificates.

use crate::daemon::Daemon;
use crate::error::{refuse, Result};
use ldm_api::request::{TrustView, UserRole, UserView};
use ldm_api::ErrorKind;
use std::net::SocketAddr;

fn check_user_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 32
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(refuse(
            ErrorKind::BadRequest,
            format!(
                "'{name}' is not a valid user name: use up to 32 letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    Ok(())
}

/// The longest password, in bytes: a peer's Auth message carrying it must
/// fit the pre-authentication frame limit.
pub const MAX_PASSWORD_LEN: usize = 1024;

async fn hash(password: String) -> Result<String> {
    if password.is_empty() {
        return Err(refuse(
            ErrorKind::BadRequest,
            "an empty password is not allowed",
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(refuse(
            ErrorKind::BadRequest,
            format!("the password is longer than {MAX_PASSWORD_LEN} bytes: choose a shorter one"),
        ));
    }
    Ok(ldm_peer::hash_password_pooled(password).await?)
}

/// `add-user`
pub async fn add_user(d: &Daemon, name: &str, role: UserRole, password: String) -> Result<()> {
    check_user_name(name)?;
    if d.db.user(name)?.is_some() {
        return Err(refuse(
            ErrorKind::Exists,
            format!("user {name} already exists: change it with `ldm set-user`"),
        ));
    }
    let h = hash(password).await?;
    d.db.put_user(name, role, &h)
}

/// `set-user`
pub async fn set_user(
    d: &Daemon,
    name: &str,
    role: Option<UserRole>,
    password: Option<String>,
) -> Result<()> {
    let (old_role, old_hash) = d.db.user(name)?.ok_or_else(|| no_user(name))?;
    let h = match password {
        Some(p) => hash(p).await?,
        None => old_hash,
    };
    d.db.put_user(name, role.unwrap_or(old_role), &h)
}

/// `remove-user`
pub async fn remove_user(d: &Daemon, name: &str) -> Result<()> {
    if !d.db.delete_user(name)? {
        return Err(no_user(name));
    }
    Ok(())
}

/// `list-users`
pub async fn list_users(d: &Daemon) -> Result<Vec<UserView>> {
    d.db.users()
}

fn no_user(name: &str) -> crate::error::Error {
    refuse(
        ErrorKind::NotFound,
        format!("user {name} does not exist: `ldm list-users` shows the accounts"),
    )
}

/// Resolves `host:port` to a socket address.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| refuse(ErrorKind::Peer, format!("cannot resolve host {host}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| refuse(ErrorKind::Peer, format!("host {host} has no address")))
}

/// The key a target host is pinned under.
pub fn target_key(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

/// Connects to a host and returns the fingerprint it presents, and the one pinned.
pub async fn probe(d: &Daemon, host: &str, port: u16) -> Result<(String, Option<String>)> {
    let addr = resolve(host, port).await?;
    let fp = ldm_peer::probe_fingerprint(addr).await?;
    Ok((
        fp.to_string(),
        d.db.trust(&target_key(host, port), "target")?,
    ))
}

/// `add-trust`
pub async fn add_trust(
    d: &Daemon,
    host: &str,
    port: u16,
    fingerprint: Option<String>,
    source: bool,
) -> Result<String> {
    let fp = match fingerprint {
        Some(f) => f
            .parse::<ldm_peer::Fingerprint>()
            .map_err(|e| refuse(ErrorKind::BadRequest, e.to_string()))?
            .to_string(),
        None if source => {
            return Err(refuse(
                ErrorKind::BadRequest,
                "give the source host's fingerprint with fingerprint=… (`ldm list-devices -l` on that host shows it)",
            ))
        }
        None => probe(d, host, port).await?.0,
    };
    if source {
        d.db.put_trust(host, "source", &fp)?;
    } else {
        d.db.put_trust(&target_key(host, port), "target", &fp)?;
    }
    Ok(fp)
}

/// `remove-trust`
pub async fn remove_trust(d: &Daemon, host: &str, port: u16) -> Result<()> {
    let removed = d.db.delete_trust(&target_key(host, port))? | d.db.delete_trust(host)?;
    if !removed {
        return Err(refuse(
            ErrorKind::NotFound,
            format!("nothing is trusted for {host}: `ldm list-trust` shows the entries"),
        ));
    }
    Ok(())
}

/// `list-trust`
pub async fn list_trust(d: &Daemon) -> Result<Vec<TrustView>> {
    d.db.trusts()
}

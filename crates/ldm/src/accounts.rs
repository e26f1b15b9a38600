//! The account verbs: users of the local API and peers (`add-user`,
//! `set-user`, `list-users`, `add-trust`, `remove-trust`, `list-trust`).

use crate::client::Client;
use crate::commands::simple;
use crate::{prompt, props};
use ldm_api::request::UserRole;
use ldm_api::{Reply, Request};
use std::path::PathBuf;

fn role_and_user(args: &[String]) -> Result<(Option<UserRole>, String), String> {
    let (props, user) = props::split_props(args)?;
    let mut role = None;
    for (k, v) in props {
        match k.as_str() {
            "role" => role = Some(v.parse()?),
            _ => {
                return Err(format!(
                    "'{k}' is not a user property: use role=review|management|console"
                ))
            }
        }
    }
    Ok((role, user))
}

/// `add-user [-p FILE] [role=ROLE] NAME`: the password from the file or
/// asked for twice.
pub(crate) async fn add_user(
    client: &Client,
    password_file: Option<PathBuf>,
    args: &[String],
) -> Result<i32, String> {
    let (role, name) = role_and_user(args)?;
    let password = match password_file {
        Some(f) => ldm_peer::read_password_file(&f).map_err(|e| e.to_string())?,
        None => prompt::new_password()?,
    };
    simple(
        client,
        Request::AddUser {
            name,
            role: role.unwrap_or(UserRole::Management),
            password,
        },
    )
    .await
}

/// `set-user [-p FILE | --password] [role=ROLE] NAME`.
pub(crate) async fn set_user(
    client: &Client,
    password_file: Option<PathBuf>,
    ask_password: bool,
    args: &[String],
) -> Result<i32, String> {
    let (role, name) = role_and_user(args)?;
    let password = match (password_file, ask_password) {
        (Some(f), _) => Some(ldm_peer::read_password_file(&f).map_err(|e| e.to_string())?),
        (None, true) => Some(prompt::new_password()?),
        (None, false) => None,
    };
    if role.is_none() && password.is_none() {
        return Err(
            "nothing to change: give role=… and/or a new password (-p FILE or --password)".into(),
        );
    }
    simple(
        client,
        Request::SetUser {
            name,
            role,
            password,
        },
    )
    .await
}

pub(crate) async fn list_users(client: &Client) -> Result<i32, String> {
    let Reply::Users { users } = client
        .call(&Request::ListUsers)
        .await
        .map_err(|e| e.message)?
    else {
        return Err("unexpected answer from ldmd".into());
    };
    println!("USER             ROLE");
    for u in users {
        println!("{:<16} {}", u.name, u.role.as_str());
    }
    Ok(0)
}

/// `add-trust [--source] HOST[:PORT] [fingerprint=FP]`: without a
/// fingerprint, a source's certificate is learnt from its peer listener.
pub(crate) async fn add_trust(
    client: &Client,
    source: bool,
    args: &[String],
) -> Result<i32, String> {
    let (host, port) = props::parse_host_port(&args[0])?;
    let mut fingerprint = None;
    if let Some(p) = args.get(1) {
        match p.split_once('=') {
            Some(("fingerprint", v)) => fingerprint = Some(v.to_string()),
            _ => return Err(format!("'{p}' is not fingerprint=FP")),
        }
    }
    if source && fingerprint.is_none() {
        let Reply::Probe {
            fingerprint: fp, ..
        } = client
            .call(&Request::ProbeHost {
                host: host.clone(),
                port,
            })
            .await
            .map_err(|e| e.message)?
        else {
            return Err("unexpected answer from ldmd".into());
        };
        fingerprint = Some(fp);
    }
    simple(
        client,
        Request::AddTrust {
            host,
            port,
            fingerprint,
            source,
        },
    )
    .await
}

pub(crate) async fn remove_trust(client: &Client, host: &str) -> Result<i32, String> {
    let (host, port) = props::parse_host_port(host)?;
    simple(client, Request::RemoveTrust { host, port }).await
}

pub(crate) async fn list_trust(client: &Client) -> Result<i32, String> {
    let Reply::Trust { entries } = client
        .call(&Request::ListTrust)
        .await
        .map_err(|e| e.message)?
    else {
        return Err("unexpected answer from ldmd".into());
    };
    println!("{:<8} {:<24} FINGERPRINT", "KIND", "HOST");
    for e in entries {
        println!("{:<8} {:<24} {}", e.kind, e.host, e.fingerprint);
    }
    Ok(0)
}

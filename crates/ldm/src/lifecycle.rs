//! The lifecycle verbs on several domains at once (`start-domain -a`,
//! `stop-domain ldg1 ldg2`, …): one request per domain, in order, a line
//! per domain, exit status 1 if any failed.

use crate::client::Client;
use ldm_api::request::StopMode;
use ldm_api::{DomainState, Reply, Request};

/// Which verb, and with what.
#[derive(Debug, Clone, Copy)]
pub enum Verb {
    /// `bind-domain`
    Bind,
    /// `unbind-domain`
    Unbind,
    /// `start-domain`
    Start,
    /// `stop-domain`
    Stop {
        /// `-f` or `-q`.
        force: bool,
        /// `-H`, `-r` or neither.
        mode: StopMode,
        /// `-t SEC`.
        timeout_secs: Option<u64>,
    },
    /// `remove-domain`
    Remove,
}

impl Verb {
    fn request(self, name: String) -> Request {
        match self {
            Verb::Bind => Request::Bind { name },
            Verb::Unbind => Request::Unbind { name },
            Verb::Start => Request::Start { name },
            Verb::Stop {
                force,
                mode,
                timeout_secs,
            } => Request::Stop {
                name,
                force,
                mode,
                timeout_secs,
            },
            Verb::Remove => Request::RemoveDomain { name },
        }
    }

    /// What Oracle's ldm prints for a domain done (nothing for most verbs).
    fn done_line(self, name: &str) -> Option<String> {
        match self {
            Verb::Start => Some(format!("LDom {name} started")),
            Verb::Stop {
                mode: StopMode::Reboot,
                ..
            } => Some(format!("LDom {name} rebooted")),
            Verb::Stop { .. } => Some(format!("LDom {name} stopped")),
            _ => None,
        }
    }

    /// Whether `-a` takes a domain in `state`.
    fn takes(self, state: DomainState) -> bool {
        match self {
            Verb::Start => state == DomainState::Bound,
            Verb::Stop { force, .. } => {
                state == DomainState::Active || (force && state == DomainState::Suspended)
            }
            _ => true,
        }
    }
}

/// The domains `-a` means for `verb`: the primary never.
async fn all_for(client: &Client, verb: Verb) -> Result<Vec<String>, String> {
    let Reply::Domains { domains } = client
        .call(&Request::List { names: vec![] })
        .await
        .map_err(|e| e.message)?
    else {
        return Err("unexpected answer from ldmd".into());
    };
    Ok(domains
        .into_iter()
        .filter(|v| v.name != "primary" && verb.takes(v.state))
        .map(|v| v.name)
        .collect())
}

/// Runs `verb` on `names` (or, with `all`, on every domain it applies
/// to); returns the exit code.
pub async fn run(
    client: &Client,
    verb: Verb,
    all: bool,
    names: Vec<String>,
) -> Result<i32, String> {
    let names = if all {
        all_for(client, verb).await?
    } else {
        names
    };
    let mut failed = 0;
    for name in &names {
        match client.call(&verb.request(name.clone())).await {
            Ok(reply) => {
                if let Reply::Done { message: Some(m) } = reply {
                    println!("{m}");
                }
                if let Some(l) = verb.done_line(name) {
                    println!("{l}");
                }
            }
            Err(e) if names.len() == 1 => return Err(e.message),
            Err(e) => {
                eprintln!("{name}: {}", e.message);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} domains failed", names.len());
        return Ok(1);
    }
    Ok(0)
}

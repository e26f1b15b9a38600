//! `ldm evacuate`: moves every bound and active domain off this host.
//!
//! It runs in the CLI, on top of the local API the daemon already serves
//! (list, dry-run migration, migration, cancel): each move is an ordinary
//! `migrate-domain`, so every check, rollback and figure is the daemon's.
//! The plan is made afresh from the current state each time, so a
//! re-run after an interruption moves only what is left.

pub mod plan;
pub mod run;

use crate::client::Client;
use crate::props::parse_target;
use ldm_api::migration::{Auth, MigrateRequest};
use ldm_api::{DomainState, Reply, Request};
use plan::{Answer, Mover, Placement};

/// The default of `--max-parallel` (explained in `ldm evacuate --help`).
pub const DEFAULT_PARALLEL: usize = 2;

/// A target host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Peer port.
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What `evacuate` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The targets, in the order given.
    pub targets: Vec<Target>,
    /// Account on every target.
    pub user: String,
    /// Credentials for every target.
    pub auth: Auth,
    /// Most migrations at once.
    pub max_parallel: usize,
}

/// Parses `--targets h1[:port],h2,…`.
pub fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    let mut out: Vec<Target> = Vec::new();
    for part in text.split(',').map(str::trim) {
        let t = parse_target(part)?;
        if t.user.is_some() || t.new_name.is_some() {
            return Err(format!(
                "'{part}' in --targets: write HOST[:PORT] only; give the account once, after the options (ldm evacuate --targets h1,h2 admin)"
            ));
        }
        let t = Target {
            host: t.host,
            port: t.port,
        };
        if out.contains(&t) {
            return Err(format!("{t} is listed twice in --targets"));
        }
        out.push(t);
    }
    Ok(out)
}

/// A planned domain and where it goes.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The domain.
    pub mover: Mover,
    /// Where it goes, or every target's reasons it cannot.
    pub placement: Placement,
}

/// The domains to move: bound and active, the control domain excepted.
async fn movers(client: &Client) -> Result<(Vec<Mover>, Vec<(String, String)>), String> {
    let Reply::Domains { domains } = client
        .call(&Request::List { names: vec![] })
        .await
        .map_err(|e| e.message)?
    else {
        return Err("unexpected answer from ldmd to list".into());
    };
    let mut movers = Vec::new();
    let mut busy = Vec::new();
    for d in domains.into_iter().filter(|d| d.name != "primary") {
        match d.state {
            DomainState::Bound | DomainState::Active if d.operation.is_none() => {
                movers.push(Mover {
                    name: d.name,
                    vcpus: d.vcpus,
                    memory_mib: d.memory_mib,
                })
            }
            DomainState::Inactive => {}
            _ => busy.push((
                d.name,
                "an operation is running on it: re-run evacuate when it ends".into(),
            )),
        }
    }
    Ok((movers, busy))
}

/// Refuses a target whose certificate is not pinned here (as
/// `migrate-domain` would ask for interactively).
async fn check_trust(client: &Client, t: &Target) -> Result<(), String> {
    let reply = client
        .call(&Request::ProbeHost {
            host: t.host.clone(),
            port: t.port,
        })
        .await
        .map_err(|e| format!("cannot reach {t}: {}", e.message))?;
    match reply {
        Reply::Probe {
            fingerprint,
            pinned: Some(p),
        } if p == fingerprint => Ok(()),
        Reply::Probe { pinned: Some(p), fingerprint } => Err(format!(
            "the certificate of {t} has changed (pinned {p}, presented {fingerprint}): check the host, then `ldm remove-trust {t}` and `ldm add-trust {t}`"
        )),
        Reply::Probe { fingerprint, .. } => Err(format!(
            "{t} is not trusted yet (fingerprint {fingerprint}): check it on that host with `ldm list-devices -l`, then run `ldm add-trust {t}`"
        )),
        other => Err(format!("unexpected answer from ldmd: {other:?}")),
    }
}

/// The migration request for `name` to `t`.
pub fn request(o: &Options, name: &str, t: &Target, dry_run: bool) -> MigrateRequest {
    MigrateRequest {
        name: name.into(),
        host: t.host.clone(),
        port: t.port,
        user: o.user.clone(),
        new_name: None,
        auth: o.auth.clone(),
        dry_run,
        accept_fingerprint: None,
        downtime_ms: None,
        bandwidth_mib: None,
        copy_storage: false,
        overwrite_storage: false,
        postcopy: Default::default(),
    }
}

async fn answer(client: &Client, o: &Options, name: &str, t: &Target) -> Answer {
    match client
        .call(&Request::Migrate(request(o, name, t, true)))
        .await
    {
        Ok(Reply::DryRun(r)) if r.failures.is_empty() => Answer::Passes(r.room),
        Ok(Reply::DryRun(r)) => Answer::Fails(r.failures),
        Ok(other) => Answer::Fails(vec![format!("unexpected answer from ldmd: {other:?}")]),
        Err(e) => Answer::Fails(vec![e.message]),
    }
}

/// Plans the evacuation from the current state: every domain's dry run
/// against every target, then [`plan::plan`]. Changes nothing. Also returns
/// the domains left out (busy with another operation) and why.
pub async fn make_plan(
    client: &Client,
    o: &Options,
) -> Result<(Vec<Planned>, Vec<(String, String)>), String> {
    let (movers, busy) = movers(client).await?;
    let mut trust = Vec::new();
    for t in &o.targets {
        trust.push(check_trust(client, t).await.err());
    }
    let mut answers = Vec::new();
    for m in &movers {
        let mut row = Vec::new();
        for (t, problem) in o.targets.iter().zip(&trust) {
            row.push(match problem {
                Some(p) => Answer::Fails(vec![p.clone()]),
                None => answer(client, o, &m.name, t).await,
            });
        }
        answers.push(row);
    }
    let placements = plan::plan(&movers, &answers);
    let planned = movers
        .into_iter()
        .zip(placements)
        .map(|(mover, placement)| Planned { mover, placement })
        .collect();
    Ok((planned, busy))
}

/// The plan as printed: each domain's target, and every reason of those
/// that fit nowhere.
pub fn plan_text(o: &Options, planned: &[Planned], busy: &[(String, String)]) -> String {
    use std::fmt::Write;
    let mut s = format!("{:<16} {:>5} {:>9}  TARGET\n", "DOMAIN", "VCPU", "MEMORY");
    for p in planned {
        let to = match &p.placement {
            Placement::To(t) => o.targets[*t].to_string(),
            Placement::Nowhere(_) => "(fits nowhere: stays)".into(),
        };
        let (name, vcpus, mib) = (&p.mover.name, p.mover.vcpus, p.mover.memory_mib);
        let _ = writeln!(s, "{name:<16} {vcpus:>5} {mib:>6}MiB  {to}");
    }
    for p in planned {
        if let Placement::Nowhere(reasons) = &p.placement {
            let _ = writeln!(s, "{} fits on no target:", p.mover.name);
            for (t, rs) in reasons {
                for r in rs {
                    let _ = writeln!(s, "    {}: {r}", o.targets[*t]);
                }
            }
        }
    }
    for (name, why) in busy {
        let _ = writeln!(s, "{name} is skipped: {why}");
    }
    s
}

/// What the command line gave `evacuate`.
pub struct Args {
    /// `-n`
    pub dry_run: bool,
    /// `--targets`
    pub targets: String,
    /// `--max-parallel`
    pub max_parallel: usize,
    /// `-p FILE`
    pub password_file: Option<std::path::PathBuf>,
    /// `-c`
    pub cert: bool,
    /// `[USER@]`
    pub user: Option<String>,
    /// `--on-interrupt`
    pub on_interrupt: run::OnInterrupt,
}

/// Runs `ldm evacuate`; returns the exit code (0: every planned domain
/// moved and none fits nowhere; 1 otherwise).
pub async fn cli(client: &Client, a: Args) -> Result<i32, String> {
    if a.max_parallel == 0 {
        return Err("--max-parallel must be at least 1".into());
    }
    if a.cert && a.password_file.is_some() {
        return Err(
            "-c and -p exclude each other: authenticate with a certificate or a password".into(),
        );
    }
    let targets = parse_targets(&a.targets)?;
    let user = match a.user.as_deref().map(|u| u.trim_end_matches('@')) {
        Some("") => return Err("the account is empty: write USER or USER@".into()),
        Some(u) => u.to_string(),
        None => crate::migrate::invoking_user(),
    };
    let auth = if a.cert {
        Auth::Certificate
    } else if let Some(f) = &a.password_file {
        Auth::Password(ldm_peer::read_password_file(f).map_err(|e| e.to_string())?)
    } else {
        Auth::Password(crate::prompt::password("Target Password: ")?)
    };
    let o = Options {
        targets,
        user,
        auth,
        max_parallel: a.max_parallel,
    };
    let t0 = std::time::Instant::now();
    let (planned, busy) = make_plan(client, &o).await?;
    let plan_time = t0.elapsed();
    if planned.is_empty() && busy.is_empty() {
        println!("No bound or active domain on this host: nothing to evacuate");
        return Ok(0);
    }
    print!("{}", plan_text(&o, &planned, &busy));
    let stuck = busy.len()
        + planned
            .iter()
            .filter(|p| matches!(p.placement, Placement::Nowhere(_)))
            .count();
    if a.dry_run {
        return Ok(i32::from(stuck > 0));
    }
    println!();
    let ctl = std::sync::Arc::new(run::Control::new(a.on_interrupt));
    let watcher = run::watch_signals(client.clone(), ctl.clone())
        .map_err(|e| format!("cannot watch for Ctrl-C: {e}"))?;
    let rows = run::execute(client, &o, &planned, ctl).await;
    watcher.abort();
    println!();
    run::print_table(&rows);
    println!("{}", run::timing(plan_time, &rows));
    let all_moved = rows
        .iter()
        .all(|r| matches!(r.outcome, run::Outcome::Moved { .. }));
    Ok(i32::from(!all_moved || !busy.is_empty()))
}

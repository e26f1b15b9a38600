//! `ldm migrate-domain` and `ldm cancel-operation migration`.

use crate::client::Client;
use crate::prompt;
use crate::props::parse_target;
use indicatif::{ProgressBar, ProgressStyle};
use ldm_api::migration::{Auth, MigrateRequest, Summary};
use ldm_api::{ErrorKind, Event, Reply, Request};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Options of `migrate-domain`.
pub struct MigrateArgs {
    /// `-n`
    pub dry_run: bool,
    /// `-p FILE`
    pub password_file: Option<PathBuf>,
    /// `-c`
    pub cert: bool,
    /// `--downtime-limit`
    pub downtime_ms: Option<u64>,
    /// `--max-bandwidth`
    pub bandwidth_mib: Option<u64>,
    /// `--copy-storage`
    pub copy_storage: bool,
    /// `--overwrite-storage`
    pub overwrite_storage: bool,
    /// `--postcopy`
    pub postcopy: ldm_api::migration::PostcopyMode,
    /// `--json`
    pub json: bool,
    /// `--accept-fingerprint`
    pub accept_fingerprint: Option<String>,
    /// Domain.
    pub name: String,
    /// `[USER@]HOST[:PORT][:NEWNAME]`
    pub target: String,
}

/// The local account name, the default account on targets.
pub fn invoking_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}

fn fmt_bytes(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Prints a migration's figures.
pub fn print_summary(s: &Summary) {
    println!(
        "Domain {} migrated to {}{}",
        s.name,
        s.target,
        if s.target_name != s.name {
            format!(" as {}", s.target_name)
        } else {
            String::new()
        }
    );
    println!("    total time   {:.2} s", s.total_ms as f64 / 1000.0);
    if s.live {
        println!("    downtime     {} ms", s.downtime_ms);
        if let Some(p) = &s.pause {
            println!(
                "    pause        QEMU {} ms, source hand-off {} ms, link {} ms (both ways), target: record {} ms, load {} ms, cont {} ms",
                p.qemu_downtime_ms,
                p.completion_to_commit_ms,
                p.link_ms,
                p.target_record_ms,
                p.target_load_ms,
                p.target_cont_ms
            );
        }
        println!(
            "    bytes sent   {} ({} bytes)",
            fmt_bytes(s.bytes_sent),
            s.bytes_sent
        );
        println!("    passes       {}", s.passes);
        if let Some(ms) = s.postcopy_ms {
            println!(
                "    post-copy    {:.2} s (the guest ran on the target while the rest of its memory followed)",
                ms as f64 / 1000.0
            );
        }
        println!(
            "    copy         {:.2} s in QEMU ({} ms set-up), {:.0} MiB/s bulk over {} channels",
            s.qemu_ms as f64 / 1000.0,
            s.setup_ms,
            s.bulk_rate_mib_s,
            s.channels
        );
        if let Some(c) = &s.choice {
            println!("    chosen       {c}");
        }
    } else {
        println!("    (domain was not running: its definition and binding moved)");
    }
    for w in &s.warnings {
        println!("    warning: {w}");
    }
}

/// Runs `migrate-domain`; returns the exit code.
pub async fn run(client: &Client, a: MigrateArgs) -> Result<i32, String> {
    let target = parse_target(&a.target)?;
    let user = target.user.clone().unwrap_or_else(invoking_user);
    // Whom are we talking to? Pin on first contact, refuse a changed certificate.
    let mut accept = a.accept_fingerprint.clone();
    if accept.is_none() {
        let probe = client
            .call(&Request::ProbeHost {
                host: target.host.clone(),
                port: target.port,
            })
            .await
            .map_err(|e| e.message)?;
        if let Reply::Probe {
            fingerprint,
            pinned,
        } = probe
        {
            match pinned {
                Some(p) if p == fingerprint => {}
                Some(p) => {
                    return Err(format!(
                        "the certificate of {}:{} has changed: expected fingerprint {p}, got {fingerprint}. If the host was reinstalled, remove the old trust with `ldm remove-trust {}:{}` and add it again; otherwise someone may be intercepting the connection",
                        target.host, target.port, target.host, target.port
                    ))
                }
                None => {
                    if !prompt::interactive() {
                        return Err(format!(
                            "host {}:{} is not trusted yet. Its certificate fingerprint is {fingerprint}. Check it (on that host: `ldm list-devices -l`), then run `ldm add-trust {}:{}`",
                            target.host, target.port, target.host, target.port
                        ));
                    }
                    eprintln!("The authenticity of host {}:{} can't be established.", target.host, target.port);
                    eprintln!("Its certificate fingerprint is SHA256 {fingerprint}.");
                    if !prompt::confirm("Trust this host and continue?") {
                        return Err("host not trusted: nothing was done".into());
                    }
                    accept = Some(fingerprint);
                }
            }
        }
    }
    let auth = if a.cert {
        Auth::Certificate
    } else if let Some(f) = &a.password_file {
        Auth::Password(ldm_peer::read_password_file(f).map_err(|e| e.to_string())?)
    } else {
        Auth::Password(prompt::password("Target Password: ")?)
    };
    let req = MigrateRequest {
        name: a.name.clone(),
        host: target.host.clone(),
        port: target.port,
        user,
        new_name: target.new_name.clone(),
        auth,
        dry_run: a.dry_run,
        accept_fingerprint: accept,
        downtime_ms: a.downtime_ms,
        bandwidth_mib: a.bandwidth_mib,
        copy_storage: a.copy_storage,
        overwrite_storage: a.overwrite_storage,
        postcopy: a.postcopy,
    };

    // SIGINT/SIGTERM cancel the migration (through the daemon, so the
    // rollback finishes before we exit).
    let name = a.name.clone();
    let root_client = client.clone();
    let canceller = tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        eprintln!("\ncancelling the migration of {name}…");
        let _ = root_client.call(&Request::CancelMigration { name }).await;
    });

    let bar = (!a.json && !a.dry_run && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(100);
        b.set_style(
            ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_prefix("checks");
        b
    });
    let result = client
        .call_with_events(&Request::Migrate(req), |ev| match ev {
            Event::Progress(p) => {
                if let Some(b) = &bar {
                    b.set_prefix(p.phase.as_str());
                    b.set_position(p.percent as u64);
                    let eta = crate::forecast::seconds_left(&p)
                        .map(|s| format!(", ~{s:.1} s left"))
                        .unwrap_or_default();
                    b.set_message(format!(
                        "{:.0} MiB/s, {} sent, {} remaining{eta}, pass {}",
                        p.rate_mib_s,
                        fmt_bytes(p.transferred_bytes),
                        fmt_bytes(p.remaining_bytes),
                        p.passes
                    ));
                }
            }
            Event::Info { message } => {
                if let Some(b) = &bar {
                    b.println(&message);
                } else if !a.json {
                    eprintln!("{message}");
                }
            }
        })
        .await;
    canceller.abort();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(Reply::DryRun(r)) => {
            for w in &r.warnings {
                println!("Warning: {w}");
            }
            if let Some(c) = &r.copy {
                println!(
                    "Storage copy: {} to copy, about {} s at {} MiB/s ({})",
                    fmt_bytes(c.bytes),
                    c.seconds,
                    c.rate_mib_s,
                    c.rate_source
                );
            }
            if let Some(e) = r.memory.as_ref().filter(|_| !a.json) {
                for line in crate::forecast::lines(e) {
                    println!("{line}");
                }
            }
            if let Some(c) = r.choice.as_ref().filter(|_| !a.json) {
                println!("Copy: {c}");
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            }
            if r.failures.is_empty() {
                println!("Domain Migration of LDom {} would succeed", a.name);
                Ok(0)
            } else {
                for f in &r.failures {
                    eprintln!("{f}");
                }
                eprintln!(
                    "Domain Migration of LDom {} would fail if attempted",
                    a.name
                );
                Ok(1)
            }
        }
        Ok(Reply::Migrated(s)) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                print_summary(&s);
            }
            Ok(0)
        }
        Ok(other) => Err(format!("unexpected answer from ldmd: {other:?}")),
        Err(e) => {
            eprintln!("{}", e.message);
            if e.kind == ErrorKind::Cancelled {
                eprintln!("Domain Migration of LDom {} was cancelled", a.name);
            } else {
                eprintln!("Domain Migration of LDom {} failed", a.name);
            }
            Ok(1)
        }
    }
}

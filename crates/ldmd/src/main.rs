//! `ldmd --root DIR [--listen ADDR]`: the Logical Domains Manager daemon.

use anyhow::Context;
use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The Logical Domains Manager daemon: runs domains (QEMU virtual machines)
/// on this host, serves the `ldm` command, and migrates domains to and from
/// peer managers.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Directory for the database, sockets, logs and runtime files.
    #[arg(long, env = "LDM_ROOT", default_value = ldm_api::DEFAULT_ROOT)]
    root: PathBuf,
    /// Accept peer managers (migrations) over TLS on IP[:PORT] (default port 8101).
    #[arg(long, value_name = "IP[:PORT]")]
    listen: Option<String>,
    /// Address the domain consoles listen on (default: the --listen IP if it
    /// is a loopback address, else 127.0.0.1).
    #[arg(long, value_name = "IP")]
    console_address: Option<IpAddr>,
    /// Console port range of the default vcc, created on first start.
    #[arg(long, value_name = "A-B", default_value = "5000-5099")]
    console_ports: String,
    /// vCPUs this host may give to domains (default: its CPUs).
    #[arg(long)]
    vcpus: Option<u32>,
    /// Memory this host may give to domains, e.g. 8G (default: its memory less 1G).
    #[arg(long)]
    memory: Option<String>,
    /// Accelerator: kvm, tcg or auto (kvm only if the CPU has vmx/svm and /dev/kvm opens).
    #[arg(long, default_value = "auto")]
    accel: String,
    /// QEMU binary (default: qemu-system-x86_64 from PATH).
    #[arg(long)]
    qemu: Option<PathBuf>,
    /// Host name shown to peers.
    #[arg(long)]
    hostname: Option<String>,
}

fn parse_listen(s: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip: IpAddr = s
        .parse()
        .with_context(|| format!("--listen {s}: give an IP address, optionally with :PORT"))?;
    Ok(SocketAddr::new(ip, ldm_api::DEFAULT_PEER_PORT))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LDMD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut cfg = ldmd::Config::new(&args.root);
    cfg.listen = args.listen.as_deref().map(parse_listen).transpose()?;
    cfg.console_addr = args.console_address.unwrap_or_else(|| match cfg.listen {
        Some(a) if a.ip().is_loopback() => a.ip(),
        _ => IpAddr::from([127, 0, 0, 1]),
    });
    cfg.default_vcc =
        ldm_api::service::parse_port_range(&args.console_ports).map_err(anyhow::Error::msg)?;
    cfg.vcpus = args.vcpus;
    cfg.memory_mib = args
        .memory
        .as_deref()
        .map(ldm_api::parse_size_mib)
        .transpose()
        .context("--memory")?;
    cfg.accel = Some(args.accel);
    cfg.qemu = args.qemu;
    cfg.hostname = args.hostname;

    let local = ldmd::bind_local(&cfg.root)?;
    let peer = match cfg.listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen for peers on {a}"))?,
        ),
        None => None,
    };
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    ldmd::run(cfg, local, peer, shutdown).await?;
    Ok(())
}

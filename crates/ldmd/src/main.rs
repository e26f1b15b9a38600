//! `ldmd --root DIR [--listen ADDR]`: the Logical Domains Manager daemon.

use anyhow::Context;
use clap::Parser;
use ldmd::cli::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ldmd::logging::init();
    let args = Args::parse();
    let cfg = args.config().map_err(anyhow::Error::msg)?;

    let local = ldmd::bind_local(&cfg.root)?;
    let peer = match cfg.listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen for peers on {a}"))?,
        ),
        None => None,
    };
    let metrics = match cfg.metrics {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot serve metrics on {a}"))?,
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
    ldmd::run_with_metrics(cfg, local, peer, metrics, shutdown).await?;
    Ok(())
}

//! The ldm side: two ldmd hosts on loopback, `ldm migrate-domain` between them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use ldm_api::migration::Summary;
use tokio::process::Command;
use tokio::time::Instant;

use crate::console::{Scan, Verdict};
use crate::procs::{stop_child, tail, TempDir};
use crate::report::Measure;
use crate::scenario::{wait_ready, Env, Scenario, SETTLE};

const DOMAIN: &str = "ldg1";
const USER: &str = "admin";
/// Timeout of an ordinary `ldm` command.
const LDM_TIMEOUT: Duration = Duration::from_secs(120);
/// Timeout of `ldm migrate-domain`.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long ldmd may take to answer its first `ldm list`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One ldmd with its temporary root. Dropping it stops ldmd, then (through
/// the root's [`TempDir`]) kills its QEMUs and removes the root.
struct Host {
    child: Child,
    ldm: PathBuf,
    name: &'static str,
    root: TempDir,
}

impl Host {
    fn start(
        env: &Env,
        name: &'static str,
        ip: &str,
        consoles: (u16, u16),
    ) -> anyhow::Result<Host> {
        let root = TempDir::new(name)?;
        let log = std::fs::File::create(root.path().join("ldmd.log"))?;
        let child = std::process::Command::new(&env.ldmd)
            .arg("--root")
            .arg(root.path())
            .args(["--listen", &format!("{ip}:{}", env.peer_port)])
            .args(["--hostname", name])
            .args(["--console-ports", &format!("{}-{}", consoles.0, consoles.1)])
            .args(["--accel", "tcg"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", env.ldmd.display()))?;
        Ok(Host {
            child,
            ldm: env.ldm.clone(),
            name,
            root,
        })
    }

    fn log_tail(&self) -> String {
        tail(&self.root.path().join("ldmd.log"), 15)
    }

    /// Runs `ldm ARGS` against this host; its stdout on success.
    async fn ldm_with(&self, args: &[&str], timeout: Duration) -> anyhow::Result<String> {
        let run = Command::new(&self.ldm)
            .args(args)
            .env("LDM_ROOT", self.root.path())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(timeout, run)
            .await
            .with_context(|| {
                format!(
                    "{}: `ldm {}` took more than {timeout:?}",
                    self.name,
                    args.join(" ")
                )
            })?
            .with_context(|| format!("cannot run {}", self.ldm.display()))?;
        if !out.status.success() {
            bail!(
                "{}: `ldm {}` failed ({}): {}{}",
                self.name,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn ldm(&self, args: &[&str]) -> anyhow::Result<String> {
        self.ldm_with(args, LDM_TIMEOUT).await
    }

    async fn console(&self) -> anyhow::Result<String> {
        self.ldm(&["console", "--dump", DOMAIN]).await
    }

    /// Waits until ldmd answers `ldm list`.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{}: ldmd exited ({status}):\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            match self.ldm(&["list"]).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!(
                        "{}: ldmd not ready:\n{}",
                        self.name,
                        self.log_tail()
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(2));
    }
}

/// One migration through ldm.
pub async fn run(env: &Env, sc: Scenario) -> anyhow::Result<Measure> {
    let mut a = Host::start(env, "hostA", "127.0.0.1", (5600, 5609))?;
    let mut b = Host::start(env, "hostB", "127.0.0.2", (5610, 5619))?;
    a.wait_ready().await?;
    b.wait_ready().await?;
    let result = migrate(env, sc, &a, &b).await;
    let _ = b.ldm(&["stop-domain", "-f", DOMAIN]).await;
    let _ = a.ldm(&["stop-domain", "-f", DOMAIN]).await;
    result.map_err(|e| {
        e.context(format!(
            "ldmd A log ends with:\n{}\nldmd B log ends with:\n{}",
            a.log_tail(),
            b.log_tail()
        ))
    })
}

async fn migrate(env: &Env, sc: Scenario, a: &Host, b: &Host) -> anyhow::Result<Measure> {
    let pw = a.root.path().join("pw");
    write_password(&pw)?;
    let pw_arg = pw.to_string_lossy();
    b.ldm(&["add-user", "-p", &pw_arg, USER]).await?;
    let target = format!("127.0.0.2:{}", env.peer_port);
    a.ldm(&["add-trust", &target]).await?;

    a.ldm(&["add-domain", DOMAIN]).await?;
    a.ldm(&["set-vcpu", "1", DOMAIN]).await?;
    a.ldm(&["set-memory", &format!("{}M", sc.memory_mib), DOMAIN])
        .await?;
    a.ldm(&[
        "set-var",
        &format!("kernel={}", env.kernel.display()),
        &format!("initrd={}", env.initrd.display()),
        &format!("boot-args={}", sc.boot_args()),
        DOMAIN,
    ])
    .await?;
    a.ldm(&["bind", DOMAIN]).await?;
    a.ldm(&["start", DOMAIN]).await?;
    wait_ready(|| a.console()).await?;

    let from_seq = Scan::of(&a.console().await?).last_seq();
    let t0 = Instant::now();
    let out = a
        .ldm_with(
            &[
                "migrate-domain",
                "--json",
                "-p",
                &pw_arg,
                DOMAIN,
                &format!("{USER}@{target}"),
            ],
            MIGRATE_TIMEOUT,
        )
        .await?;
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let s = parse_summary(&out)?;
    if !s.live {
        bail!("ldm migrated the definition only: the domain was not running");
    }

    let handoff_seq = Scan::of(&b.console().await?).last_seq();
    tokio::time::sleep(SETTLE).await;
    let after = Scan::of(&b.console().await?);
    // Like for like with plain QEMU's total-time: QEMU's own migration time
    // (migrate to completion). The whole command's time is kept as wall_ms.
    Ok(Measure {
        total_ms: s.qemu_ms as f64,
        bulk_mib_s: Some(s.bulk_rate_mib_s),
        downtime_ms: s.downtime_ms as f64,
        bytes: s.bytes_sent,
        passes: s.passes,
        channels: s.channels,
        wall_ms: Some(wall_ms.max(s.total_ms as f64)),
        verdict: Verdict::judge(from_seq, handoff_seq, &after),
    })
}

fn write_password(path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, "secret\n")?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// The JSON summary `ldm migrate-domain --json` prints.
fn parse_summary(out: &str) -> anyhow::Result<Summary> {
    let start = out
        .find('{')
        .context("ldm migrate-domain printed no JSON")?;
    serde_json::from_str(&out[start..])
        .with_context(|| format!("cannot parse the summary of ldm migrate-domain: {out}"))
}

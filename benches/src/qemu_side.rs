//! The plain QEMU side: two QEMUs started with the ldm-qemu library and
//! migrated with QEMU's default settings (no tuning at all).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use ldm_qemu::{launch, MachineConfig, MigrationInfo, MigrationStatus, Qmp, RunState};
use tokio::time::Instant;

use crate::console::{Scan, Verdict};
use crate::procs::TempDir;
use crate::report::{Measure, Outcome};
use crate::scenario::{wait_ready, Env, Scenario, SETTLE};

const POLL: Duration = Duration::from_millis(100);

/// One machine definition under `dir/role/`.
fn machine(env: &Env, sc: Scenario, dir: &Path, role: &str) -> anyhow::Result<MachineConfig> {
    // A random UUID from the kernel, typed through serde so this crate
    // needs no uuid dependency. Both ends use the same one, as with ldm.
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid")?;
    let uuid = serde_json::from_value(serde_json::Value::String(uuid.trim().into()))
        .context("bad UUID from /proc/sys/kernel/random/uuid")?;
    let run = dir.join(role);
    let mut cfg = MachineConfig::new("ldg1", uuid, &run);
    cfg.vcpus = 1;
    cfg.memory_mib = sc.memory_mib;
    cfg.machine_type = ldm_qemu::DEFAULT_MACHINE_TYPE.into();
    cfg.cpu_model = "max".into();
    cfg.accel = ldm_qemu::Accel::Tcg;
    cfg.kernel = Some(env.kernel.clone());
    cfg.initrd = Some(env.initrd.clone());
    cfg.append = sc.boot_args();
    cfg.console_log = Some(run.join("console.log"));
    Ok(cfg)
}

fn console(cfg: &MachineConfig) -> String {
    let log = cfg
        .console_log
        .as_deref()
        .unwrap_or(Path::new("/nonexistent"));
    String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned()
}

/// A free TCP port on 127.0.0.1 for the migration stream.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One migration with plain QEMU. The QEMUs die with the temporary
/// directory holding their pidfiles.
pub async fn run(env: &Env, sc: Scenario) -> anyhow::Result<Outcome> {
    let dir = TempDir::new("qemu")?;
    let src = machine(env, sc, dir.path(), "src")?;
    let mut dst = machine(env, sc, dir.path(), "dst")?;
    dst.uuid = src.uuid;

    launch(&env.qemu, &src, false)
        .await
        .context("starting the source QEMU")?;
    let mut sq = Qmp::connect(&src.qmp_socket).await?;
    wait_ready(|| async { Ok(console(&src)) }).await?;

    launch(&env.qemu, &dst, true)
        .await
        .context("starting the destination QEMU")?;
    let mut dq = Qmp::connect(&dst.qmp_socket).await?;
    let uri = format!("tcp:127.0.0.1:{}", free_port()?);
    dq.migrate_incoming(&uri, false).await?;
    sq.migrate(&uri).await?;

    let deadline = Instant::now() + env.qemu_timeout;
    let info = loop {
        let info = sq.query_migrate().await?;
        match info.status {
            MigrationStatus::Completed => break info,
            MigrationStatus::Failed | MigrationStatus::Cancelled => bail!(
                "plain QEMU migration {}: {}",
                info.status,
                info.error_desc.unwrap_or_else(|| "no reason given".into())
            ),
            _ => {}
        }
        if Instant::now() >= deadline {
            return not_converged(env, &mut sq, &src, info).await;
        }
        tokio::time::sleep(POLL).await;
    };

    let from_seq = Scan::of(&console(&src)).last_seq();
    let dq = dq.into_shared();
    let status = ldm_qemu::wait_incoming(&dq, POLL, Duration::from_secs(30)).await?;
    if status.status != RunState::Running {
        bail!(
            "the destination is {} after the migration, not running",
            status.status
        );
    }
    let handoff_seq = Scan::of(&console(&dst)).last_seq();
    tokio::time::sleep(SETTLE).await;
    let verdict = Verdict::judge(from_seq, handoff_seq, &Scan::of(&console(&dst)));
    let _ = sq.quit().await;
    let _ = dq.lock().await.quit().await;

    let ram = info.ram.unwrap_or_default();
    Ok(Outcome::Done(Measure {
        total_ms: info.total_time.unwrap_or(0) as f64,
        bulk_mib_s: None,
        downtime_ms: info.downtime.unwrap_or(0) as f64,
        bytes: ram.transferred,
        passes: ram.dirty_sync_count,
        channels: 1,
        wall_ms: None,
        verdict,
    }))
}

/// Cancels a migration that ran out of time and checks the guest carries
/// on at the source.
async fn not_converged(
    env: &Env,
    sq: &mut Qmp,
    src: &MachineConfig,
    info: MigrationInfo,
) -> anyhow::Result<Outcome> {
    sq.migrate_cancel().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = sq.query_migrate().await?.status;
        if matches!(s, MigrationStatus::Cancelled | MigrationStatus::Failed) {
            break;
        }
        if s == MigrationStatus::Completed {
            bail!("the migration completed while being cancelled at the timeout");
        }
        if Instant::now() >= deadline {
            bail!("cancelling the migration did not finish in 30 s (status {s})");
        }
        tokio::time::sleep(POLL).await;
    }
    let seq = Scan::of(&console(src)).last_seq();
    tokio::time::sleep(SETTLE).await;
    let ram = info.ram.unwrap_or_default();
    Ok(Outcome::NotConverged {
        timeout_s: env.qemu_timeout.as_secs(),
        bytes: ram.transferred,
        passes: ram.dirty_sync_count,
        source: Verdict::judge(seq, seq, &Scan::of(&console(src))),
    })
}

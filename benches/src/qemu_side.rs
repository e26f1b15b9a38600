//! The plain QEMU sides: two QEMUs started with the ldm-qemu library in
//! the two hosts of a network lab, each with a virtio NIC on a tap bridged
//! to the host's uplink, migrated over the lab's wire (QEMU announces the
//! guest itself after an incoming migration). Either with QEMU's default
//! settings, or tuned as an expert would (ldm's channel count and downtime
//! target, no bandwidth cap, auto-converge), in clear or with QEMU's own
//! TLS.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use ldm_e2e::lab::{guest_mac, host_addr, launch_in, Lab};
use ldm_qemu::{
    MachineConfig, MigrationInfo, MigrationStatus, MigrationTuning, NicConfig, Qmp, RunState,
};
use tokio::time::Instant;

use crate::console::{Scan, Verdict};
use crate::network::{self, Watch};
use crate::procs::TempDir;
use crate::qemu_tls;
use crate::report::{Measure, Outcome};
use crate::scenario::{wait_ready, Env, Scenario, SETTLE};
use crate::split;

const POLL: Duration = Duration::from_millis(100);
/// The guest's tap in each host.
pub const TAP: &str = "ldmtap0";
/// The destination's migration port, on its lab address.
const MIGRATION_PORT: u16 = 4444;

/// One machine definition under `dir/role/`.
pub fn machine(env: &Env, sc: Scenario, dir: &Path, role: &str) -> anyhow::Result<MachineConfig> {
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
    cfg.append = format!("{} {}", sc.boot_args(), network::ldm_ip_arg());
    cfg.console_log = Some(run.join("console.log"));
    cfg.nics = vec![NicConfig {
        ifname: TAP.into(),
        mac: guest_mac(0),
        mtu: None,
    }];
    Ok(cfg)
}

pub fn console(cfg: &MachineConfig) -> String {
    let log = cfg
        .console_log
        .as_deref()
        .unwrap_or(Path::new("/nonexistent"));
    String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned()
}

/// Starts `cfg` in lab host `i` (whose tap it opens).
pub async fn launch(
    lab: &Lab,
    i: usize,
    cfg: &MachineConfig,
    incoming: bool,
) -> anyhow::Result<()> {
    let (ns, cfg) = (lab.host_ns(i), cfg.clone());
    tokio::task::spawn_blocking(move || launch_in(&ns, &cfg, incoming))
        .await?
        .map_err(anyhow::Error::msg)
        .map(drop)
}

/// How plain QEMU is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No tuning at all: one channel, a 128 MiB/s cap, a 300 ms downtime
    /// limit.
    Defaults,
    /// Multifd with ldm's channel count, no bandwidth cap, ldm's downtime
    /// target, auto-converge; with QEMU's own TLS (x509) when `tls`.
    Tuned { tls: bool },
}

/// The tuning of a tuned side: what ldm sets by default, without ldm.
pub fn tuned(tls: bool) -> MigrationTuning {
    MigrationTuning {
        multifd_channels: ldm_channels(),
        max_bandwidth_bytes: 0,
        downtime_limit_ms: LDM_DOWNTIME_MS,
        auto_converge: true,
        tls_creds: tls.then(|| qemu_tls::CREDS_ID.to_string()),
        tls_hostname: tls.then(|| host_addr(1).to_string()),
        ..Default::default()
    }
}

/// ldm's default downtime target, ms.
pub const LDM_DOWNTIME_MS: u64 = 30;

/// ldm's default channel count: the primary domain's vCPUs, which is the
/// host's CPUs unless set.
pub fn ldm_channels() -> u8 {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 255) as u8)
}

/// Sets up both ends for `mode` (credentials, capabilities, parameters).
async fn tune(mode: Mode, dir: &Path, sq: &mut Qmp, dq: &mut Qmp) -> anyhow::Result<()> {
    let Mode::Tuned { tls } = mode else {
        return Ok(());
    };
    if tls {
        let creds = qemu_tls::make(dir, host_addr(1))?;
        dq.object_add(qemu_tls::object(&creds.server_dir, true))
            .await
            .context("the destination's TLS credentials")?;
        sq.object_add(qemu_tls::object(&creds.client_dir, false))
            .await
            .context("the source's TLS credentials")?;
    }
    let t = tuned(tls);
    t.apply(dq).await.context("tuning the destination")?;
    t.apply(sq).await.context("tuning the source")?;
    Ok(())
}

/// Starts the destination `dst` in lab host 1 (its tap already on the
/// wire), sets both ends up for `mode` and starts the move from `sq`;
/// the destination's QMP.
pub async fn start_move(
    lab: &Lab,
    mode: Mode,
    dir: &Path,
    dst: &MachineConfig,
    sq: &mut Qmp,
) -> anyhow::Result<Qmp> {
    launch(lab, 1, dst, true)
        .await
        .context("starting the destination QEMU")?;
    let mut dq = Qmp::connect(&dst.qmp_socket).await?;
    tune(mode, dir, sq, &mut dq).await?;
    let uri = format!("tcp:{}:{MIGRATION_PORT}", host_addr(1));
    dq.migrate_incoming(&uri, false).await?;
    sq.migrate(&uri).await?;
    Ok(dq)
}

/// One migration with plain QEMU. The QEMUs die with the lab's
/// namespaces.
pub async fn run(env: &Env, sc: Scenario, mode: Mode) -> anyhow::Result<Outcome> {
    let lab = network::lab().await?;
    let dir = TempDir::new("qemu")?;
    let src = machine(env, sc, dir.path(), "src")?;
    let mut dst = machine(env, sc, dir.path(), "dst")?;
    dst.uuid = src.uuid;
    lab.tap_on_wire(0, TAP);
    lab.tap_on_wire(1, TAP);

    launch(&lab, 0, &src, false)
        .await
        .context("starting the source QEMU")?;
    let mut sq = Qmp::connect(&src.qmp_socket).await?;
    wait_ready(|| async { Ok(console(&src)) }).await?;
    let watch = Watch::start(&lab).await?;

    let dq = start_move(&lab, mode, dir.path(), &dst, &mut sq).await?;

    let deadline = Instant::now() + env.qemu_timeout;
    let mut src_events = Vec::new();
    let info = loop {
        let info = sq.query_migrate().await?;
        src_events.extend(sq.take_events());
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
            drop(watch.finish());
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
    let dst_events = dq.lock().await.take_events();
    let handoff_seq = Scan::of(&console(&dst)).last_seq();
    tokio::time::sleep(SETTLE).await;
    let seen = watch.finish();
    let split = seen.split(
        split::first(&src_events, "STOP"),
        split::first(&dst_events, "RESUME"),
    );
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
        channels: match mode {
            Mode::Defaults => 1,
            Mode::Tuned { .. } => ldm_channels() as u32,
        },
        wall_ms: None,
        verdict,
        seen: Some(seen),
        split,
        steps_from_stop: None,
        pause: None,
        command_ms: None,
        predicted: None,
        warm: None,
        daemons: None,
        postcopy_ms: None,
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

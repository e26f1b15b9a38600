//! The source side of a migration: `ldm migrate-domain` and
//! `ldm cancel-operation migration`. See [`super::protocol`] for the phases.
//!
//! `mod.rs` runs phase 1; `claiming.rs` claims the domain and gives it
//! back; `cancel.rs` is `cancel-operation`; `machine.rs` decides
//! every transition; `driver.rs` turns the peer, QEMU, cancel and
//! deadlines into its events and carries out its actions; `leftover.rs`
//! makes sure QEMU holds nothing of an earlier migration; `run.rs` holds
//! one migration's reporting and record keeping; `live.rs` drives QEMU.

mod cancel;
pub mod checking;
mod claiming;
mod driver;
mod forecast;
pub(crate) mod leftover;
mod live;
pub mod machine;
mod ram_layout;
mod recover;
pub(crate) mod resolve;
pub(crate) mod restart;
mod run;
pub(crate) mod settle;
mod storage;

pub use cancel::cancel;
pub(crate) use claiming::settle_claim;
use claiming::{claim, release};

use super::connect::connect;
use super::protocol::{DomainOffer, ToSource, ToTarget};
use crate::daemon::{get, Busy, Daemon};
use crate::error::{refuse, Result};
use crate::migration::deadline::Wait;
use ldm_api::domain::check_domain_name;
use ldm_api::migration::{DryRun, MigrateRequest, Phase, PostcopyMode, Role};
use ldm_api::{DomainState, ErrorKind, Event, Reply, Response};
use ldm_qemu::MigrationTuning;
use run::Run;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// Downtime target when neither the command nor the domain sets one, ms.
pub const DEFAULT_DOWNTIME_MS: u64 = 30;

/// The migration settings for this domain and request.
pub fn tuning(
    d: &Daemon,
    m: &MigrateRequest,
    prefs: ldm_api::domain::MigrationPrefs,
) -> MigrationTuning {
    MigrationTuning {
        multifd_channels: d.primary_vcpus().clamp(1, 255) as u8,
        max_bandwidth_bytes: m
            .bandwidth_mib
            .or(prefs.bandwidth_mib)
            .map(|b| b.saturating_mul(1024 * 1024))
            .unwrap_or(0),
        downtime_limit_ms: m
            .downtime_ms
            .or(prefs.downtime_ms)
            .unwrap_or(DEFAULT_DOWNTIME_MS),
        zero_page_detection: None,
        tls_creds: None,
        tls_hostname: None,
        auto_converge: true,
        // A storage copy completes its mirrors with the source paused,
        // before QEMU sends the final state.
        pause_before_switchover: m.copy_storage,
        // Post-copy may be needed (the rule decides during the copy); not
        // with a storage copy, whose mirrors complete with the source
        // paused, before the final state.
        postcopy: m.postcopy != PostcopyMode::Never && !m.copy_storage,
    }
}

/// What to do with a source copy left paused because nobody knows whether
/// the target resumed the domain (`target_host` lists it as `target_name`
/// if it did).
pub(crate) fn paused_copy_advice(target_host: &str, target_name: &str, name: &str) -> String {
    format!(
        "This copy is paused and will not resume by itself. If `ldm list` on {target_host} shows {target_name} active, that copy is the master: remove this one with `ldm stop-domain -f {name}`, `ldm unbind-domain {name}`, `ldm remove-domain {name}`. If it does not, resume this copy with `ldm cancel-operation migration {name}`."
    )
}

/// The command's tuning values, in range before anything is claimed.
fn check_tuning_request(m: &MigrateRequest) -> Result<()> {
    let bad = |e| refuse(ErrorKind::BadRequest, e);
    if let Some(ms) = m.downtime_ms {
        ldm_api::limits::check_downtime_ms(ms).map_err(bad)?;
    }
    if let Some(mib) = m.bandwidth_mib {
        ldm_api::limits::check_bandwidth_mib(mib).map_err(bad)?;
    }
    Ok(())
}

fn fail(msg: impl Into<String>) -> crate::error::Error {
    refuse(ErrorKind::Migration, msg)
}

/// `migrate-domain`
pub async fn migrate(
    d: &Arc<Daemon>,
    m: MigrateRequest,
    tx: &mpsc::Sender<Response>,
    gone: watch::Receiver<bool>,
) -> Result<Reply> {
    let t0 = Instant::now();
    let target_name = m.new_name.clone().unwrap_or_else(|| m.name.clone());
    check_domain_name(&target_name).map_err(|e| refuse(ErrorKind::BadRequest, e))?;
    check_tuning_request(&m)?;
    // Phase 1 on this host.
    let mut local_failures = Vec::new();
    let (mut offer, started_at, prefs, qemu) = {
        let t = d.table();
        let dom = get(&t, &m.name)?;
        if dom.claim.is_some() {
            local_failures.push(format!(
                "Domain {} has another operation in progress",
                m.name
            ));
        }
        if let Some(mark) = &dom.rec.migration {
            if mark.error.is_some() {
                local_failures.push(format!(
                    "Domain {} is in an error state from an earlier migration: settle it first (see `ldm list -l {}`)",
                    m.name, m.name
                ));
            }
        }
        if !dom.rec.pending.is_empty() {
            local_failures.push(format!(
                "Domain {} has a delayed reconfiguration pending ({}): restart it to apply it, or drop it with `ldm cancel-reconf {}`",
                m.name,
                dom.rec.pending.describe().join(", "),
                m.name
            ));
        }
        if dom.rec.state == DomainState::Suspended {
            local_failures.push(format!("Domain {} is suspended and cannot migrate", m.name));
        }
        if dom.rec.state == DomainState::Active && dom.rt.is_none() {
            local_failures.push(format!("Domain {} has no running QEMU to migrate", m.name));
        }
        let mut spec = dom.rec.spec.clone();
        spec.name = target_name.clone();
        // The vCPU slots travel with a running machine, which the target
        // must recreate exactly; a domain that is not running gets the
        // target's default, and its offer keeps the previous release's form.
        if dom.rec.state != DomainState::Active {
            spec.max_vcpus = None;
            spec.boot_memory_mib = None;
        }
        let b = dom.rec.binding.as_ref();
        (
            DomainOffer {
                spec,
                state: dom.rec.state,
                machine_type: b.map(|b| b.machine_type.clone()),
                cpu_model: b.map(|b| b.cpu_model.clone()),
                source_accel: b
                    .map(|b| b.accel.clone())
                    .unwrap_or_else(|| d.inv.accel.to_string()),
                source_cpu: d.inv.native_cpu_name(),
                source_qemu: d.inv.qemu.as_ref().ok().map(|q| q.version_string()),
                volumes: Vec::new(),
                copy_storage: m.copy_storage,
                overwrite_storage: m.overwrite_storage,
                boot_memory_kib: None,
            },
            dom.rec.started_at,
            dom.rec.spec.migration,
            dom.rt
                .as_ref()
                .filter(|_| dom.rec.state == DomainState::Active)
                .map(|rt| {
                    (
                        rt.qmp.clone(),
                        d.paths.qmp_socket(&dom.rec.spec.uuid),
                        rt.pid,
                    )
                }),
        )
    };
    // Each disk's volume, marked for the target's storage check.
    let (volumes, mut volume_failures) =
        super::volumes::offer(d, &offer.spec.disks, m.copy_storage);
    offer.volumes = volumes;
    local_failures.append(&mut volume_failures);
    // Not while another operation (a migration) legitimately uses QEMU's
    // migration state: that is already a failure above.
    if let Some((qmp, socket, _)) = qemu.as_ref().filter(|_| local_failures.is_empty()) {
        local_failures.extend(leftover::check_released(&m.name, qmp, socket, false).await);
        if offer.source_accel == ldm_qemu::Accel::Tcg.as_str() {
            local_failures.extend(leftover::check_removed_vcpus(&m.name, qmp, socket).await);
            local_failures.extend(ram_layout::check_write_tracking(&m.name, qmp, socket).await);
        }
        // The target rebuilds the boot memory the running machine has.
        if offer.spec.boot_memory_mib.is_some() {
            match ram_layout::boot_memory_kib(&m.name, qmp, socket).await {
                Ok(kib) => offer.boot_memory_kib = Some(kib),
                Err(f) => local_failures.push(f),
            }
        }
    }
    // A dry run of a running domain predicts the move, and a live move
    // with `--postcopy=auto` chooses its copy from the same measurements:
    // QEMU samples the guest's dirty rate while the checks run.
    let measure = m.dry_run || (m.postcopy == PostcopyMode::Auto && !m.copy_storage);
    let sampling = match qemu
        .as_ref()
        .filter(|_| measure && local_failures.is_empty())
    {
        Some((qmp, socket, pid)) => {
            let mib = offer.spec.memory_mib;
            let period = if m.dry_run {
                forecast::DRY_RUN_SAMPLE
            } else {
                forecast::MOVE_SAMPLE
            };
            forecast::Sampling::start(&m.name, qmp, socket, *pid, mib, period).await
        }
        None => None,
    };
    let _ = tx.try_send(Response::Event(Event::Info {
        message: format!("Phase 1: checking {} against {}:{}", m.name, m.host, m.port),
    }));
    // From here a real migration can be cancelled: the signal is found by
    // name until the domain is claimed, then through the claim.
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let _checking = (!m.dry_run).then(|| d.checking.register(&m.name, cancel_tx.clone()));
    let mut gone_wait = gone.clone();
    let mut cancel_wait = cancel_rx.clone();
    let phase1 = async {
        let mut peer = connect(d, &m).await?;
        peer.ch
            .send(&ToTarget::Check(offer.clone()))
            .await
            .map_err(lost)?;
        match peer.ch.recv::<ToSource>().await.map_err(lost)? {
            Some(ToSource::Checked {
                failures,
                warnings,
                room,
                probe_bytes,
                first_touch_mib_s,
                postcopy_unavailable,
            }) => Ok((
                peer,
                failures,
                warnings,
                room,
                (probe_bytes, first_touch_mib_s),
                postcopy_unavailable,
            )),
            other => Err(unexpected(other)),
        }
    };
    let (mut peer, mut failures, warnings, room, (probe_bytes, first_touch), no_uffd) = tokio::select! {
        r = tokio::time::timeout(Wait::PeerReply.get(), phase1) => r.map_err(|_| fail(format!(
            "{}:{} did not answer the checks within {} s; nothing changed",
            m.host, m.port, Wait::PeerReply.get().as_secs()
        )))??,
        _ = driver::client_gone(&mut gone_wait) => {
            return Err(refuse(ErrorKind::Cancelled, "migration cancelled during the checks; nothing changed"));
        }
        _ = cancel_wait.wait_for(|c| *c) => {
            return Err(refuse(ErrorKind::Cancelled, "migration cancelled during the checks; nothing changed"));
        }
    };
    local_failures.append(&mut failures);
    let target = format!("{}:{}", m.host, m.port);
    local_failures.extend(super::compat::failures(peer.version, &offer, &target));
    let mut warnings = warnings;
    let postcopy = match super::compat::postcopy(peer.version, m.postcopy, &target) {
        Ok(ok) => ok,
        Err(e) => {
            local_failures.push(e);
            false
        }
    };
    if m.copy_storage && m.postcopy == PostcopyMode::Always {
        local_failures.push("--postcopy=always cannot be combined with --copy-storage: the disks complete their copy with the source paused, before the final state".into());
    }
    let live = offer.state == DomainState::Active;
    let t = tuning(d, &m, prefs);
    // Why this move cannot switch to post-copy at all.
    let mut no_postcopy = None;
    if m.copy_storage {
        no_postcopy = Some("a storage copy never switches to post-copy".to_string());
    } else if !postcopy && m.postcopy == PostcopyMode::Auto {
        let why = format!(
            "{target} speaks migration protocol {}, which has no post-copy",
            peer.version
        );
        if live {
            warnings.push(format!("{why}: this move is pre-copy alone"));
        }
        no_postcopy = Some(why);
    } else if let Some(why) = no_uffd.filter(|_| postcopy) {
        let why = format!("{target} cannot receive a post-copy: {why}");
        match m.postcopy {
            PostcopyMode::Always => local_failures.push(format!(
                "{why}; fix that on {target}, or move with --postcopy=auto (pre-copy alone there) or never"
            )),
            PostcopyMode::Auto if live => {
                warnings.push(format!("{why}; this move is pre-copy alone"))
            }
            _ => {}
        }
        no_postcopy = Some(why);
    }
    if postcopy && live && peer.version < recover::RECOVER_VERSION {
        warnings.push(format!(
            "{target} speaks migration protocol {}: a post-copy whose link is lost cannot be resumed there (the guest would wait for good); upgrade ldm on {target}",
            peer.version
        ));
    }
    let failures = local_failures;
    // The copy a live move runs (and the dry run's prediction of it).
    let forecast = if live && (failures.is_empty() || (m.dry_run && sampling.is_some())) {
        let checks_ms = t0.elapsed().as_millis() as u64;
        let measured_at = Instant::now();
        let measuring = sampling.is_some()
            && (m.dry_run || (m.postcopy == PostcopyMode::Auto && no_postcopy.is_none()));
        let measure = async {
            let probed = match probe_bytes.filter(|_| measuring) {
                Some(n) => super::probe::measure(&mut peer.ch, n).await,
                None => None,
            };
            let facts = forecast::Facts {
                mode: m.postcopy,
                no_postcopy,
                multifd_channels: u32::from(t.multifd_channels),
                probed,
                first_touch_mib: first_touch,
                cap_mib: (t.max_bandwidth_bytes > 0).then_some(t.max_bandwidth_bytes >> 20),
                downtime_limit_ms: t.downtime_limit_ms,
                checks_ms,
                uuid: offer.spec.uuid.to_string(),
            };
            forecast::forecast(d, sampling.as_ref(), facts, m.dry_run).await
        };
        // Bounded (QEMU's period and grace, the probe's deadline), and
        // cancelled like the checks.
        let f = tokio::select! {
            f = measure => Some(f),
            _ = driver::client_gone(&mut gone_wait) => None,
            _ = cancel_wait.wait_for(|c| *c) => None,
        };
        let Some(f) = f else {
            driver::send_abort(&mut peer, "cancelled").await;
            return Err(refuse(
                ErrorKind::Cancelled,
                "migration cancelled during the checks; nothing changed",
            ));
        };
        // What measuring added after the checks: the rest of QEMU's
        // sampling period and the probe.
        let waited_ms = measured_at.elapsed().as_millis() as u64;
        tracing::info!(domain = %m.name, waited_ms, checks_ms, choice = %f.choice, "the copy chosen");
        Some(f)
    } else {
        None
    };
    if m.dry_run || !failures.is_empty() {
        let reason = if m.dry_run {
            "dry run"
        } else {
            "checks failed"
        };
        driver::send_abort(&mut peer, reason).await;
        if m.dry_run {
            let copy = m
                .copy_storage
                .then(|| storage::estimate(d, &m, &offer.volumes));
            let (memory, choice) = match forecast {
                Some(f) => (f.memory, Some(f.choice)),
                None => (None, None),
            };
            return Ok(Reply::DryRun(DryRun {
                failures,
                warnings,
                room,
                copy,
                memory,
                choice,
            }));
        }
        return Err(fail(failures.join("\n")));
    }
    crate::testhook::hold("source-checked").await;
    let run = Run {
        d: d.clone(),
        m: &m,
        tx,
        view: Busy::view(
            Role::Source,
            format!("{}:{}", m.host, m.port),
            Phase::Prepare,
            0,
        ),
        cancel: cancel_rx,
        cancel_tx,
        gone,
        t0,
        warnings,
        id: uuid::Uuid::new_v4().to_string(),
        choice: forecast.as_ref().map(|f| f.choice.clone()),
    };
    let mut tuning = t;
    tuning.postcopy = forecast.as_ref().is_some_and(|f| f.choice.postcopy());
    if let Some(f) = &forecast {
        run.info(format!("Copy: {}", f.choice));
    }
    let mut drv = driver::Driver::new(run, Some(peer), offer, started_at, tuning, live);
    drv.copy.sampled_dirty_mib = forecast.as_ref().and_then(|f| f.sampled_dirty_mib);
    drv.drive(machine::Event::Checked { passed: true }).await
}

fn lost(e: ldm_peer::Error) -> crate::error::Error {
    fail(format!("lost the connection to the target: {e}"))
}

fn unexpected(m: Option<ToSource>) -> crate::error::Error {
    match m {
        Some(ToSource::Error { message }) => fail(message),
        None => fail("the target closed the connection"),
        Some(other) => fail(format!("the target answered out of turn: {other:?}")),
    }
}

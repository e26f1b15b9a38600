//! The ldm side: two ldmd hosts of a network lab, `ldm migrate-domain`
//! between them over the lab's wire. When this ldm has virtual switches,
//! each host gets `primary-vsw0` uplinked to the wire and the domain a
//! vnet on it, so the probes measure what the guest's clients see.

use std::time::Duration;

use anyhow::{bail, Context};
use ldm_api::migration::{DryRun, MemoryEstimate, Summary};
use ldm_e2e::lab::{Lab, UPLINK};
use tokio::time::Instant;

use crate::console::{Scan, Verdict};
use crate::network::{self, Seen, Watch};
use crate::report::{Leg, Measure, Outcome};
use crate::scenario::{wait_ready, Env, Scenario, SETTLE};

const DOMAIN: &str = "ldg1";
/// The virtual switch on both hosts.
const VSW: &str = "primary-vsw0";
/// The domain's vnet.
const VNET: &str = "vnet0";
/// Timeout of `ldm migrate-domain`.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `ldm ARGS` on lab host `i`; its stdout on success.
fn ldm(lab: &Lab, i: usize, args: &[&str]) -> anyhow::Result<String> {
    ldm_timeout(lab, i, args, ldm_e2e::host::LDM_TIMEOUT)
}

fn ldm_timeout(lab: &Lab, i: usize, args: &[&str], limit: Duration) -> anyhow::Result<String> {
    let out = lab.host(i).ldm_timeout(args, None, limit);
    if out.code != Some(0) {
        bail!(
            "host {i}: `ldm {}` failed ({:?}): {}{}",
            args.join(" "),
            out.code,
            out.stderr.trim(),
            out.stdout.trim()
        );
    }
    Ok(out.stdout)
}

/// One migration through ldm.
pub async fn run(env: &Env, sc: Scenario) -> anyhow::Result<Outcome> {
    let lab = network::lab().await?;
    let result = migrate(env, sc, &lab).await;
    let _ = ldm(&lab, 1, &["stop-domain", "-f", DOMAIN]);
    let _ = ldm(&lab, 0, &["stop-domain", "-f", DOMAIN]);
    result.map_err(|e| {
        e.context(format!(
            "ldmd A log ends with:\n{}\nldmd B log ends with:\n{}",
            ldm_e2e::tail_lines(&lab.host(0).log(), 15),
            ldm_e2e::tail_lines(&lab.host(1).log(), 15)
        ))
    })
}

/// Whether this ldm has virtual switches (`add-vsw`).
fn has_vsw(lab: &Lab) -> bool {
    ldm(lab, 0, &["--help"]).is_ok_and(|help| help.contains("add-vsw"))
}

/// `primary-vsw0` on each host, uplinked to the wire, and a vnet on it for
/// the domain; false (and nothing done) without virtual switches.
fn add_network(lab: &Lab) -> anyhow::Result<bool> {
    if !has_vsw(lab) {
        return Ok(false);
    }
    for i in 0..2 {
        ldm(
            lab,
            i,
            &["add-vsw", &format!("net-dev={UPLINK}"), VSW, "primary"],
        )?;
    }
    ldm(lab, 0, &["add-vnet", VNET, VSW, DOMAIN])?;
    Ok(true)
}

async fn migrate(env: &Env, sc: Scenario, lab: &Lab) -> anyhow::Result<Outcome> {
    ldm(lab, 0, &["add-domain", DOMAIN])?;
    ldm(lab, 0, &["set-vcpu", "1", DOMAIN])?;
    ldm(
        lab,
        0,
        &["set-memory", &format!("{}M", sc.memory_mib), DOMAIN],
    )?;
    let networked = add_network(lab)?;
    let mut boot_args = sc.boot_args();
    if networked {
        boot_args = format!("{boot_args} {}", network::ldm_ip_arg());
    }
    ldm(
        lab,
        0,
        &[
            "set-var",
            &format!("kernel={}", env.kernel.display()),
            &format!("initrd={}", env.initrd.display()),
            &format!("boot-args={boot_args}"),
            DOMAIN,
        ],
    )?;
    ldm(lab, 0, &["bind", DOMAIN])?;
    ldm(lab, 0, &["start", DOMAIN])?;
    let console = |i: usize| {
        let lab = &lab;
        async move { ldm(lab, i, &["console", "--dump", DOMAIN]) }
    };
    wait_ready(|| console(0)).await?;
    let watch = match networked {
        true => Some(Watch::start(lab).await?),
        false => None,
    };

    let pw = lab.password_file();
    let extra = env.ldm_args();
    let dry_run_at = std::time::SystemTime::now();
    let predicted = predict(lab, &pw.to_string_lossy(), &extra)?;
    let from_seq = Scan::of(&console(0).await?).last_seq();
    let usage =
        crate::daemon_usage::Watch::start(lab.host(0).started_pid(), lab.host(1).started_pid());
    let (t0, command_at) = (Instant::now(), std::time::SystemTime::now());
    let pw_arg = pw.to_string_lossy();
    let to_b = lab.target(1);
    let mut args = vec!["migrate-domain", "--json", "-p", &pw_arg];
    args.extend(extra.iter().map(String::as_str));
    args.extend([DOMAIN, to_b.as_str()]);
    let out = lab.host(0).ldm_timeout(&args, None, env.qemu_timeout);
    if out.code.is_none() {
        // Out of time: the command is gone, which cancels a move before
        // post-copy (the source runs on); a move in post-copy finishes by
        // itself, so wait for it before judging the guest.
        drop(watch.map(Watch::finish));
        let _ = usage.finish();
        let until = Instant::now() + MIGRATE_TIMEOUT;
        while Instant::now() < until
            && ldm(lab, 0, &["list", "-o", "status", DOMAIN]).is_ok_and(|s| s.contains("STATUS"))
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let here = if ldm(lab, 0, &["list", DOMAIN]).is_ok() {
            0
        } else {
            1
        };
        let seq = Scan::of(&console(here).await?).last_seq();
        tokio::time::sleep(SETTLE).await;
        return Ok(Outcome::NotConverged {
            timeout_s: env.qemu_timeout.as_secs(),
            bytes: 0,
            passes: 0,
            source: Verdict::judge(seq, seq, &Scan::of(&console(here).await?)),
        });
    }
    if out.code != Some(0) {
        bail!(
            "host 0: `ldm migrate-domain` failed ({:?}): {}{}",
            out.code,
            out.stderr.trim(),
            out.stdout.trim()
        );
    }
    let out = out.stdout;
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let daemons = usage.finish().map(Box::new);
    let s = parse_summary(&out)?;
    if !s.live {
        bail!("ldm migrated the definition only: the domain was not running");
    }

    let handoff_seq = Scan::of(&console(1).await?).last_seq();
    tokio::time::sleep(SETTLE).await;
    let seen: Option<Seen> = watch.map(Watch::finish);
    let after = Scan::of(&console(1).await?);
    let on_clock = s.pause.as_ref().and_then(crate::split::ldm_pause);
    let steps_from_stop = on_clock.map(|(stop, _)| {
        let ms = |t| crate::split::ms_between(stop, t);
        (ms(dry_run_at), ms(command_at))
    });
    let split = seen
        .as_ref()
        .and_then(|w| w.split(on_clock.map(|p| p.0), on_clock.map(|p| p.1)));
    // The same prediction once host A has moved the domain before: back
    // to A (B learns), then A's dry run and a second measured move (not
    // for a guest that only post-copy moves: two more long moves).
    let warm = (s.postcopy_ms.is_none())
        .then(|| {
            warm_leg(lab, &pw.to_string_lossy(), &extra)
                .map_err(|e| eprintln!("ldm-bench: the second, predicted move failed: {e:#}"))
                .ok()
        })
        .flatten();
    // Like for like with plain QEMU's total-time: QEMU's own migration time
    // (migrate to completion). The whole command's time is kept as wall_ms.
    Ok(Outcome::Done(Measure {
        postcopy_ms: s.postcopy_ms.map(|p| p as f64),
        total_ms: s.qemu_ms as f64,
        bulk_mib_s: Some(s.bulk_rate_mib_s),
        // QEMU's own figure, like for like with plain QEMU; ldm's whole
        // pause is in `pause`.
        downtime_ms: s
            .pause
            .as_ref()
            .map_or(s.downtime_ms, |p| p.qemu_downtime_ms) as f64,
        bytes: s.bytes_sent,
        passes: s.passes,
        channels: s.channels,
        wall_ms: Some(wall_ms.max(s.total_ms as f64)),
        verdict: Verdict::judge(from_seq, handoff_seq, &after),
        seen,
        split,
        steps_from_stop,
        pause: s.pause,
        command_ms: Some(s.total_ms as f64),
        predicted,
        warm,
        daemons,
    }))
}

/// B → A, then A's dry run and the move A → B.
fn warm_leg(lab: &Lab, pw: &str, extra: &[String]) -> anyhow::Result<Box<Leg>> {
    let mut back = vec!["migrate-domain", "--json", "-p", pw];
    back.extend(extra.iter().map(String::as_str));
    back.push(DOMAIN);
    let mut args = back.clone();
    let to_a = lab.target(0);
    args.push(&to_a);
    ldm_timeout(lab, 1, &args, MIGRATE_TIMEOUT)?;
    let predicted = predict(lab, pw, extra)?;
    let mut args = back;
    let to_b = lab.target(1);
    args.push(&to_b);
    let s = parse_summary(&ldm_timeout(lab, 0, &args, MIGRATE_TIMEOUT)?)?;
    Ok(Box::new(Leg {
        predicted,
        summary: s,
    }))
}

/// What the dry run (`migrate-domain -n --json`) predicts for the move.
fn predict(lab: &Lab, pw: &str, extra: &[String]) -> anyhow::Result<Option<Box<MemoryEstimate>>> {
    let mut args = vec!["migrate-domain", "-n", "--json", "-p", pw];
    args.extend(extra.iter().map(String::as_str));
    let to_b = lab.target(1);
    args.extend([DOMAIN, to_b.as_str()]);
    let out = ldm_timeout(lab, 0, &args, MIGRATE_TIMEOUT)?;
    let (start, end) = (out.find('{'), out.rfind('}'));
    let (Some(start), Some(end)) = (start, end) else {
        bail!("the dry run printed no JSON: {out}");
    };
    let r: DryRun = serde_json::from_str(&out[start..=end])
        .with_context(|| format!("cannot parse the dry run: {out}"))?;
    Ok(r.memory.map(Box::new))
}

/// The JSON summary `ldm migrate-domain --json` prints.
fn parse_summary(out: &str) -> anyhow::Result<Summary> {
    let start = out
        .find('{')
        .context("ldm migrate-domain printed no JSON")?;
    let s: Summary = serde_json::from_str(&out[start..])
        .with_context(|| format!("cannot parse the summary of ldm migrate-domain: {out}"))?;
    if let Some(c) = &s.choice {
        // With the progress lines: stdout carries only the report (the
        // JSON with --json).
        eprintln!("  ldm's copy, {} ms in all: {c}", s.total_ms);
    }
    Ok(s)
}

//! The pause floor: what the guest's clients see of a pause of a guest
//! whose QEMU has run it all along (a warm translation cache, no move, no
//! switch to relearn). The scenario's guest boots with plain QEMU in a
//! network lab host; then, several times, the probe starts, QMP `stop`,
//! a sleep as long as ldm's usual pause, `cont`, and the probe's longest
//! gap is split at QEMU's STOP and RESUME events like a migration's.

use std::time::Duration;

use anyhow::{bail, Context};
use ldm_qemu::Qmp;
use serde_json::{json, Value};

use crate::network::{self, Seen, Watch};
use crate::procs::TempDir;
use crate::qemu_side;
use crate::report::median;
use crate::scenario::{wait_ready, Env, Scenario};
use crate::split::{self, Split};

/// How long the guest runs between the probe's start and the stop, and
/// after the `cont` before the probe stops.
const AROUND: Duration = Duration::from_millis(500);

/// One stop and cont.
#[derive(Debug, Clone)]
pub struct Pause {
    pub seen: Seen,
    pub split: Option<Split>,
}

/// The pauses of one scenario's guest.
#[derive(Debug, Clone)]
pub struct Floor {
    pub scenario: Scenario,
    /// Paused on the target of a plain QEMU move (tuned) once it has run
    /// a while, rather than where it booted.
    pub after_move: bool,
    pub asked_ms: u64,
    pub pauses: Result<Vec<Pause>, String>,
}

/// Boots the scenario's guest (and with `after_move` moves it with plain
/// QEMU, tuned) and pauses it `n` times for `pause`.
pub async fn run(env: &Env, sc: Scenario, n: u32, pause: Duration, after_move: bool) -> Floor {
    let pauses = pauses(env, sc, n, pause, after_move)
        .await
        .map_err(|e| format!("{e:#}"));
    Floor {
        scenario: sc,
        after_move,
        asked_ms: pause.as_millis() as u64,
        pauses,
    }
}

async fn pauses(
    env: &Env,
    sc: Scenario,
    n: u32,
    pause: Duration,
    after_move: bool,
) -> anyhow::Result<Vec<Pause>> {
    let lab = network::lab().await?;
    let dir = TempDir::new("floor")?;
    let cfg = qemu_side::machine(env, sc, dir.path(), "guest")?;
    lab.tap_on_wire(0, qemu_side::TAP);
    qemu_side::launch(&lab, 0, &cfg, false)
        .await
        .context("starting the QEMU")?;
    let mut q = Qmp::connect(&cfg.qmp_socket).await?;
    wait_ready(|| async { Ok(qemu_side::console(&cfg)) }).await?;
    if after_move {
        q = moved(env, sc, &lab, (dir.path(), &cfg), q).await?;
        // The target's translation cache warms up meanwhile.
        tokio::time::sleep(crate::scenario::SETTLE).await;
    }
    let mut out = Vec::new();
    for i in 1..=n {
        let p = one(&lab, &mut q, pause).await?;
        eprintln!(
            "pause floor, scenario {}, pause {i}/{n}: {}{}",
            sc.id,
            p.seen,
            p.split.map_or(String::new(), |s| format!("; pause's {s}"))
        );
        out.push(p);
    }
    let _ = q.quit().await;
    Ok(out)
}

/// Moves the guest from lab host 0 (QMP `src`) to a QEMU in host 1 as
/// the tuned side does; the target's QMP.
async fn moved(
    env: &Env,
    sc: Scenario,
    lab: &ldm_e2e::lab::Lab,
    (dir, src_cfg): (&std::path::Path, &ldm_qemu::MachineConfig),
    mut src: Qmp,
) -> anyhow::Result<Qmp> {
    let mut dst = qemu_side::machine(env, sc, dir, "target")?;
    dst.uuid = src_cfg.uuid;
    lab.tap_on_wire(1, qemu_side::TAP);
    let mut dq = qemu_side::start_move(
        lab,
        qemu_side::Mode::Tuned { tls: false },
        dir,
        &dst,
        &mut src,
    )
    .await?;
    let deadline = tokio::time::Instant::now() + env.qemu_timeout;
    loop {
        let info = src.query_migrate().await?;
        match info.status {
            ldm_qemu::MigrationStatus::Completed => break,
            ldm_qemu::MigrationStatus::Failed | ldm_qemu::MigrationStatus::Cancelled => {
                bail!("the move before the pauses ended {}", info.status)
            }
            _ if tokio::time::Instant::now() >= deadline => {
                bail!("the move before the pauses did not finish in time")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let status = dq
        .wait_incoming(Duration::from_millis(100), Duration::from_secs(30))
        .await?;
    if status.status != ldm_qemu::RunState::Running {
        bail!("the target is {} after the move", status.status);
    }
    let _ = src.quit().await;
    Ok(dq)
}

async fn one(lab: &ldm_e2e::lab::Lab, q: &mut Qmp, pause: Duration) -> anyhow::Result<Pause> {
    let watch = Watch::start(lab).await?;
    tokio::time::sleep(AROUND).await;
    q.take_events();
    q.stop().await.context("QMP stop")?;
    tokio::time::sleep(pause).await;
    q.cont().await.context("QMP cont")?;
    tokio::time::sleep(AROUND).await;
    // Any event still unread comes with this answer.
    let status = q.query_status().await?;
    let events = q.take_events();
    let seen = watch.finish();
    if let Err(e) = &seen.tcp {
        bail!("the held TCP connection broke over a pause: {e}");
    }
    if status.status != ldm_qemu::RunState::Running {
        bail!("the guest is {} after cont, not running", status.status);
    }
    let split = seen.split(
        split::first(&events, "STOP"),
        split::first(&events, "RESUME"),
    );
    Ok(Pause { seen, split })
}

impl Floor {
    fn split_medians(&self) -> Option<Split> {
        let ps = self.pauses.as_ref().ok()?;
        let splits: Vec<Split> = ps.iter().filter_map(|p| p.split).collect();
        Split::each(&splits, median)
    }

    fn gaps(&self) -> Vec<f64> {
        self.pauses
            .as_ref()
            .map(|ps| ps.iter().map(|p| p.seen.longest_gap_ms).collect())
            .unwrap_or_default()
    }

    /// The floor's lines for the report.
    pub fn render(&self) -> String {
        let head = format!(
            "pause floor, scenario {} ({}): plain QEMU{}, stop, {} ms, cont",
            self.scenario.id,
            self.scenario.title(),
            if self.after_move {
                " on the target of a tuned move, 3 s after it"
            } else {
                " where the guest booted"
            },
            self.asked_ms
        );
        let ps = match &self.pauses {
            Ok(ps) => ps,
            Err(e) => return format!("{head}\n  FAILED: {e}"),
        };
        let gaps = self.gaps();
        let worst = gaps.iter().copied().reduce(f64::max);
        let mut out = vec![
            head,
            format!(
                "  probe gap median / worst: {} ms over {} pauses",
                median(gaps)
                    .zip(worst)
                    .map_or("-".into(), |(m, w)| format!("{m:.0} / {w:.0}")),
                ps.len()
            ),
        ];
        if let Some(m) = self.split_medians() {
            // Each share's median; the longest gaps are in the line above.
            out.push(format!("  split, medians: {}", m.shares()));
        }
        out.join("\n")
    }

    pub fn to_json(&self) -> Value {
        let pauses = match &self.pauses {
            Ok(ps) => ps
                .iter()
                .map(|p| {
                    json!({
                        "probe_longest_gap_ms": p.seen.longest_gap_ms,
                        "probe_lost": p.seen.lost,
                        "probe_gap_split": p.split.map(Split::to_json),
                    })
                })
                .collect(),
            Err(e) => return json!({ "scenario": self.scenario.id.to_string(), "error": e }),
        };
        json!({
            "scenario": self.scenario.id.to_string(),
            "after_move": self.after_move,
            "pause_asked_ms": self.asked_ms,
            "median_probe_gap_ms": median(self.gaps()),
            "median_split": self.split_medians().map(Split::to_json),
            "pauses": Value::Array(pauses),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(gap: f64, split: Option<Split>) -> Pause {
        Pause {
            seen: Seen {
                longest_gap_ms: gap,
                gaps: vec![],
                sent: 1000,
                lost: 10,
                tcp: Ok(5),
            },
            split,
        }
    }

    #[test]
    fn the_floor_reports_medians_of_its_pauses() {
        let s = |b, p, a| {
            Some(Split {
                gap_ms: b + p + a,
                before_ms: b,
                pause_ms: p,
                after_ms: a,
                answer_ms: 20.0,
                // A longer gap elsewhere in every window.
                longest_ms: b + p + a + 30.0,
                longest_from_stop_ms: -b,
            })
        };
        let f = Floor {
            scenario: crate::scenario::SCENARIOS[1],
            after_move: false,
            asked_ms: 15,
            pauses: Ok(vec![
                pause(30.0, s(1.0, 16.0, 13.0)),
                pause(25.0, s(2.0, 15.0, 8.0)),
                pause(40.0, None),
            ]),
        };
        let text = f.render();
        assert!(
            text.contains("probe gap median / worst: 30 / 40 ms over 3 pauses"),
            "{text}"
        );
        assert!(
            text.contains("split, medians: gap 27.5 = before stop 1.5 + pause 15.5 + after resume 10.5 ms (first answered datagram sent at resume -9.5, its round trip 20.0)"),
            "{text}"
        );
        assert!(!text.contains("the longest gap"), "{text}");
        assert_eq!(f.to_json()["median_probe_gap_ms"], 30.0);
        let failed = Floor {
            pauses: Err("no QEMU".into()),
            ..f
        };
        assert!(failed.render().ends_with("FAILED: no QEMU"));
    }
}

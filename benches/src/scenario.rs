//! The scenarios and the loop that runs both sides of each.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use tokio::time::Instant;

use crate::console::Scan;
use crate::qemu_side::Mode;
use crate::report::{Kind, Outcome, ScenarioResult, Side};
use crate::{ldm_side, qemu_side};

/// memwork must have printed this seq (after `memwork start`) before the
/// migration starts: its working set is filled by then.
pub const READY_SEQ: u64 = 3;
/// Longest wait for the guest to boot and reach [`READY_SEQ`].
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the guest runs on the destination before the verifier is read.
pub const SETTLE: Duration = Duration::from_secs(3);

/// One guest size and workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub id: char,
    pub memory_mib: u64,
    /// memwork working set, MiB.
    pub ws_mib: u64,
    /// memwork dirtying rate, MiB/s.
    pub rate_mib_s: u64,
    /// ldm's downtime goal, ms.
    pub downtime_goal_ms: u64,
}

pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        id: 'a',
        memory_mib: 1024,
        ws_mib: 64,
        rate_mib_s: 1,
        downtime_goal_ms: 50,
    },
    Scenario {
        id: 'b',
        memory_mib: 1024,
        ws_mib: 256,
        rate_mib_s: 100,
        downtime_goal_ms: 50,
    },
    Scenario {
        id: 'c',
        memory_mib: 2048,
        ws_mib: 1024,
        rate_mib_s: 200,
        downtime_goal_ms: 100,
    },
    // Dirties faster than any copy here: pre-copy alone never finishes;
    // ldm's default (--postcopy=auto) ends it in post-copy.
    Scenario {
        id: 'd',
        memory_mib: 2048,
        ws_mib: 1024,
        rate_mib_s: 1000,
        downtime_goal_ms: 1000,
    },
];

impl Scenario {
    pub fn by_id(id: &str) -> Option<Scenario> {
        SCENARIOS
            .into_iter()
            .find(|s| id.len() == 1 && id.starts_with(s.id))
    }

    /// The guest kernel command line.
    pub fn boot_args(&self) -> String {
        format!("console=ttyS0 memwork={},{}", self.ws_mib, self.rate_mib_s)
    }

    pub fn title(&self) -> String {
        format!(
            "{} GiB guest, memwork={},{} ({} MiB working set dirtied at {} MiB/s)",
            self.memory_mib / 1024,
            self.ws_mib,
            self.rate_mib_s,
            self.ws_mib,
            self.rate_mib_s
        )
    }
}

/// What both sides need.
#[derive(Debug, Clone)]
pub struct Env {
    pub qemu: ldm_qemu::QemuBinary,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Give up on a migration (any side) after this long.
    pub qemu_timeout: Duration,
    /// `--postcopy=MODE` for ldm's moves, when given.
    pub ldm_postcopy: Option<String>,
}

impl Env {
    /// The extra `migrate-domain` arguments of ldm's side.
    pub fn ldm_args(&self) -> Vec<String> {
        self.ldm_postcopy
            .iter()
            .map(|m| format!("--postcopy={m}"))
            .collect()
    }
}

/// One run of one side.
async fn run_side(env: &Env, sc: Scenario, kind: Kind) -> Outcome {
    let r = match kind {
        Kind::Ldm => ldm_side::run(env, sc).await,
        Kind::Tuned => qemu_side::run(env, sc, Mode::Tuned { tls: false }).await,
        Kind::TunedTls => qemu_side::run(env, sc, Mode::Tuned { tls: true }).await,
        Kind::Defaults => qemu_side::run(env, sc, Mode::Defaults).await,
    };
    r.unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")))
}

/// Runs `runs` rounds of every side in `kinds` for one scenario, the
/// sides taking turns so that a drift of the machine touches them alike.
pub async fn run(env: &Env, sc: Scenario, runs: u32, kinds: &[Kind]) -> ScenarioResult {
    let mut sides: Vec<(Kind, Side)> = kinds.iter().map(|k| (*k, Side::default())).collect();
    for i in 1..=runs {
        for (kind, side) in &mut sides {
            let label = kind.label();
            eprintln!("scenario {}, run {i}/{runs}: {label} ...", sc.id);
            let o = run_side(env, sc, *kind).await;
            eprintln!("scenario {}, run {i}/{runs}: {label}: {}", sc.id, o.brief());
            side.runs.push(o);
        }
    }
    ScenarioResult {
        scenario: sc,
        sides,
    }
}

/// Polls a console transcript (`read`) until memwork has printed seq
/// [`READY_SEQ`] after its start line; returns the last scan.
pub async fn wait_ready<F, Fut>(mut read: F) -> anyhow::Result<Scan>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let text = read().await?;
        let scan = Scan::of(&text);
        if scan.bad {
            bail!(
                "memwork reported errors before the migration:\n{}",
                last_lines(&text, 5)
            );
        }
        if scan.seq_since_start >= READY_SEQ {
            return Ok(scan);
        }
        if Instant::now() >= deadline {
            bail!(
                "the guest did not print memwork seq={READY_SEQ} within {BOOT_TIMEOUT:?}; console ends with:\n{}",
                last_lines(&text, 10)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

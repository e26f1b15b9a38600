//! The lab both sides run in, and what the guest's clients see of a
//! migration: a UDP probe (a datagram every millisecond to the guest's echo
//! port, from the lab's client namespace) and a held TCP echo connection,
//! running from before the migration until the guest has settled on the
//! destination.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use ldm_e2e::lab::probe::{ms, HeldConnection, UdpProbe, ECHO_PORT};
use ldm_e2e::lab::{guest_addr, Lab, LabOpts};

use crate::split::WallGap;

/// The guest's address on the lab's wire.
pub fn guest_ip() -> std::net::Ipv4Addr {
    guest_addr(0)
}

/// The guest's boot argument for its address.
pub fn ldm_ip_arg() -> String {
    format!("ldm_ip={}/24", guest_ip())
}

/// Replies the probe must see before the migration starts.
const ANSWERING: u64 = 200;
/// How long the guest may take to answer after memwork is ready.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the held connection exchanges a message.
const HELD_EVERY: Duration = Duration::from_millis(20);

/// A two-host lab, started off the runtime's threads (its set-up blocks and
/// panics on failure, which becomes an error here).
pub async fn lab() -> anyhow::Result<Lab> {
    tokio::task::spawn_blocking(|| Lab::start(LabOpts::hosts(2)))
        .await
        .map_err(|e| anyhow::anyhow!("cannot build the network lab: {e}"))
}

/// What the clients saw of one migration.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The longest time between two replies to the UDP probe: the pause
    /// the guest's clients saw.
    pub longest_gap_ms: f64,
    /// Every gap of at least the probe's listing threshold, on the wall
    /// clock.
    pub gaps: Vec<WallGap>,
    pub sent: u64,
    pub lost: u64,
    /// The held TCP connection: exchanges made, or how it failed.
    pub tcp: Result<u64, String>,
}

impl Seen {
    /// The gap over the guest's pause (see [`crate::split::pause_gap`])
    /// split at its stop and resume, when both are known.
    pub fn split(
        &self,
        stop: Option<SystemTime>,
        resume: Option<SystemTime>,
    ) -> Option<crate::split::Split> {
        let (stop, resume) = (stop?, resume?);
        let g = crate::split::pause_gap(&self.gaps, stop, resume)?;
        let longest = crate::split::longest(&self.gaps)?;
        Some(crate::split::Split::of(g, longest, stop, resume))
    }
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "probe gap {:.0} ms ({} of {} lost), TCP {}",
            self.longest_gap_ms,
            self.lost,
            self.sent,
            match &self.tcp {
                Ok(n) => format!("held ({n} exchanges)"),
                Err(e) => format!("BROKEN: {e}"),
            }
        )
    }
}

/// The probes, running.
pub struct Watch {
    probe: UdpProbe,
    held: HeldConnection,
}

impl Watch {
    /// Starts both probes from the lab's client and waits until the guest
    /// answers.
    pub async fn start(lab: &Lab) -> anyhow::Result<Watch> {
        let ns = lab.client_ns();
        let target = SocketAddr::from((guest_ip(), ECHO_PORT));
        let probe = UdpProbe::start(&ns, target);
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        while probe.received() < ANSWERING {
            if tokio::time::Instant::now() >= deadline {
                let r = probe.stop();
                bail!("the guest does not answer its echo port at {target} from the lab's client: {r}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let held = HeldConnection::open(&ns, target, HELD_EVERY)
            .map_err(anyhow::Error::msg)
            .context("the held TCP connection to the guest")?;
        Ok(Watch { probe, held })
    }

    /// Stops both and reports.
    pub fn finish(self) -> Seen {
        let report = self.probe.stop();
        let held = self.held.close();
        Seen {
            longest_gap_ms: ms(report.longest_gap),
            gaps: report
                .gaps
                .iter()
                .map(|g| WallGap {
                    start: report.wall(g.after),
                    length: g.length,
                    answer: g.next_rtt,
                })
                .collect(),
            sent: report.sent,
            lost: report.lost,
            tcp: match held.failure {
                None => Ok(held.exchanges),
                Some(e) => Err(e),
            },
        }
    }
}

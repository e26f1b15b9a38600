//! Migration requests, progress and results as the CLI sees them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The five phases of a migration (plus the end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Phase 1: checks on both hosts.
    #[default]
    Checks,
    /// Phase 2: the target creates the domain bound, with an incoming QEMU.
    Prepare,
    /// Phase 3: memory sent while the guest runs.
    Precopy,
    /// Phase 4: the source is paused; last pages and device state.
    Suspend,
    /// Post-copy: the guest runs on the target while the rest of its
    /// memory follows (pages it touches first are fetched on demand).
    Postcopy,
    /// Phase 5: the target resumes and confirms; the source is destroyed.
    Handoff,
    /// Finished.
    Done,
}

impl Phase {
    /// Short human name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Checks => "checks",
            Phase::Prepare => "prepare",
            Phase::Precopy => "pre-copy",
            Phase::Suspend => "suspend",
            Phase::Postcopy => "post-copy",
            Phase::Handoff => "hand-off",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the source authenticates to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// USER's password on the target.
    Password(String),
    /// This host's certificate, trusted by the target (`ldm add-trust -c`).
    Certificate,
}

/// `ldm migrate-domain` as sent to the local ldmd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateRequest {
    /// Domain to move.
    pub name: String,
    /// Target host name or address.
    pub host: String,
    /// Target ldmd peer port.
    pub port: u16,
    /// Account on the target.
    pub user: String,
    /// Name on the target, if renamed.
    pub new_name: Option<String>,
    /// Credentials.
    pub auth: Auth,
    /// Phase 1 only (`-n`).
    pub dry_run: bool,
    /// A fingerprint the administrator accepted at the prompt just now; it is
    /// pinned for this host when the connection presents it.
    pub accept_fingerprint: Option<String>,
    /// Downtime target for this migration, ms.
    pub downtime_ms: Option<u64>,
    /// Bandwidth cap for this migration, MiB/s.
    pub bandwidth_mib: Option<u64>,
    /// Copy the disks to the target's own back ends (`--copy-storage`)
    /// instead of requiring shared storage.
    #[serde(default, skip_serializing_if = "is_false")]
    pub copy_storage: bool,
    /// With `copy_storage`: overwrite a target back end that already holds
    /// data (`--overwrite-storage`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite_storage: bool,
    /// When to switch to post-copy (`--postcopy`; absent from older
    /// clients, which get the default, `auto`).
    #[serde(default, skip_serializing_if = "PostcopyMode::is_auto")]
    pub postcopy: PostcopyMode,
}

/// When a live move switches from pre-copy to post-copy
/// (`migrate-domain --postcopy`); the rule is [`crate::postcopy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PostcopyMode {
    /// Only when pre-copy, throttled by auto-converge, does not converge.
    #[default]
    Auto,
    /// Never: pre-copy alone (on several channels), given up if it does
    /// not converge.
    Never,
    /// Right after the first pass over memory.
    Always,
}

impl PostcopyMode {
    /// As the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PostcopyMode::Auto => "auto",
            PostcopyMode::Never => "never",
            PostcopyMode::Always => "always",
        }
    }

    /// The default.
    pub fn is_auto(&self) -> bool {
        *self == PostcopyMode::Auto
    }
}

impl std::str::FromStr for PostcopyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(PostcopyMode::Auto),
            "never" => Ok(PostcopyMode::Never),
            "always" => Ok(PostcopyMode::Always),
            other => Err(format!(
                "post-copy mode must be auto, never or always, not {other:?}"
            )),
        }
    }
}

impl fmt::Display for PostcopyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a storage copy would move, as a dry run reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyEstimate {
    /// Bytes to copy: the allocated size of each volume, summed.
    pub bytes: u64,
    /// The rate the estimate assumes, MiB/s.
    pub rate_mib_s: u64,
    /// Where that rate comes from (the bandwidth cap, a measured copy, or
    /// an assumption), for the administrator.
    pub rate_source: String,
    /// Estimated time of the copy, seconds.
    pub seconds: u64,
}

/// Progress of a running migration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Overall percent, 0–100.
    pub percent: u8,
    /// Bytes of guest memory sent so far.
    pub transferred_bytes: u64,
    /// Bytes still to send in this pass.
    pub remaining_bytes: u64,
    /// Current rate in MiB/s.
    pub rate_mib_s: f64,
    /// Passes over memory so far.
    pub passes: u64,
    /// How fast the guest dirties memory now, MiB/s, once QEMU measured it
    /// (absent from older daemons): with the next two, the remaining time
    /// follows the same model as the dry run's prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty_rate_mib_s: Option<f64>,
    /// The guest's memory, bytes (absent from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// The move's downtime target, ms (absent from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_limit_ms: Option<u64>,
}

/// What a finished migration measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Domain name on the source.
    pub name: String,
    /// Domain name on the target.
    pub target_name: String,
    /// Target host.
    pub target: String,
    /// Whether guest memory moved (active domain) or only the definition.
    pub live: bool,
    /// Wall time of the whole command, ms.
    pub total_ms: u64,
    /// Time the guest was paused, ms (as QEMU measured it, plus hand-off).
    pub downtime_ms: u64,
    /// Bytes of migration stream sent.
    pub bytes_sent: u64,
    /// Passes over memory.
    pub passes: u64,
    /// Parallel channels used.
    pub channels: u32,
    /// Mean rate of the transfer (bytes sent over QEMU's migration time), MiB/s.
    pub rate_mib_s: f64,
    /// QEMU's migration time, from `migrate` to completion, ms (what plain
    /// QEMU reports as its total time).
    #[serde(default)]
    pub qemu_ms: u64,
    /// Of which connection and channel set-up, ms.
    #[serde(default)]
    pub setup_ms: u64,
    /// Bulk transfer rate: bytes sent over the copy time (QEMU's time less
    /// set-up), MiB/s.
    #[serde(default)]
    pub bulk_rate_mib_s: f64,
    /// Warnings gathered during the checks.
    pub warnings: Vec<String>,
    /// Bytes of disk copied to the target's back ends (`--copy-storage`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub storage_bytes: u64,
    /// Time of the disk copy, from its start to every disk in sync, ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub storage_ms: u64,
    /// Where the guest's pause went (absent for a cold move and from
    /// older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseBreakdown>,
    /// The move switched to post-copy: from the switch to QEMU's
    /// completion, ms (absent for a pre-copy move and from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcopy_ms: Option<u64>,
    /// How the copy ran and why: multifd pre-copy or one channel with
    /// post-copy ready ([`crate::channels`]); absent for a cold move and
    /// from older daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<crate::channels::CopyChoice>,
}

/// The guest's pause of a live move, step by step, ms. The source's steps
/// are measured on the source, the target's on the target; the link's
/// share is what remains of the hand-off's round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseBreakdown {
    /// QEMU's own downtime: the source stopped to the stream complete.
    pub qemu_downtime_ms: u64,
    /// On the source: QEMU's completion event to `Commit` sent (recording
    /// the point of no return included).
    pub completion_to_commit_ms: u64,
    /// `Commit` sent to `Committed` received, less the target's time from
    /// `Commit` to `Committed`: the link both ways.
    pub link_ms: u64,
    /// On the target: recording the hand-off before resuming.
    pub target_record_ms: u64,
    /// On the target: waiting for the incoming QEMU to finish loading.
    pub target_load_ms: u64,
    /// On the target: `cont` until the guest runs.
    pub target_cont_ms: u64,
    /// Of `target_cont_ms`: until QEMU reported the guest resumed (its
    /// `RESUME` event), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resume_event_ms: Option<u64>,
    /// When the source's QEMU stopped the guest (its `STOP` event), by
    /// QEMU's clock: microseconds since the Unix epoch. With
    /// [`PauseBreakdown::total_ms`] it places the pause on the wall clock,
    /// to set beside what the guest's clients saw. Absent from older
    /// daemons and when the event was not seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_stopped_at_us: Option<i64>,
}

impl PauseBreakdown {
    /// From the source's stop to the target guest running, as far as the
    /// daemons see it: the link counted one way (half the round trip), and
    /// of `cont` the time until QEMU reported the guest resumed when known
    /// (`cont`'s answer can come much later, once the resumed vCPU lets
    /// QEMU's main loop reply).
    pub fn total_ms(&self) -> u64 {
        self.qemu_downtime_ms
            + self.completion_to_commit_ms
            + self.link_ms / 2
            + self.target_record_ms
            + self.target_load_ms
            + self.target_resume_event_ms.unwrap_or(self.target_cont_ms)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The result of a dry run (`-n`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// Every requirement that is not met.
    pub failures: Vec<String>,
    /// Things the administrator should know that don't stop the migration.
    pub warnings: Vec<String>,
    /// The target's free room when it checked (absent from older targets);
    /// `ldm evacuate` balances with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<Room>,
    /// With `--copy-storage`: the bytes to copy and an estimate of the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyEstimate>,
    /// An active domain: what the memory move would take (absent for a
    /// domain that moves cold, when it could not be measured, and from
    /// older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryEstimate>,
    /// An active domain: the copy the move would run and why, the same
    /// choice the move makes ([`crate::channels`]; absent for a domain
    /// that moves cold and from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<crate::channels::CopyChoice>,
}

/// What a live move's memory copy would take, as a dry run predicts it
/// from what it measured (`ldm_api::predict`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// The guest's memory, MiB.
    pub memory_mib: u64,
    /// What the first pass sends: the memory the guest has used, MiB.
    pub to_send_mib: u64,
    /// How fast the guest dirties memory, MiB/s (QEMU's sampling).
    pub dirty_rate_mib_s: u64,
    /// The rate this domain kept during its last live move from this
    /// host, MiB/s, which the prediction takes instead of the sample
    /// (absent: the sample, and from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty_during_copy_mib_s: Option<u64>,
    /// What the path to the target carries, MiB/s.
    pub link_mib_s: u64,
    /// Where `link_mib_s` comes from: `measured` (a probe now),
    /// `last-migration` (this host's last live move) or `assumed`.
    pub link_source: LinkSource,
    /// The bandwidth cap of this move, MiB/s, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_mib_s: Option<u64>,
    /// The rate QEMU's copy reached on this host's last live move, MiB/s,
    /// when lower than the measured link: the prediction's rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu_rate_mib_s: Option<u64>,
    /// The target's first-touch write rate (fresh memory, the pages its
    /// incoming QEMU gets), MiB/s, when the prediction combined it with
    /// the measured link: a host's first live move
    /// ([`crate::copy_rate`]; absent otherwise, and from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_touch_mib_s: Option<u64>,
    /// QEMU's downtime target, ms.
    pub downtime_limit_ms: u64,
    /// Predicted time of the whole move, ms (absent: it would not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<u64>,
    /// Predicted pause of the guest, ms (absent: it would not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_ms: Option<u64>,
    /// Predicted passes, counted as the summary of a move counts them.
    pub passes: u64,
    /// Predicted bytes of memory sent, MiB.
    pub sent_mib: u64,
    /// Pre-copy fits the downtime target without slowing the guest.
    pub converges: bool,
    /// If not: the highest vCPU throttle auto-converge would apply, %.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub throttle_percent: u8,
    /// ldm would switch to post-copy (the move's `--postcopy` and the
    /// rule in [`crate::postcopy`]): after about this much pre-copy, ms
    /// (absent: pre-copy alone, and from older daemons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcopy_after_ms: Option<u64>,
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

/// Where a dry run's link rate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkSource {
    /// A throughput probe to the target over the peer connection, now.
    Measured,
    /// The rate of this host's last live migration (the target does not
    /// take the probe).
    LastMigration,
    /// Nothing measured yet: an assumed figure.
    Assumed,
}

impl LinkSource {
    /// As the dry run prints it.
    pub fn describe(self) -> &'static str {
        match self {
            LinkSource::Measured => "measured",
            LinkSource::LastMigration => "this host's last migration; the target takes no probe",
            LinkSource::Assumed => "assumed; nothing measured yet",
        }
    }
}

/// A host's free resources, as its checks saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// vCPUs not given to bound or active domains.
    pub free_vcpus: u32,
    /// Memory not given to bound or active domains, MiB.
    pub free_mib: u64,
    /// Console ports free in the host's vcc ranges, counted up to
    /// [`Room::PORTS_COUNTED`] (absent from older targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_console_ports: Option<u32>,
}

impl Room {
    /// Free console ports are counted up to this many: more than one
    /// evacuation places on one host.
    pub const PORTS_COUNTED: u32 = 1024;
}

/// An operation in progress on a domain, as `ldm list -o status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationView {
    /// Always `migration` for now.
    pub kind: String,
    /// This host's part.
    pub role: Role,
    /// The other host.
    pub peer: String,
    /// Phase.
    pub phase: Phase,
    /// Percent done.
    pub progress: u8,
}

/// This host's part in a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sending.
    Source,
    /// Receiving.
    Target,
}

#[cfg(test)]
mod tests {
    use super::PauseBreakdown;

    #[test]
    fn the_pause_counts_the_link_one_way_and_cont_until_resumed() {
        let mut p = PauseBreakdown {
            qemu_downtime_ms: 10,
            completion_to_commit_ms: 2,
            link_ms: 8,
            target_record_ms: 1,
            target_load_ms: 3,
            target_cont_ms: 60,
            target_resume_event_ms: Some(1),
            source_stopped_at_us: None,
        };
        assert_eq!(p.total_ms(), 10 + 2 + 4 + 1 + 3 + 1);
        p.target_resume_event_ms = None;
        assert_eq!(p.total_ms(), 10 + 2 + 4 + 1 + 3 + 60);
    }

    #[test]
    fn an_older_daemons_summary_has_no_pause() {
        let old = r#"{"name":"a","target_name":"a","target":"h","live":true,"total_ms":1,
            "downtime_ms":1,"bytes_sent":1,"passes":1,"channels":2,"rate_mib_s":1.0,
            "warnings":[]}"#;
        let s: super::Summary = serde_json::from_str(old).unwrap();
        assert_eq!(s.pause, None);
    }
}

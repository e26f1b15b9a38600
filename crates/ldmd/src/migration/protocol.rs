//! The manager-to-manager migration protocol.
//!
//! One TLS connection (rustls, certificates pinned by fingerprint) from the
//! source ldmd to the target ldmd's `--listen` port carries length-delimited
//! JSON frames ([`ldm_peer::Framed`]). The source drives; the target answers
//! each request with exactly one reply. The five phases of a migration:
//!
//! ```text
//! source                                   target
//!   Hello{version,host}           ─────▶                    version same or one apart
//!                                 ◀─────   Hello{version,host}
//!   Auth{user,password|cert}      ─────▶                    argon2id / trusted cert, role
//!                                 ◀─────   AuthOk | Error   (failures slowed down)
//! 1 Check{domain, machine}        ─────▶                    name, resources, CPU, console port, files
//!                                 ◀─────   Checked{failures, warnings,
//!                                                  probe_bytes,
//!                                                  first_touch_mib_s,
//!                                                  postcopy_unavailable}
//!   (dry run of an active domain, or a live move with --postcopy=auto,
//!    when the target offered `probe_bytes`:)
//!   Probe{bytes}, raw frames      ─────▶                    at most probe_bytes in all
//!                                 ◀─────   Probed{bytes}    the source times the link
//!   (a few rounds, each twice the last, for about 0.3 s)
//!   (dry run: Abort, end)
//! 2 Prepare{domain, tuning, id}   ─────▶                    domain created bound (flag t);
//!                                                           live: incoming QEMU paused; a data
//!                                 ◀─────   Prepared{addr,       listener with a certificate and
//!                                           cert, token,        token made for this migration;
//!                                           secret}             outcome `prepared` stored
//! 3 (QEMU → QEMU: pre-copy on multifd channels, each carried over its own
//!    TLS connection between the two ldmd: see `tunnel.rs`)
//!   Progress{phase,percent}       ─────▶   (no reply; shown by `ldm list -o status`)
//! 4 (source paused by QEMU; last pages and device state)
//! 5 Commit{console tail}          ─────▶                    incoming complete → resume, persist
//!                                 ◀─────   Committed        target is now the master copy
//!   source destroyed
//!   (post-copy, protocol 4: once the source recorded `postcopy` and its
//!    QEMU accepted `migrate-start-postcopy`:)
//!   Postcopy{console tail}        ─────▶                    outcome `postcopy` stored; the
//!                                 ◀─────   PostcopyRunning  incoming QEMU in post-copy → cont
//!   Progress…, then on QEMU's completion Commit / Committed as above
//!   Abort{reason}                 ─────▶                    at any point before Commit:
//!                                 ◀─────   Aborted          the target copy is destroyed
//! ```
//!
//! Until the target sends `Committed` the source is the master copy. If the
//! connection breaks before the source sent `Commit`, the target destroys its
//! copy (also when the source falls silent: `Progress` comes at least once a
//! second) and the source resumes. If it breaks after `Commit` was sent but
//! before `Committed` arrived, the source stays paused in an error state and
//! asks the target later, on a new connection:
//!
//! ```text
//!   Hello{version,host}           ─────▶
//!                                 ◀─────   Hello{version,host}
//!   Resolve{id, secret}           ─────▶                    (in place of Auth)
//!                                 ◀─────   Outcome{committed|rolled-back|unknown}
//! ```
//!
//! A post-copy whose link was lost (both QEMUs wait in `postcopy-paused`)
//! is resumed by the source on a new connection (protocol 5), which then
//! carries the rest of the post-copy session:
//!
//! ```text
//!   Hello{version,host}           ─────▶
//!                                 ◀─────   Hello{version,host}
//!   Recover{id, secret}           ─────▶                    (in place of Auth) its QEMU paused:
//!                                 ◀─────   Recovering{addr,    `migrate-recover` on a new socket,
//!                                           cert, token}        a new data listener
//!                                          | Error
//!   (source QEMU: `migrate` with `resume`, over the new channel)
//!   Progress…, Commit / Committed as in a post-copy
//! ```
//!
//! Both state machines, their deadlines and the resolution are described in
//! docs/protocol.md and decided in `source/machine.rs` and
//! `target/machine.rs`.

use super::tunnel::Endpoint;
use ldm_api::migration::Phase;
use ldm_api::request::UserRole;
use ldm_api::{DomainSpec, DomainState};
use serde::{Deserialize, Serialize};

/// Version of this protocol. A peer one release apart is accepted; what an
/// older target could not receive is refused by the source (`compat.rs`).
/// 3 added vnets, vCPU slots and storage copies to the offer; 4 added
/// post-copy (`Postcopy`, `PostcopyRunning`, the tuning's `postcopy`); 5
/// added the recovery of a post-copy whose link was lost (`Recover`,
/// `Recovering`).
pub const PROTOCOL_VERSION: u32 = 5;

/// Whether two protocol versions can talk: the same, or one release apart.
pub fn compatible(ours: u32, theirs: u32) -> bool {
    ours.abs_diff(theirs) <= 1
}

/// What the source says about the machine of the domain it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainOffer {
    /// The definition, already carrying the name it gets on the target.
    pub spec: DomainSpec,
    /// Its state on the source (active domains move live).
    pub state: DomainState,
    /// QEMU machine type (bound or active domains).
    pub machine_type: Option<String>,
    /// QEMU CPU model (bound or active domains).
    pub cpu_model: Option<String>,
    /// Accelerator on the source.
    pub source_accel: String,
    /// Host CPU model name on the source.
    pub source_cpu: String,
    /// QEMU version on the source.
    pub source_qemu: Option<String>,
    /// The volume of each disk, in the disks' order, with the proof of
    /// its storage.
    #[serde(default)]
    pub volumes: Vec<super::volumes::VolumeOffer>,
    /// Copy the volumes into the target's own back ends (`--copy-storage`)
    /// rather than require the same storage (absent from older sources).
    #[serde(default, skip_serializing_if = "is_false")]
    pub copy_storage: bool,
    /// With `copy_storage`: back ends that already hold data may be
    /// overwritten (`--overwrite-storage`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite_storage: bool,
    /// A running domain with hot-pluggable memory: the size of its
    /// machine's boot memory, KiB, as its QEMU reports it (the spec's
    /// boot memory and a pad: `ldm_qemu::BOOT_MEMORY_PAD_KIB`). The
    /// target builds the same. Absent from older sources, whose machines
    /// have no pad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_memory_kib: Option<u64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Source → target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "kebab-case")]
pub enum ToTarget {
    /// First message.
    Hello {
        /// Protocol version.
        version: u32,
        /// Source host name.
        host: String,
    },
    /// Credentials.
    Auth {
        /// Account on the target.
        user: String,
        /// Password; `None` for certificate authentication.
        password: Option<String>,
    },
    /// Phase 1.
    Check(DomainOffer),
    /// Phase 2.
    Prepare {
        /// The domain.
        offer: DomainOffer,
        /// Origin of UPTIME (Unix seconds), carried over.
        started_at: Option<u64>,
        /// Migration settings both QEMUs must share.
        tuning: ldm_qemu::MigrationTuning,
        /// The migration's id, under which the target keeps its outcome
        /// (absent from a release-1 source).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A dry run's throughput probe, after `Checked` and only to a
    /// target that offered `probe_bytes`: `bytes` of filler follow in raw
    /// frames (not JSON), which the target counts and drops; it answers
    /// with `Probed` once it has them all.
    Probe {
        /// Filler bytes that follow.
        bytes: u64,
    },
    /// Progress report for the target's listings.
    Progress {
        /// Phase.
        phase: Phase,
        /// Percent.
        percent: u8,
    },
    /// Phase 5: the source is paused and everything was sent; resume.
    Commit {
        /// The last console output, so the target's console replay
        /// continues where the source's stopped.
        console_tail: String,
    },
    /// Post-copy (protocol 4): the source QEMU was asked to switch; once
    /// the target's QEMU is in post-copy, run the guest there. Sent only
    /// after the source recorded that it never resumes.
    Postcopy {
        /// The last console output, as in `Commit` (the guest's next
        /// lines are written on the target).
        console_tail: String,
    },
    /// Give up; destroy the target copy.
    Abort {
        /// Why.
        reason: String,
    },
    /// In place of `Auth`: what became of migration `id`? The source
    /// proves it is that migration's source with the secret from
    /// `Prepared` (protocol 2).
    Resolve {
        /// The migration's id.
        id: String,
        /// The secret the target handed over in `Prepared`.
        secret: String,
    },
    /// In place of `Auth` (protocol 5): resume migration `id`, a
    /// post-copy whose link was lost. Both QEMUs wait in
    /// `postcopy-paused`; the target listens again (`migrate-recover`) and
    /// answers `Recovering`, and the session goes on as a post-copy
    /// (`Progress`, `Commit`). The secret from `Prepared` is the
    /// credential, as in `Resolve`.
    Recover {
        /// The migration's id.
        id: String,
        /// The secret the target handed over in `Prepared`.
        secret: String,
    },
}

/// Target → source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "kebab-case")]
pub enum ToSource {
    /// Answer to Hello.
    Hello {
        /// Protocol version.
        version: u32,
        /// Target host name.
        host: String,
    },
    /// Authenticated.
    AuthOk {
        /// The account's role.
        role: UserRole,
    },
    /// Phase 1 result.
    Checked {
        /// Unmet requirements.
        failures: Vec<String>,
        /// Things to know.
        warnings: Vec<String>,
        /// The target's free room (absent from older targets).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<ldm_api::migration::Room>,
        /// The most filler this target takes in a throughput probe
        /// (`Probe`), bytes; absent from targets that take none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probe_bytes: Option<u64>,
        /// How fast this target writes fresh memory, MiB/s (the pages its
        /// incoming QEMU gets), measured for a live move's checks: the
        /// source's prediction of a first move combines it with the
        /// probed link. Absent from older targets and when not measured.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_touch_mib_s: Option<u64>,
        /// Why this target cannot receive a post-copy (no userfaultfd for
        /// its QEMU); absent when it can, and from older targets (which
        /// the source then takes as able).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        postcopy_unavailable: Option<String>,
    },
    /// Answer to a `Probe` once its filler arrived.
    Probed {
        /// Filler received in this round, bytes.
        bytes: u64,
    },
    /// Phase 2 done.
    Prepared {
        /// Where the migration channels go (live migrations): address, the
        /// certificate made for them and the token each presents first.
        data: Option<Endpoint>,
        /// A secret made for this migration: with it, and the id, the
        /// source may later ask for the outcome without a password (absent
        /// from a release-1 target).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// The target runs the domain and is the master copy.
    Committed {
        /// Time from receiving `Commit` to the guest running again, ms.
        resumed_after_ms: u64,
        /// Of which: recording the hand-off, waiting for the incoming
        /// QEMU to finish loading, and `cont` (absent from older targets).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steps: Option<ResumeSteps>,
    },
    /// Post-copy (protocol 4): the guest runs here; its memory still
    /// arrives.
    PostcopyRunning {
        /// `Postcopy` received to the guest running, ms.
        resumed_after_ms: u64,
    },
    /// Answer to `Recover` (protocol 5): the target's QEMU listens again;
    /// the source's QEMU resumes the post-copy over a new channel to this
    /// endpoint (a new certificate and token).
    Recovering {
        /// Where the new channel goes.
        data: Endpoint,
    },
    /// The target copy is gone.
    Aborted,
    /// Answer to `Resolve`: the stored outcome of the migration.
    Outcome {
        /// Committed, rolled back, or not known (yet).
        outcome: super::source::machine::Outcome,
    },
    /// A refusal or failure.
    Error {
        /// For the administrator.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_one_apart_are_compatible() {
        assert!(compatible(1, 1));
        assert!(compatible(2, 1));
        assert!(compatible(1, 2));
        assert!(!compatible(3, 1));
    }

    #[test]
    fn messages_roundtrip() {
        let m = ToTarget::Progress {
            phase: Phase::Precopy,
            percent: 40,
        };
        let s = serde_json::to_string(&m).unwrap();
        assert!(s.contains("\"msg\":\"progress\""), "{s}");
        assert_eq!(serde_json::from_str::<ToTarget>(&s).unwrap(), m);
    }
}

/// The target's steps from `Commit` to the guest running, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeSteps {
    /// The hand-off recorded (the outcome `committing`).
    pub record_ms: u64,
    /// The incoming QEMU done loading the final state.
    pub load_ms: u64,
    /// `cont` answered: the guest runs.
    pub cont_ms: u64,
    /// Of `cont`: until QEMU's `RESUME` event (by QEMU's clock), when seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_event_ms: Option<u64>,
    /// `Commit` received to `Committed` sent (what the source's round
    /// trip holds besides the link).
    #[serde(default)]
    pub reply_ms: u64,
}

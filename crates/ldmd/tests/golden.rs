//! Golden files pin the peer protocol's messages and the database records:
//! a change that a host of the previous release could not read fails here.
//! `LDM_BLESS=1 cargo test -p ldmd --test golden` re-blesses on purpose.
//! `peer_versions.rs` replays these files against a real ldmd, as a peer
//! of the previous protocol version would send them.

mod common;

use common::golden::{check, no_stale};
use ldm_api::migration::{Phase, Role};
use ldm_api::request::UserRole;
use ldm_api::storage::VdiskSpec;
use ldm_api::{BootVars, CpuArch, DomainSpec, DomainState};
use ldmd::migration::protocol::{DomainOffer, ToSource, ToTarget, PROTOCOL_VERSION};
use ldmd::migration::source::machine::{Outcome, State as SourceState};
use ldmd::migration::target::machine::State as TargetState;
use ldmd::migration::tunnel::Endpoint;
use ldmd::record::{Binding, DomainRecord, MachineState, MigrationMark};

/// A migration's id and secret in the samples.
const MIGRATION_ID: &str = "0b5c2f7e-0000-4000-8000-000000000002";
const SECRET: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";
use std::collections::BTreeSet;

fn spec() -> DomainSpec {
    DomainSpec {
        name: "ldg1".into(),
        uuid: "6f1c1a2e-0000-4000-8000-000000000001".parse().unwrap(),
        cpu_arch: CpuArch::Generic,
        vcpus: 2,
        max_vcpus: None,
        max_memory_mib: None,
        boot_memory_mib: None,
        memory_mib: 1024,
        vars: BootVars {
            kernel: Some("/boot/vmlinuz".into()),
            initrd: Some("/boot/initrd".into()),
            boot_args: Some("console=ttyS0".into()),
        },
        migration: ldm_api::domain::MigrationPrefs {
            downtime_ms: Some(50),
            bandwidth_mib: None,
        },
        disks: vec![VdiskSpec {
            name: "vdisk1".into(),
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        }],
        networks: Vec::new(),
    }
}

/// What a source offers (also used by `peer_versions.rs` through its file).
pub fn offer(state: DomainState) -> DomainOffer {
    DomainOffer {
        spec: spec(),
        state,
        machine_type: Some("pc-q35-10.0".into()),
        cpu_model: Some("qemu64".into()),
        source_accel: "tcg".into(),
        source_cpu: "Example CPU".into(),
        source_qemu: Some("10.0.2".into()),
        volumes: vec![ldmd::migration::volumes::VolumeOffer {
            volume: "vol1".into(),
            service: "primary-vds0".into(),
            size_bytes: 1 << 30,
            format: ldm_api::storage::ImageFormat::Raw,
            proof: "token:00112233445566778899aabbccddeeff".into(),
            readonly: false,
            allocated_bytes: 0,
        }],
        copy_storage: false,
        overwrite_storage: false,
        boot_memory_kib: None,
    }
}

/// An offer of a storage migration (`--copy-storage`).
fn copy_offer() -> DomainOffer {
    let mut o = offer(DomainState::Active);
    o.copy_storage = true;
    o.overwrite_storage = true;
    o.volumes[0].allocated_bytes = 1 << 29;
    o
}

/// An offer of a domain with a vnet: the spec carries it (absent from
/// the spec when a domain has none, so older peers read every other offer
/// as before).
fn offer_with_vnets() -> DomainOffer {
    let mut o = offer(DomainState::Active);
    o.spec.networks.push(ldm_api::network::VnetSpec {
        name: "vnet0".into(),
        switch: "primary-vsw0".into(),
        mac: "02:4c:44:00:00:01".parse().unwrap(),
        mtu: Some(1500),
    });
    o
}

/// An offer of a running domain with vCPU slots and hot-pluggable memory:
/// it booted with 1 GiB and has 512 MiB more (virtio-mem) of at most
/// 2 GiB. The fields are absent from every other offer, so a peer of the
/// previous release reads those as before.
fn offer_with_hotplug() -> DomainOffer {
    let mut o = offer(DomainState::Active);
    o.spec.max_vcpus = Some(4);
    o.spec.memory_mib = 1536;
    o.spec.max_memory_mib = Some(2048);
    o.spec.boot_memory_mib = Some(1024);
    o
}

/// The same, from a source that reports its machine's boot memory: 1 GiB
/// and the 8 KiB pad (absent from older sources, whose machines have none).
fn offer_with_boot_memory() -> DomainOffer {
    let mut o = offer_with_hotplug();
    o.boot_memory_kib = Some((1024 << 10) + 8);
    o
}

fn fingerprint() -> ldm_peer::Fingerprint {
    let hex: Vec<String> = (0..32).map(|i| format!("{i:02X}")).collect();
    hex.join(":").parse().unwrap()
}

fn to_target() -> Vec<(&'static str, ToTarget)> {
    let tuning = ldm_qemu::MigrationTuning {
        multifd_channels: 2,
        downtime_limit_ms: 30,
        max_bandwidth_bytes: 1 << 30,
        ..Default::default()
    };
    let all = vec![
        (
            "hello",
            ToTarget::Hello {
                version: PROTOCOL_VERSION,
                host: "src".into(),
            },
        ),
        (
            "auth-password",
            ToTarget::Auth {
                user: "admin".into(),
                password: Some("secret".into()),
            },
        ),
        (
            "auth-certificate",
            ToTarget::Auth {
                user: String::new(),
                password: None,
            },
        ),
        ("check", ToTarget::Check(offer(DomainState::Active))),
        ("check-copy-storage", ToTarget::Check(copy_offer())),
        ("check-vnets", ToTarget::Check(offer_with_vnets())),
        ("check-hotplug", ToTarget::Check(offer_with_hotplug())),
        (
            "check-boot-memory",
            ToTarget::Check(offer_with_boot_memory()),
        ),
        (
            "prepare",
            ToTarget::Prepare {
                offer: offer(DomainState::Active),
                started_at: Some(1_700_000_000),
                tuning: tuning.clone(),
                id: MIGRATION_ID.into(),
            },
        ),
        (
            "prepare-postcopy",
            ToTarget::Prepare {
                offer: offer(DomainState::Active),
                started_at: Some(1_700_000_000),
                tuning: ldm_qemu::MigrationTuning {
                    postcopy: true,
                    ..tuning.clone()
                },
                id: MIGRATION_ID.into(),
            },
        ),
        (
            "postcopy",
            ToTarget::Postcopy {
                console_tail: "login: ".into(),
            },
        ),
        (
            "progress-postcopy",
            ToTarget::Progress {
                phase: Phase::Postcopy,
                percent: 90,
            },
        ),
        (
            "progress",
            ToTarget::Progress {
                phase: Phase::Precopy,
                percent: 40,
            },
        ),
        ("probe", ToTarget::Probe { bytes: 1 << 20 }),
        (
            "commit",
            ToTarget::Commit {
                console_tail: "login: ".into(),
            },
        ),
        (
            "abort",
            ToTarget::Abort {
                reason: "cancelled".into(),
            },
        ),
        (
            "resolve",
            ToTarget::Resolve {
                id: MIGRATION_ID.into(),
                secret: SECRET.into(),
            },
        ),
        (
            "recover",
            ToTarget::Recover {
                id: MIGRATION_ID.into(),
                secret: SECRET.into(),
            },
        ),
    ];
    for (_, m) in &all {
        // A new message is a compile error here until it has a sample.
        match m {
            ToTarget::Hello { .. }
            | ToTarget::Auth { .. }
            | ToTarget::Check(_)
            | ToTarget::Prepare { .. }
            | ToTarget::Progress { .. }
            | ToTarget::Probe { .. }
            | ToTarget::Commit { .. }
            | ToTarget::Postcopy { .. }
            | ToTarget::Abort { .. }
            | ToTarget::Resolve { .. }
            | ToTarget::Recover { .. } => {}
        }
    }
    all
}

fn to_source() -> Vec<(&'static str, ToSource)> {
    let all = vec![
        (
            "hello",
            ToSource::Hello {
                version: PROTOCOL_VERSION,
                host: "dst".into(),
            },
        ),
        (
            "auth-ok",
            ToSource::AuthOk {
                role: UserRole::Management,
            },
        ),
        (
            "checked",
            ToSource::Checked {
                failures: vec!["a failure".into()],
                warnings: vec!["a warning".into()],
                room: None,
                probe_bytes: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-room",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: None,
                }),
                probe_bytes: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-room-ports",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: None,
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-probe",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: Some(64 << 20),
                postcopy_unavailable: None,
            },
        ),
        (
            "checked-no-postcopy",
            ToSource::Checked {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                probe_bytes: Some(64 << 20),
                postcopy_unavailable: Some("userfaultfd, which QEMU needs to receive a post-copy, is not available to ldmd here".into()),
            },
        ),
        ("probed", ToSource::Probed { bytes: 1 << 20 }),
        (
            "postcopy-running",
            ToSource::PostcopyRunning {
                resumed_after_ms: 42,
            },
        ),
        (
            "prepared-cold",
            ToSource::Prepared {
                data: None,
                secret: Some(SECRET.into()),
            },
        ),
        (
            "prepared-live",
            ToSource::Prepared {
                data: Some(Endpoint {
                    addr: "192.0.2.20:40000".parse().unwrap(),
                    fingerprint: fingerprint(),
                    token: [7u8; ldmd::migration::tunnel::TOKEN_LEN],
                    nbd_token: None,
                }),
                secret: Some(SECRET.into()),
            },
        ),
        (
            "prepared-copy-storage",
            ToSource::Prepared {
                data: Some(Endpoint {
                    addr: "192.0.2.20:40000".parse().unwrap(),
                    fingerprint: fingerprint(),
                    token: [7u8; ldmd::migration::tunnel::TOKEN_LEN],
                    nbd_token: Some([9u8; ldmd::migration::tunnel::TOKEN_LEN]),
                }),
                secret: Some(SECRET.into()),
            },
        ),
        (
            "committed",
            ToSource::Committed {
                resumed_after_ms: 12,
                steps: None,
            },
        ),
        (
            "recovering",
            ToSource::Recovering {
                data: Endpoint {
                    addr: "192.0.2.20:40001".parse().unwrap(),
                    fingerprint: fingerprint(),
                    token: [8u8; ldmd::migration::tunnel::TOKEN_LEN],
                    nbd_token: None,
                },
            },
        ),
        ("aborted", ToSource::Aborted),
        (
            "outcome",
            ToSource::Outcome {
                outcome: Outcome::Committed,
            },
        ),
        (
            "error",
            ToSource::Error {
                message: "what to do".into(),
            },
        ),
    ];
    for (_, m) in &all {
        match m {
            ToSource::Hello { .. }
            | ToSource::AuthOk { .. }
            | ToSource::Checked { .. }
            | ToSource::Probed { .. }
            | ToSource::PostcopyRunning { .. }
            | ToSource::Prepared { .. }
            | ToSource::Committed { .. }
            | ToSource::Recovering { .. }
            | ToSource::Aborted
            | ToSource::Outcome { .. }
            | ToSource::Error { .. } => {}
        }
    }
    all
}

#[test]
fn peer_messages_are_pinned() {
    let mut names = BTreeSet::new();
    for (name, m) in to_target() {
        let n = format!("to-target-{name}");
        check("peer", &n, &m);
        names.insert(n);
    }
    for (name, m) in to_source() {
        let n = format!("to-source-{name}");
        check("peer", &n, &m);
        names.insert(n);
    }
    for (name, state) in [
        ("bound", DomainState::Bound),
        ("inactive", DomainState::Inactive),
    ] {
        // The cold forms a previous-version peer sends (see peer_versions.rs).
        let mut o = offer(state);
        o.spec.name = "ldg-old".into();
        o.spec.disks.clear();
        o.volumes.clear();
        o.spec.vars = BootVars::default();
        o.machine_type = None;
        o.cpu_model = None;
        let n = format!("to-target-prepare-cold-{name}");
        check(
            "peer",
            &n,
            &ToTarget::Prepare {
                offer: o,
                started_at: None,
                tuning: Default::default(),
                id: String::new(),
            },
        );
        names.insert(n);
    }
    no_stale("peer", &names);
}

#[test]
fn database_records_are_pinned() {
    let mut names = BTreeSet::new();
    let inactive = DomainRecord::new(spec());
    let bound = DomainRecord {
        state: DomainState::Bound,
        binding: Some(Binding {
            console_port: 5000,
            machine_type: "pc-q35-10.0".into(),
            cpu_model: "qemu64".into(),
            accel: "tcg".into(),
            boot_pad_kib: None,
        }),
        ..inactive.clone()
    };
    let active = DomainRecord {
        state: DomainState::Active,
        started_at: Some(1_700_000_000),
        ..bound.clone()
    };
    // Booted with 1 GiB (padded by 8 KiB) of at most 2 GiB, 512 MiB added.
    let mut hotmem = active.clone();
    hotmem.spec.memory_mib = 1536;
    hotmem.spec.max_memory_mib = Some(2048);
    hotmem.spec.boot_memory_mib = Some(1024);
    if let Some(b) = hotmem.binding.as_mut() {
        b.boot_pad_kib = Some(8);
    }
    let outgoing = DomainRecord {
        migration: Some(MigrationMark {
            state: Some(MachineState::Source(SourceState::Copying)),
            ..MigrationMark::new(Role::Source, "192.0.2.20:8101", MIGRATION_ID)
        }),
        ..active.clone()
    };
    let unsettled = DomainRecord {
        state: DomainState::Suspended,
        migration: Some(MigrationMark {
            error: Some("what to do".into()),
            state: Some(MachineState::Source(SourceState::Unconfirmed {
                facts: "the target did not confirm".into(),
                postcopy: false,
            })),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Source, "192.0.2.20:8101", MIGRATION_ID)
        }),
        ..active.clone()
    };
    // Post-copy: recorded before QEMU switches; a restart never resumes it.
    let postcopy = DomainRecord {
        migration: Some(MigrationMark {
            state: Some(MachineState::Source(SourceState::Postcopy)),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Source, "192.0.2.20:8101", MIGRATION_ID)
        }),
        ..active.clone()
    };
    // Renamed by the move: the name on the target is kept for a restart.
    let postcopy_renamed = DomainRecord {
        migration: Some(MigrationMark {
            state: Some(MachineState::Source(SourceState::Postcopy)),
            secret: Some(SECRET.into()),
            peer_name: Some("ldg1-moved".into()),
            ..MigrationMark::new(Role::Source, "192.0.2.20:8101", MIGRATION_ID)
        }),
        ..active.clone()
    };
    let postcopy_unsettled = DomainRecord {
        state: DomainState::Suspended,
        migration: Some(MigrationMark {
            error: Some("what to know".into()),
            state: Some(MachineState::Source(SourceState::Unconfirmed {
                facts: "the target did not confirm".into(),
                postcopy: true,
            })),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Source, "192.0.2.20:8101", MIGRATION_ID)
        }),
        ..active.clone()
    };
    // A post-copy lost in the switch (the target rolled back): over,
    // suspended with the note, released to the administrator.
    let switch_lost = DomainRecord {
        state: DomainState::Suspended,
        migration: Some(MigrationMark {
            error: Some("what to do".into()),
            state: Some(MachineState::Source(SourceState::SwitchLost {
                facts: "the link broke in the switch".into(),
            })),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Source, "192.0.2.20:8101", MIGRATION_ID)
        }),
        ..active.clone()
    };
    let incoming_postcopy = DomainRecord {
        migration: Some(MigrationMark {
            state: Some(MachineState::Target(TargetState::Postcopy)),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Target, "src (192.0.2.10)", MIGRATION_ID)
        }),
        ..bound.clone()
    };
    let incoming_switching = DomainRecord {
        migration: Some(MigrationMark {
            state: Some(MachineState::Target(TargetState::PostcopyStarting)),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Target, "src (192.0.2.10)", MIGRATION_ID)
        }),
        ..bound.clone()
    };
    let incoming = DomainRecord {
        migration: Some(MigrationMark {
            state: Some(MachineState::Target(TargetState::Receiving)),
            secret: Some(SECRET.into()),
            ..MigrationMark::new(Role::Target, "src (192.0.2.10)", MIGRATION_ID)
        }),
        ..bound.clone()
    };
    for (name, r) in [
        ("domain-inactive", inactive),
        ("domain-bound", bound),
        ("domain-active", active),
        ("domain-active-hotmem", hotmem),
        ("domain-outgoing", outgoing),
        ("domain-unsettled", unsettled),
        ("domain-incoming", incoming),
        ("domain-outgoing-postcopy", postcopy),
        ("domain-outgoing-postcopy-renamed", postcopy_renamed),
        ("domain-unsettled-postcopy", postcopy_unsettled),
        ("domain-switch-lost", switch_lost),
        ("domain-incoming-postcopy", incoming_postcopy),
        ("domain-incoming-postcopy-starting", incoming_switching),
    ] {
        check("db", name, &r);
        names.insert(name.to_string());
    }
    no_stale("db", &names);
}

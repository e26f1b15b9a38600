//! Every form of a domain's database record against its file in
//! `golden/db/`.

use crate::common::golden::{check, no_stale};
use crate::{spec, MIGRATION_ID, SECRET};
use ldm_api::migration::Role;
use ldm_api::DomainState;
use ldmd::migration::source::machine::State as SourceState;
use ldmd::migration::target::machine::State as TargetState;
use ldmd::record::{Binding, DomainRecord, MachineState, MigrationMark};
use std::collections::BTreeSet;

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

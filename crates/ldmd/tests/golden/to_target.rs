//! A sample of every message a source sends to a target.

use crate::offers::{
    copy_offer, offer, offer_with_boot_memory, offer_with_hotplug, offer_with_vnets,
};
use crate::{MIGRATION_ID, SECRET};
use ldm_api::migration::Phase;
use ldm_api::DomainState;
use ldmd::migration::protocol::{ToTarget, PROTOCOL_VERSION};

pub fn to_target() -> Vec<(&'static str, ToTarget)> {
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

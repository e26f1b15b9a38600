//! Golden files pin the peer protocol's messages and the database records:
//! a change that a host of the previous release could not read fails here.
//! `LDM_BLESS=1 cargo test -p ldmd --test golden` re-blesses on purpose.
//! `peer_versions.rs` replays these files against a real ldmd, as a peer
//! of the previous protocol version would send them.
//!
//! The samples live next to their files: `to_target.rs` and `to_source.rs`
//! the peer messages (`peer/`), built from the offers in `offers.rs`;
//! `peer_messages.rs` and `db_records.rs` the two tests (`peer/`, `db/`).

#[path = "../common/mod.rs"]
mod common;
mod db_records;
mod offers;
mod peer_messages;
mod to_source;
mod to_target;

use ldm_api::storage::VdiskSpec;
use ldm_api::{BootVars, CpuArch, DomainSpec};

/// A migration's id and secret in the samples.
const MIGRATION_ID: &str = "0b5c2f7e-0000-4000-8000-000000000002";
const SECRET: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

/// The domain every sample carries.
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

//! The offers a source sends in `Check` and `Prepare`.

use crate::spec;
use ldm_api::DomainState;
use ldmd::migration::protocol::DomainOffer;

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
pub fn copy_offer() -> DomainOffer {
    let mut o = offer(DomainState::Active);
    o.copy_storage = true;
    o.overwrite_storage = true;
    o.volumes[0].allocated_bytes = 1 << 29;
    o
}

/// An offer of a domain with a vnet: the spec carries it (absent from
/// the spec when a domain has none, so older peers read every other offer
/// as before).
pub fn offer_with_vnets() -> DomainOffer {
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
pub fn offer_with_hotplug() -> DomainOffer {
    let mut o = offer(DomainState::Active);
    o.spec.max_vcpus = Some(4);
    o.spec.memory_mib = 1536;
    o.spec.max_memory_mib = Some(2048);
    o.spec.boot_memory_mib = Some(1024);
    o
}

/// The same, from a source that reports its machine's boot memory: 1 GiB
/// and the 8 KiB pad (absent from older sources, whose machines have none).
pub fn offer_with_boot_memory() -> DomainOffer {
    let mut o = offer_with_hotplug();
    o.boot_memory_kib = Some((1024 << 10) + 8);
    o
}

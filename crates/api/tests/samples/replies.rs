//! Samples of every reply of the local API and the views they carry.

use super::requests::{mac, spec};
use ldm_api::domain::MachineView;
use ldm_api::flags::{MigrationRole, Reconf, Status};
use ldm_api::migration::{DryRun, OperationView, Phase, Role, Summary};
use ldm_api::network::{VnetView, VswView};
use ldm_api::request::{SpconfigView, TrustView, UserRole, UserView};
use ldm_api::service::VccView;
use ldm_api::storage::{BackendKind, DiskView, ImageFormat, VdsView, VolumeView};
use ldm_api::*;

pub fn domain_view() -> DomainView {
    DomainView {
        name: "ldg1".into(),
        state: DomainState::Active,
        flags: Flags {
            starting_stopping: false,
            status: Status::Normal,
            reconf: Reconf::None,
            control: false,
            vio_service: false,
            migration: MigrationRole::Source,
        },
        cons: Some("5000".into()),
        vcpus: 2,
        memory_mib: 1024,
        util: Some(12.5),
        norm: None,
        uptime_secs: Some(3600),
        uuid: "6f1c1a2e-0000-4000-8000-000000000001".into(),
        cpu_arch: CpuArch::Native,
        vars: BootVars {
            kernel: Some("/boot/vmlinuz".into()),
            initrd: Some("/boot/initrd".into()),
            boot_args: Some("console=ttyS0".into()),
        },
        machine: Some(MachineView {
            machine_type: "pc-q35-10.0".into(),
            cpu_model: "max".into(),
            accel: "tcg".into(),
            pid: Some(4242),
        }),
        operation: Some(OperationView {
            kind: "migration".into(),
            role: Role::Source,
            peer: "192.0.2.20:8101".into(),
            phase: Phase::Precopy,
            progress: 40,
        }),
        note: None,
        disks: vec![DiskView {
            name: "vdisk1".into(),
            volume: "vol1@primary-vds0".into(),
            id: 0,
            server: "primary".into(),
            backend: Some("/var/lib/images/ldg1.qcow2".into()),
            readonly: false,
        }],
        networks: Vec::new(),
        max_vcpus: None,
        max_memory_mib: None,
        pending: Vec::new(),
    }
}

/// A domain of this release: vCPU slots and a delayed reconfiguration.
pub fn domain_view_reconf() -> DomainView {
    let mut v = domain_view();
    v.flags.reconf = Reconf::Delayed;
    v.max_vcpus = Some(4);
    v.pending = vec!["cpu-arch=generic".into()];
    v.cpu_arch = CpuArch::MigrationClass1;
    v
}

/// A running domain whose memory is changing live (FLAGS `r`), within
/// its `max-memory`.
pub fn domain_view_memdr() -> DomainView {
    let mut v = domain_view();
    v.flags.reconf = Reconf::MemoryDr;
    v.memory_mib = 1536;
    v.max_memory_mib = Some(2048);
    v
}

pub fn host_view() -> HostView {
    HostView {
        hostname: "host1".into(),
        vcpus_total: 8,
        vcpus_free: 6,
        memory_total_mib: 8192,
        memory_free_mib: 7168,
        primary_vcpus: 2,
        accel: "tcg".into(),
        cpu_model: "Example CPU".into(),
        qemu_path: Some("/usr/bin/qemu-system-x86_64".into()),
        qemu_version: Some("10.0.2".into()),
        qemu_problem: None,
        listen: Some("192.0.2.10:8101".into()),
        fingerprint: Some("AB:CD".into()),
        uptime_secs: 60,
        version: "0.1.0".into(),
        api_version: Some(1),
        peer_protocol: Some(1),
    }
}

pub fn summary() -> Summary {
    Summary {
        name: "ldg1".into(),
        target_name: "ldg1".into(),
        target: "192.0.2.20:8101".into(),
        live: true,
        total_ms: 5200,
        downtime_ms: 45,
        bytes_sent: 1_073_741_824,
        passes: 3,
        channels: 2,
        rate_mib_s: 410.5,
        qemu_ms: 2500,
        setup_ms: 20,
        bulk_rate_mib_s: 414.0,
        warnings: vec!["a warning".into()],
        storage_bytes: 0,
        storage_ms: 0,
        pause: None,
        postcopy_ms: None,
        choice: None,
    }
}

pub fn replies() -> Vec<(&'static str, Reply)> {
    vec![
        (
            "done",
            Reply::Done {
                message: Some("done".into()),
            },
        ),
        ("host", Reply::Host(host_view())),
        (
            "domains",
            Reply::Domains {
                domains: vec![domain_view()],
            },
        ),
        (
            "domains-reconf",
            Reply::Domains {
                domains: vec![domain_view_reconf()],
            },
        ),
        (
            "domains-norm",
            Reply::Domains {
                domains: vec![DomainView {
                    norm: Some(6.25),
                    flags: Flags {
                        starting_stopping: true,
                        status: Status::Transition,
                        ..Default::default()
                    },
                    operation: None,
                    ..domain_view()
                }],
            },
        ),
        (
            "domains-memdr",
            Reply::Domains {
                domains: vec![domain_view_memdr()],
            },
        ),
        (
            "services",
            Reply::Services {
                vcc: vec![VccView {
                    name: "primary-vcc0".into(),
                    ldom: "primary".into(),
                    port_lo: 5000,
                    port_hi: 5099,
                    address: "127.0.0.1".into(),
                    in_use: vec![(5000, "ldg1".into())],
                    access: "role".into(),
                }],
                vds: vec![VdsView {
                    name: "primary-vds0".into(),
                    ldom: "primary".into(),
                    volumes: vec![VolumeView {
                        name: "vol1".into(),
                        readonly: false,
                        backend: "/var/lib/images/ldg1.qcow2".into(),
                        kind: Some(BackendKind::File),
                        format: Some(ImageFormat::Qcow2),
                        size_bytes: Some(1 << 30),
                        problem: None,
                        used_by: vec![("ldg1".into(), "vdisk1".into())],
                    }],
                }],
                vsw: Vec::new(),
            },
        ),
        (
            "domains-network",
            Reply::Domains {
                domains: vec![DomainView {
                    networks: vec![VnetView {
                        name: "vnet1".into(),
                        switch: "primary-vsw0".into(),
                        mac: mac(),
                        mtu: 1500,
                        id: 0,
                        tap: Some("ldmt-0a1b2c3d".into()),
                    }],
                    ..domain_view()
                }],
            },
        ),
        (
            "services-vsw",
            Reply::Services {
                vcc: Vec::new(),
                vds: Vec::new(),
                vsw: vec![VswView {
                    name: "primary-vsw0".into(),
                    ldom: "primary".into(),
                    net_dev: Some("eth0".into()),
                    mtu: 1500,
                    mac: None,
                    bridge: "ldmb-0a1b2c3d".into(),
                    problem: None,
                    used_by: vec![("ldg1".into(), "vnet1".into())],
                }],
            },
        ),
        (
            "console",
            Reply::Console {
                address: "127.0.0.1".into(),
                port: 5000,
            },
        ),
        (
            "console-dump",
            Reply::ConsoleDump {
                text: "login: ".into(),
            },
        ),
        (
            "users",
            Reply::Users {
                users: vec![UserView {
                    name: "admin".into(),
                    role: UserRole::Console,
                }],
            },
        ),
        (
            "trust",
            Reply::Trust {
                entries: vec![TrustView {
                    host: "192.0.2.20:8101".into(),
                    fingerprint: "AB:CD".into(),
                    kind: "target".into(),
                }],
            },
        ),
        (
            "probe",
            Reply::Probe {
                fingerprint: "AB:CD".into(),
                pinned: None,
            },
        ),
        (
            "dry-run",
            Reply::DryRun(DryRun {
                failures: vec!["a failure".into()],
                warnings: vec![],
                room: None,
                copy: None,
                memory: None,
                choice: None,
            }),
        ),
        (
            "dry-run-room",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: None,
                }),
                copy: None,
                memory: None,
                choice: None,
            }),
        ),
        (
            "dry-run-room-ports",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: Some(ldm_api::migration::Room {
                    free_vcpus: 6,
                    free_mib: 7168,
                    free_console_ports: Some(40),
                }),
                copy: None,
                memory: None,
                choice: None,
            }),
        ),
        (
            "dry-run-copy",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: Some(ldm_api::migration::CopyEstimate {
                    bytes: 1 << 30,
                    rate_mib_s: 100,
                    rate_source: "assumed".into(),
                    seconds: 11,
                }),
                memory: None,
                choice: None,
            }),
        ),
        (
            "dry-run-memory",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: None,
                memory: Some(ldm_api::migration::MemoryEstimate {
                    memory_mib: 1024,
                    to_send_mib: 310,
                    dirty_rate_mib_s: 98,
                    dirty_during_copy_mib_s: None,
                    link_mib_s: 640,
                    link_source: ldm_api::migration::LinkSource::Measured,
                    cap_mib_s: None,
                    qemu_rate_mib_s: Some(280),
                    first_touch_mib_s: None,
                    downtime_limit_ms: 30,
                    total_ms: Some(1900),
                    pause_ms: Some(30),
                    passes: 4,
                    sent_mib: 420,
                    converges: true,
                    throttle_percent: 0,
                    postcopy_after_ms: None,
                }),
                choice: None,
            }),
        ),
        (
            "dry-run-memory-first-touch",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: None,
                memory: Some(ldm_api::migration::MemoryEstimate {
                    memory_mib: 1024,
                    to_send_mib: 376,
                    dirty_rate_mib_s: 70,
                    dirty_during_copy_mib_s: None,
                    link_mib_s: 750,
                    link_source: ldm_api::migration::LinkSource::Measured,
                    cap_mib_s: None,
                    qemu_rate_mib_s: None,
                    first_touch_mib_s: Some(1400),
                    downtime_limit_ms: 30,
                    total_ms: Some(1800),
                    pause_ms: Some(25),
                    passes: 5,
                    sent_mib: 450,
                    converges: true,
                    throttle_percent: 0,
                    postcopy_after_ms: None,
                }),
                choice: None,
            }),
        ),
        (
            "dry-run-memory-during",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: None,
                memory: Some(ldm_api::migration::MemoryEstimate {
                    memory_mib: 2048,
                    to_send_mib: 1133,
                    dirty_rate_mib_s: 160,
                    dirty_during_copy_mib_s: Some(84),
                    link_mib_s: 714,
                    link_source: ldm_api::migration::LinkSource::Measured,
                    cap_mib_s: None,
                    qemu_rate_mib_s: Some(201),
                    first_touch_mib_s: None,
                    downtime_limit_ms: 30,
                    total_ms: Some(10300),
                    pause_ms: Some(30),
                    passes: 9,
                    sent_mib: 2200,
                    converges: true,
                    throttle_percent: 0,
                    postcopy_after_ms: None,
                }),
                choice: None,
            }),
        ),
        (
            "dry-run-memory-throttled",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: None,
                memory: Some(ldm_api::migration::MemoryEstimate {
                    memory_mib: 2048,
                    to_send_mib: 1900,
                    dirty_rate_mib_s: 400,
                    dirty_during_copy_mib_s: None,
                    link_mib_s: 320,
                    link_source: ldm_api::migration::LinkSource::LastMigration,
                    cap_mib_s: Some(300),
                    qemu_rate_mib_s: None,
                    first_touch_mib_s: None,
                    downtime_limit_ms: 30,
                    total_ms: Some(27000),
                    pause_ms: Some(31),
                    passes: 17,
                    sent_mib: 4100,
                    converges: false,
                    throttle_percent: 60,
                    postcopy_after_ms: None,
                }),
                choice: None,
            }),
        ),
        (
            "dry-run-memory-postcopy",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: None,
                memory: Some(ldm_api::migration::MemoryEstimate {
                    memory_mib: 2048,
                    to_send_mib: 1900,
                    dirty_rate_mib_s: 1000,
                    dirty_during_copy_mib_s: None,
                    link_mib_s: 320,
                    link_source: ldm_api::migration::LinkSource::Measured,
                    cap_mib_s: None,
                    qemu_rate_mib_s: None,
                    first_touch_mib_s: None,
                    downtime_limit_ms: 30,
                    total_ms: None,
                    pause_ms: None,
                    passes: 40,
                    sent_mib: 12000,
                    converges: false,
                    throttle_percent: 99,
                    postcopy_after_ms: Some(20_000),
                }),
                choice: None,
            }),
        ),
        (
            "dry-run-memory-chosen",
            Reply::DryRun(DryRun {
                failures: vec![],
                warnings: vec![],
                room: None,
                copy: None,
                memory: Some(ldm_api::migration::MemoryEstimate {
                    memory_mib: 2048,
                    to_send_mib: 1900,
                    dirty_rate_mib_s: 1000,
                    dirty_during_copy_mib_s: None,
                    link_mib_s: 320,
                    link_source: ldm_api::migration::LinkSource::Measured,
                    cap_mib_s: None,
                    qemu_rate_mib_s: Some(180),
                    first_touch_mib_s: None,
                    downtime_limit_ms: 30,
                    total_ms: None,
                    pause_ms: None,
                    passes: 40,
                    sent_mib: 12000,
                    converges: false,
                    throttle_percent: 99,
                    postcopy_after_ms: Some(20_000),
                }),
                choice: Some(ldm_api::channels::CopyChoice {
                    kind: ldm_api::channels::CopyKind::PostcopyReady,
                    channels: 1,
                    reason: "the guest dirties 1000 MiB/s, the copy carries 320 MiB/s on 2 channels: pre-copy would not finish even with the guest's vCPUs slowed by 99 %".into(),
                }),
            }),
        ),
        ("migrated", Reply::Migrated(summary())),
        (
            "migrated-copy",
            Reply::Migrated(Summary {
                storage_bytes: 1 << 30,
                storage_ms: 21_500,
                pause: None,
                ..summary()
            }),
        ),
        (
            "migrated-postcopy",
            Reply::Migrated(Summary {
                postcopy_ms: Some(4_200),
                ..summary()
            }),
        ),
        (
            "migrated-pause",
            Reply::Migrated(Summary {
                pause: Some(ldm_api::migration::PauseBreakdown {
                    qemu_downtime_ms: 12,
                    completion_to_commit_ms: 2,
                    link_ms: 1,
                    target_record_ms: 1,
                    target_load_ms: 3,
                    target_cont_ms: 40,
                    target_resume_event_ms: Some(1),
                    source_stopped_at_us: Some(1_796_558_400_123_456),
                }),
                ..summary()
            }),
        ),
        (
            "migrated-chosen",
            Reply::Migrated(Summary {
                choice: Some(ldm_api::channels::CopyChoice {
                    kind: ldm_api::channels::CopyKind::Multifd,
                    channels: 2,
                    reason: "the guest dirties 120 MiB/s, the copy carries 390 MiB/s on 2 channels: pre-copy is predicted to converge in 3.0 s of copying".into(),
                }),
                ..summary()
            }),
        ),
        (
            "spconfigs",
            Reply::Spconfigs {
                configs: vec![
                    SpconfigView {
                        name: "factory-default".into(),
                        current: false,
                        next_poweron: false,
                    },
                    SpconfigView {
                        name: "lab".into(),
                        current: true,
                        next_poweron: true,
                    },
                ],
            },
        ),
        (
            "constraints",
            Reply::Constraints {
                domains: vec![spec()],
            },
        ),
    ]
}

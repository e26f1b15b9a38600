//! One sample of every request and reply of the local API, for the golden
//! files of `golden.rs`.

use ldm_api::domain::{MachineView, MigrationPrefs};
use ldm_api::flags::{MigrationRole, Reconf, Status};
use ldm_api::migration::{Auth, DryRun, MigrateRequest, OperationView, Phase, Role, Summary};
use ldm_api::network::{Mac, VnetView, VswView};
use ldm_api::request::{SpconfigView, StopMode, TrustView, UserRole, UserView};
use ldm_api::service::VccView;
use ldm_api::storage::{BackendKind, DiskView, ImageFormat, VdsView, VolumeView};
use ldm_api::*;

pub fn migrate_request() -> MigrateRequest {
    MigrateRequest {
        name: "ldg1".into(),
        host: "192.0.2.20".into(),
        port: 8101,
        user: "admin".into(),
        new_name: Some("ldg1-new".into()),
        auth: Auth::Password("secret".into()),
        dry_run: false,
        accept_fingerprint: Some("AB:CD".into()),
        downtime_ms: Some(30),
        bandwidth_mib: Some(1024),
        copy_storage: false,
        overwrite_storage: false,
    }
}

/// One sample of every request. The match makes a new request a compile
/// error here until it has a sample.
pub fn requests() -> Vec<Request> {
    let n = || "ldg1".to_string();
    let all = vec![
        Request::Host,
        Request::List { names: vec![n()] },
        Request::AddDomain {
            name: n(),
            cpu_arch: Some(CpuArch::Generic),
            max_vcpus: None,
        },
        Request::SetDomain {
            name: n(),
            cpu_arch: None,
            downtime_ms: Some(50),
            bandwidth_mib: Some(0),
            max_vcpus: None,
            max_memory_mib: None,
        },
        Request::RemoveDomain { name: n() },
        Request::Vcpu {
            name: n(),
            change: ResourceChange::Add,
            count: 2,
        },
        Request::Memory {
            name: n(),
            change: ResourceChange::Set,
            mib: 1024,
        },
        Request::SetVar {
            name: n(),
            vars: vec![("boot-args".into(), "console=ttyS0".into())],
        },
        Request::Bind { name: n() },
        Request::Unbind { name: n() },
        Request::Start { name: n() },
        Request::Stop {
            name: n(),
            force: true,
            mode: StopMode::Normal,
            timeout_secs: None,
        },
        Request::ListServices,
        Request::AddVcc {
            name: "primary-vcc0".into(),
            port_lo: 5000,
            port_hi: 5099,
        },
        Request::SetVcc {
            name: "primary-vcc0".into(),
            port_lo: 5000,
            port_hi: 5199,
        },
        Request::RemoveVcc {
            name: "primary-vcc0".into(),
        },
        Request::ConsoleAddr { name: n() },
        Request::ConsoleDump { name: n() },
        Request::AddUser {
            name: "admin".into(),
            role: UserRole::Management,
            password: "secret".into(),
        },
        Request::SetUser {
            name: "admin".into(),
            role: Some(UserRole::Review),
            password: None,
        },
        Request::RemoveUser {
            name: "admin".into(),
        },
        Request::ListUsers,
        Request::ProbeHost {
            host: "192.0.2.20".into(),
            port: 8101,
        },
        Request::AddTrust {
            host: "192.0.2.20".into(),
            port: 8101,
            fingerprint: Some("AB:CD".into()),
            source: false,
        },
        Request::RemoveTrust {
            host: "192.0.2.20".into(),
            port: 8101,
        },
        Request::ListTrust,
        Request::Migrate(migrate_request()),
        Request::CancelMigration { name: n() },
        Request::CancelReconf { name: n() },
        Request::CancelMemoryDr { name: n() },
        Request::AddVds {
            name: "primary-vds0".into(),
        },
        Request::RemoveVds {
            name: "primary-vds0".into(),
        },
        Request::AddVdsdev {
            force: false,
            readonly: true,
            create: false,
            backend: "/var/lib/images/ldg1.qcow2".into(),
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        },
        Request::SetVdsdev {
            readonly: false,
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        },
        Request::RemoveVdsdev {
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        },
        Request::AddVdisk {
            disk: "vdisk1".into(),
            volume: "vol1".into(),
            service: "primary-vds0".into(),
            domain: n(),
        },
        Request::SetVdisk {
            disk: "vdisk1".into(),
            volume: "vol2".into(),
            service: "primary-vds0".into(),
            domain: n(),
        },
        Request::DefineDomain {
            spec: spec(),
            replace: false,
        },
        Request::ListConstraints { names: vec![n()] },
        Request::AddSpconfig { name: "lab".into() },
        Request::SetSpconfig { name: "lab".into() },
        Request::RemoveSpconfig { name: "lab".into() },
        Request::ListSpconfig,
        Request::RemoveVdisk {
            disk: "vdisk1".into(),
            domain: n(),
        },
        Request::AddVsw {
            name: "primary-vsw0".into(),
            net_dev: Some("eth0".into()),
            mtu: Some(1500),
            mac: None,
        },
        Request::SetVsw {
            name: "primary-vsw0".into(),
            net_dev: Some(String::new()),
            mtu: Some(9000),
            mac: Some(mac()),
            clear_mac: false,
        },
        Request::RemoveVsw {
            name: "primary-vsw0".into(),
        },
        Request::AddVnet {
            name: "vnet1".into(),
            switch: "primary-vsw0".into(),
            domain: n(),
            mac: Some(mac()),
            mtu: None,
        },
        Request::SetVnet {
            name: "vnet1".into(),
            domain: n(),
            switch: Some("primary-vsw1".into()),
            mac: None,
            mtu: None,
            clear_mtu: true,
        },
        Request::RemoveVnet {
            name: "vnet1".into(),
            domain: n(),
        },
    ];
    for r in &all {
        match r {
            Request::Host
            | Request::List { .. }
            | Request::AddDomain { .. }
            | Request::SetDomain { .. }
            | Request::RemoveDomain { .. }
            | Request::Vcpu { .. }
            | Request::Memory { .. }
            | Request::SetVar { .. }
            | Request::Bind { .. }
            | Request::Unbind { .. }
            | Request::Start { .. }
            | Request::Stop { .. }
            | Request::ListServices
            | Request::AddVcc { .. }
            | Request::SetVcc { .. }
            | Request::RemoveVcc { .. }
            | Request::ConsoleAddr { .. }
            | Request::ConsoleDump { .. }
            | Request::AddUser { .. }
            | Request::SetUser { .. }
            | Request::RemoveUser { .. }
            | Request::ListUsers
            | Request::ProbeHost { .. }
            | Request::AddTrust { .. }
            | Request::RemoveTrust { .. }
            | Request::ListTrust
            | Request::Migrate(_)
            | Request::CancelMigration { .. }
            | Request::CancelReconf { .. }
            | Request::CancelMemoryDr { .. }
            | Request::AddVds { .. }
            | Request::RemoveVds { .. }
            | Request::AddVdsdev { .. }
            | Request::SetVdsdev { .. }
            | Request::RemoveVdsdev { .. }
            | Request::AddVdisk { .. }
            | Request::SetVdisk { .. }
            | Request::RemoveVdisk { .. }
            | Request::AddVsw { .. }
            | Request::SetVsw { .. }
            | Request::RemoveVsw { .. }
            | Request::AddVnet { .. }
            | Request::SetVnet { .. }
            | Request::RemoveVnet { .. } => {}
            Request::DefineDomain { .. }
            | Request::ListConstraints { .. }
            | Request::AddSpconfig { .. }
            | Request::SetSpconfig { .. }
            | Request::RemoveSpconfig { .. }
            | Request::ListSpconfig => {}
        }
    }
    all
}

pub fn mac() -> Mac {
    "02:4c:44:00:00:01".parse().unwrap()
}

pub fn spec() -> DomainSpec {
    DomainSpec {
        name: "ldg1".into(),
        uuid: "6f1c1a2e-0000-4000-8000-000000000001".parse().unwrap(),
        cpu_arch: CpuArch::Generic,
        vcpus: 2,
        max_vcpus: None,
        memory_mib: 1024,
        max_memory_mib: None,
        boot_memory_mib: None,
        vars: BootVars {
            kernel: Some("/boot/vmlinuz".into()),
            initrd: None,
            boot_args: Some("console=ttyS0".into()),
        },
        migration: MigrationPrefs {
            downtime_ms: Some(300),
            bandwidth_mib: None,
        },
        disks: vec![ldm_api::storage::VdiskSpec {
            name: "vdisk1".into(),
            volume: "vol1".into(),
            service: "primary-vds0".into(),
        }],
        networks: Vec::new(),
    }
}

/// Requests whose forms beyond the first sample of their `op` are pinned
/// too, by name.
pub fn request_variants() -> Vec<(&'static str, Request)> {
    vec![
        (
            "stop-reboot",
            Request::Stop {
                name: "ldg1".into(),
                force: false,
                mode: StopMode::Reboot,
                timeout_secs: Some(30),
            },
        ),
        (
            "stop-halt",
            Request::Stop {
                name: "ldg1".into(),
                force: false,
                mode: StopMode::Halt,
                timeout_secs: None,
            },
        ),
    ]
}

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
                    link_mib_s: 640,
                    link_source: ldm_api::migration::LinkSource::Measured,
                    cap_mib_s: None,
                    qemu_rate_mib_s: Some(280),
                    downtime_limit_ms: 30,
                    total_ms: Some(1900),
                    pause_ms: Some(30),
                    passes: 4,
                    sent_mib: 420,
                    converges: true,
                    throttle_percent: 0,
                }),
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
                    link_mib_s: 320,
                    link_source: ldm_api::migration::LinkSource::LastMigration,
                    cap_mib_s: Some(300),
                    qemu_rate_mib_s: None,
                    downtime_limit_ms: 30,
                    total_ms: Some(27000),
                    pause_ms: Some(31),
                    passes: 17,
                    sent_mib: 4100,
                    converges: false,
                    throttle_percent: 60,
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

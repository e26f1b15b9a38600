//! Golden files pin the local API's JSON: every request, reply, event and
//! error as ldm and ldmd write them. A change that alters a format fails
//! here; if it is meant, re-bless the files on purpose with
//!
//! ```sh
//! LDM_BLESS=1 cargo test -p ldm-api --test golden
//! ```
//!
//! and review the diff of `tests/golden/` in the commit. A change that a
//! client of the previous release could not read (a removed or renamed
//! field, request or reply) must also raise `LOCAL_API_VERSION`: the files
//! hold the previous release's forms, and each must still parse.

use ldm_api::domain::MachineView;
use ldm_api::flags::{MigrationRole, Reconf, Status};
use ldm_api::migration::{
    Auth, DryRun, MigrateRequest, OperationView, Phase, Progress, Role, Summary,
};
use ldm_api::network::{Mac, VnetView, VswView};
use ldm_api::request::{TrustView, UserRole, UserView};
use ldm_api::service::VccView;
use ldm_api::storage::{BackendKind, DiskView, ImageFormat, VdsView, VolumeView};
use ldm_api::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::PathBuf;

fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind)
}

/// Compares `value`'s JSON with `golden/KIND/NAME.json` (or writes it when
/// blessing), and parses the file back into `value`.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(kind: &str, name: &str, value: &T) {
    let path = dir(kind).join(format!("{name}.json"));
    let actual = serde_json::to_value(value).unwrap();
    if std::env::var_os("LDM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; a new message needs its golden file: LDM_BLESS=1 cargo test -p ldm-api --test golden",
            path.display()
        )
    });
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        actual,
        expected,
        "the JSON of {kind}/{name} changed. If that is meant, re-bless (LDM_BLESS=1 cargo test -p ldm-api --test golden) and raise LOCAL_API_VERSION if the previous release cannot read it"
    );
    let parsed: T = serde_json::from_value(expected)
        .unwrap_or_else(|e| panic!("{kind}/{name}: the golden form no longer parses ({e})"));
    assert_eq!(&parsed, value, "{kind}/{name} parses into something else");
}

/// Every file in `golden/KIND` is one of `names` (no stale files).
fn no_stale(kind: &str, names: &BTreeSet<String>) {
    if std::env::var_os("LDM_BLESS").is_some() {
        return;
    }
    for e in std::fs::read_dir(dir(kind)).unwrap() {
        let f = e.unwrap().file_name().to_string_lossy().into_owned();
        let stem = f.trim_end_matches(".json");
        assert!(
            names.contains(stem),
            "golden/{kind}/{f} is not checked by any sample: remove it"
        );
    }
}

fn migrate_request() -> MigrateRequest {
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
fn requests() -> Vec<Request> {
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
        Request::AddVds {
            name: "primary-vds0".into(),
        },
        Request::RemoveVds {
            name: "primary-vds0".into(),
        },
        Request::AddVdsdev {
            force: false,
            readonly: true,
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
        }
    }
    all
}

fn mac() -> Mac {
    "02:4c:44:00:00:01".parse().unwrap()
}

fn domain_view() -> DomainView {
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
        pending: Vec::new(),
    }
}

/// A domain of this release: vCPU slots and a delayed reconfiguration.
fn domain_view_reconf() -> DomainView {
    let mut v = domain_view();
    v.flags.reconf = Reconf::Delayed;
    v.max_vcpus = Some(4);
    v.pending = vec!["cpu-arch=generic".into()];
    v.cpu_arch = CpuArch::MigrationClass1;
    v
}

fn host_view() -> HostView {
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

fn summary() -> Summary {
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
    }
}

fn replies() -> Vec<(&'static str, Reply)> {
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
            }),
        ),
        ("migrated", Reply::Migrated(summary())),
        (
            "migrated-copy",
            Reply::Migrated(Summary {
                storage_bytes: 1 << 30,
                storage_ms: 21_500,
                ..summary()
            }),
        ),
    ]
}

#[test]
fn requests_are_pinned() {
    let mut names = BTreeSet::new();
    for r in requests() {
        let v = serde_json::to_value(&r).unwrap();
        let op = v["op"].as_str().unwrap().to_string();
        check("request", &op, &r);
        names.insert(op);
    }
    // Each with the version, as ldm sends it.
    let line = ldm_api::wire::encode_request(&Request::Host).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    check("request", "envelope", &v);
    names.insert("envelope".into());
    // A storage migration carries two more fields.
    let copy = Request::Migrate(MigrateRequest {
        copy_storage: true,
        overwrite_storage: true,
        ..migrate_request()
    });
    check("request", "migrate-copy-storage", &copy);
    names.insert("migrate-copy-storage".into());
    // Fields added in this release, left out when unset so the forms above
    // stay as the previous release wrote them.
    let set = Request::SetDomain {
        name: "ldg1".into(),
        cpu_arch: Some(CpuArch::MigrationClass1),
        downtime_ms: None,
        bandwidth_mib: None,
        max_vcpus: Some(8),
    };
    check("request", "set-domain-max-vcpus", &set);
    names.insert("set-domain-max-vcpus".into());
    no_stale("request", &names);
}

#[test]
fn replies_events_and_errors_are_pinned() {
    let mut names = BTreeSet::new();
    for (name, r) in replies() {
        check(
            "response",
            &format!("ok-{name}"),
            &Response::Ok(Box::new(r)),
        );
        names.insert(format!("ok-{name}"));
    }
    let events = [
        (
            "progress",
            Event::Progress(Progress {
                phase: Phase::Suspend,
                percent: 97,
                transferred_bytes: 900_000_000,
                remaining_bytes: 4096,
                rate_mib_s: 400.25,
                passes: 2,
            }),
        ),
        (
            "info",
            Event::Info {
                message: "Phase 1: checking".into(),
            },
        ),
    ];
    for (name, e) in events {
        check("response", &format!("event-{name}"), &Response::Event(e));
        names.insert(format!("event-{name}"));
    }
    for kind in [
        ErrorKind::BadRequest,
        ErrorKind::NotFound,
        ErrorKind::Exists,
        ErrorKind::State,
        ErrorKind::Resources,
        ErrorKind::Busy,
        ErrorKind::Denied,
        ErrorKind::Hypervisor,
        ErrorKind::Peer,
        ErrorKind::Migration,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ] {
        // A new kind is a compile error here until it is listed above.
        match kind {
            ErrorKind::BadRequest
            | ErrorKind::NotFound
            | ErrorKind::Exists
            | ErrorKind::State
            | ErrorKind::Resources
            | ErrorKind::Busy
            | ErrorKind::Denied
            | ErrorKind::Hypervisor
            | ErrorKind::Peer
            | ErrorKind::Migration
            | ErrorKind::Cancelled
            | ErrorKind::Internal => {}
        }
        let v = serde_json::to_value(kind).unwrap();
        let name = format!("err-{}", v.as_str().unwrap());
        check(
            "response",
            &name,
            &Response::Err(ApiError::new(kind, "what to do")),
        );
        names.insert(name);
    }
    no_stale("response", &names);
}

//! Samples of every request of the local API.

use ldm_api::domain::MigrationPrefs;
use ldm_api::migration::{Auth, MigrateRequest};
use ldm_api::network::Mac;
use ldm_api::request::{StopMode, UserRole};
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
        postcopy: Default::default(),
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

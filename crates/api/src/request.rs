//! The local API: requests from `ldm` and the daemon's answers.

use crate::domain::{CpuArch, DomainView, HostView};
use crate::error::ApiError;
use crate::migration::{DryRun, MigrateRequest, Progress, Summary};
use crate::network::{Mac, VswView};
use crate::service::VccView;
use crate::storage::VdsView;
use serde::{Deserialize, Serialize};

/// How a vCPU or memory verb changes the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceChange {
    /// `set-*`
    Set,
    /// `add-*`
    Add,
    /// `rm-*`
    Remove,
}

/// How `stop-domain` ends a running domain (besides `-f`/`-q`, which stop it
/// at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    /// Ask the guest to power off; stop it when the timeout passes.
    #[default]
    Normal,
    /// Ask the guest to power off and wait; never force (`-H`): when the
    /// timeout passes the domain keeps running and the request fails.
    Halt,
    /// Stop as [`StopMode::Normal`], then start the domain again (`-r`).
    Reboot,
}

impl StopMode {
    fn is_normal(&self) -> bool {
        *self == StopMode::Normal
    }
}

/// A saved host configuration as `list-spconfig` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpconfigView {
    /// Name (`factory-default` is the built-in one).
    pub name: String,
    /// The configuration in use: the last one saved or applied.
    pub current: bool,
    /// The one ldmd applies at its first start after the host boots.
    pub next_poweron: bool,
}

/// A user account's role (Oracle's rights profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Read-only.
    Review,
    /// Console access.
    Console,
    /// Everything, migration included.
    Management,
}

impl UserRole {
    /// Name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Review => "review",
            UserRole::Console => "console",
            UserRole::Management => "management",
        }
    }
}

impl std::str::FromStr for UserRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "review" => Ok(UserRole::Review),
            "console" => Ok(UserRole::Console),
            "management" => Ok(UserRole::Management),
            o => Err(format!(
                "role '{o}' is not known: use role=review, role=console or role=management"
            )),
        }
    }
}

/// One request on the local socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Facts about the host and the daemon.
    Host,
    /// `list-domain`
    List {
        /// Domains to list; all when empty.
        names: Vec<String>,
    },
    /// `add-domain`
    AddDomain {
        /// Name.
        name: String,
        /// CPU model class.
        cpu_arch: Option<CpuArch>,
        /// `max-vcpus=N`: the most vCPUs it may have while running.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_vcpus: Option<u32>,
    },
    /// `set-domain`
    SetDomain {
        /// Name.
        name: String,
        /// New CPU class.
        cpu_arch: Option<CpuArch>,
        /// Downtime target, ms (0 clears).
        downtime_ms: Option<u64>,
        /// Bandwidth cap, MiB/s (0 clears).
        bandwidth_mib: Option<u64>,
        /// `max-vcpus=N` (while not running).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_vcpus: Option<u32>,
        /// `max-memory=SIZE`, MiB (0 clears; while not running).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_memory_mib: Option<u64>,
    },
    /// `remove-domain`
    RemoveDomain {
        /// Name.
        name: String,
    },
    /// `set-vcpu`, `add-vcpu`, `rm-vcpu`
    Vcpu {
        /// Name (`primary` sets the control domain's vCPUs).
        name: String,
        /// How.
        change: ResourceChange,
        /// Count.
        count: u32,
    },
    /// `set-memory`, `add-memory`, `rm-memory`
    Memory {
        /// Name.
        name: String,
        /// How.
        change: ResourceChange,
        /// Amount in MiB.
        mib: u64,
    },
    /// `set-var`
    SetVar {
        /// Name.
        name: String,
        /// `(variable, value)` pairs.
        vars: Vec<(String, String)>,
    },
    /// `bind-domain`
    Bind {
        /// Name.
        name: String,
    },
    /// `unbind-domain`
    Unbind {
        /// Name.
        name: String,
    },
    /// `start-domain`
    Start {
        /// Name.
        name: String,
    },
    /// `stop-domain`
    Stop {
        /// Name.
        name: String,
        /// Power off at once instead of asking the guest (`-f`, `-q`).
        force: bool,
        /// Halt (never force) or reboot; absent: the normal stop.
        #[serde(default, skip_serializing_if = "StopMode::is_normal")]
        mode: StopMode,
        /// Seconds to wait for the guest before forcing (or, halting,
        /// failing); absent: ldmd's default (5 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u64>,
    },
    /// `add-domain -i FILE`, `set-domain -i FILE`: a domain's constraints
    /// as `list-constraints` gives them.
    DefineDomain {
        /// The domain (the CLI reads it from the XML of
        /// `list-constraints -x`).
        spec: crate::domain::DomainSpec,
        /// `set-domain -i`: change an existing domain instead of adding one.
        replace: bool,
    },
    /// `list-constraints`
    ListConstraints {
        /// Domains; all but the primary when empty.
        names: Vec<String>,
    },
    /// `add-spconfig`: save this host's configuration under `name` and
    /// select it for the next power-on.
    AddSpconfig {
        /// Name.
        name: String,
    },
    /// `set-spconfig`: select the configuration for the next power-on.
    SetSpconfig {
        /// Name.
        name: String,
    },
    /// `remove-spconfig`
    RemoveSpconfig {
        /// Name.
        name: String,
    },
    /// `list-spconfig`
    ListSpconfig,
    /// `list-services`
    ListServices,
    /// `add-vcc`
    AddVcc {
        /// Service name.
        name: String,
        /// Port range.
        port_lo: u16,
        /// Port range.
        port_hi: u16,
    },
    /// `set-vcc`
    SetVcc {
        /// Service name.
        name: String,
        /// Port range.
        port_lo: u16,
        /// Port range.
        port_hi: u16,
    },
    /// `remove-vcc`
    RemoveVcc {
        /// Service name.
        name: String,
    },
    /// `add-vds`
    AddVds {
        /// Service name.
        name: String,
    },
    /// `remove-vds`
    RemoveVds {
        /// Service name.
        name: String,
    },
    /// `add-vdsdev`
    AddVdsdev {
        /// Export a back end another volume already exports (`-f`).
        force: bool,
        /// `options=ro`.
        readonly: bool,
        /// `options=create`: the back end need not exist yet; a
        /// `--copy-storage` migration to this host creates it.
        #[serde(default, skip_serializing_if = "crate::request::is_false")]
        create: bool,
        /// Back end path.
        backend: String,
        /// Volume name.
        volume: String,
        /// Service name.
        service: String,
    },
    /// `set-vdsdev`
    SetVdsdev {
        /// New `options=` (read-only or not).
        readonly: bool,
        /// Volume name.
        volume: String,
        /// Service name.
        service: String,
    },
    /// `remove-vdsdev`
    RemoveVdsdev {
        /// Volume name.
        volume: String,
        /// Service name.
        service: String,
    },
    /// `add-vdisk`
    AddVdisk {
        /// Disk name.
        disk: String,
        /// Volume name.
        volume: String,
        /// Service name.
        service: String,
        /// Domain.
        domain: String,
    },
    /// `set-vdisk volume=VOL@SVC DISK DOMAIN`
    SetVdisk {
        /// Disk name.
        disk: String,
        /// New volume name.
        volume: String,
        /// New service name.
        service: String,
        /// Domain.
        domain: String,
    },
    /// `remove-vdisk`
    RemoveVdisk {
        /// Disk name.
        disk: String,
        /// Domain.
        domain: String,
    },
    /// `add-vsw [net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary`
    AddVsw {
        /// Switch name.
        name: String,
        /// Uplink interface.
        net_dev: Option<String>,
        /// MTU (1500 when absent).
        mtu: Option<u32>,
        /// The bridge's MAC address.
        mac: Option<Mac>,
    },
    /// `set-vsw [net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH`; an
    /// empty value clears.
    SetVsw {
        /// Switch name.
        name: String,
        /// New uplink; empty removes it.
        net_dev: Option<String>,
        /// New MTU.
        mtu: Option<u32>,
        /// New MAC.
        mac: Option<Mac>,
        /// Let the kernel choose the MAC (`mac-addr=`).
        #[serde(default)]
        clear_mac: bool,
    },
    /// `remove-vsw SWITCH`
    RemoveVsw {
        /// Switch name.
        name: String,
    },
    /// `add-vnet [mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN`
    AddVnet {
        /// Device name.
        name: String,
        /// Switch.
        switch: String,
        /// Domain.
        domain: String,
        /// MAC address; assigned when absent.
        mac: Option<Mac>,
        /// MTU; the switch's when absent.
        mtu: Option<u32>,
    },
    /// `set-vnet [mac-addr=MAC] [mtu=[N]] [vswitch=SWITCH] NET DOMAIN`
    SetVnet {
        /// Device name.
        name: String,
        /// Domain.
        domain: String,
        /// New switch.
        switch: Option<String>,
        /// New MAC address.
        mac: Option<Mac>,
        /// New MTU.
        mtu: Option<u32>,
        /// Follow the switch's MTU (`mtu=`).
        #[serde(default)]
        clear_mtu: bool,
    },
    /// `remove-vnet NET DOMAIN`
    RemoveVnet {
        /// Device name.
        name: String,
        /// Domain.
        domain: String,
    },
    /// Where to reach a domain's console.
    ConsoleAddr {
        /// Name.
        name: String,
    },
    /// The buffered console output of a domain.
    ConsoleDump {
        /// Name.
        name: String,
    },
    /// `add-user`
    AddUser {
        /// User.
        name: String,
        /// Role.
        role: UserRole,
        /// Password.
        password: String,
    },
    /// `set-user`
    SetUser {
        /// User.
        name: String,
        /// New role.
        role: Option<UserRole>,
        /// New password.
        password: Option<String>,
    },
    /// `remove-user`
    RemoveUser {
        /// User.
        name: String,
    },
    /// `list-users`
    ListUsers,
    /// Learn a host's certificate fingerprint and whether it is trusted.
    ProbeHost {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// `add-trust`: pin a target host's certificate, or trust a source host's
    /// certificate for `-c` (`source`).
    AddTrust {
        /// `host:port` for targets, a label for sources.
        host: String,
        /// Port (targets).
        port: u16,
        /// Fingerprint; when absent for a target, the one it presents now.
        fingerprint: Option<String>,
        /// Trust as a source host for certificate authentication.
        source: bool,
    },
    /// `remove-trust`
    RemoveTrust {
        /// `host:port` or label.
        host: String,
        /// Port (targets).
        port: u16,
    },
    /// `list-trust`
    ListTrust,
    /// `migrate-domain`
    Migrate(MigrateRequest),
    /// `cancel-operation migration`
    CancelMigration {
        /// Name.
        name: String,
    },
    /// `cancel-operation memdr`: stop a memory change of a running domain
    /// where it is.
    CancelMemoryDr {
        /// Name.
        name: String,
    },
    /// `cancel-reconf`: drop the changes waiting for the next start.
    CancelReconf {
        /// Name.
        name: String,
    },
}

/// A user account as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: UserRole,
}

/// A trusted certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustView {
    /// `host:port` of a target, or a source's label.
    pub host: String,
    /// SHA-256 fingerprint.
    pub fingerprint: String,
    /// `target` or `source`.
    pub kind: String,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// Done, nothing to report.
    Done {
        /// Optional message for the administrator.
        message: Option<String>,
    },
    /// Host facts.
    Host(HostView),
    /// Domains, the primary first.
    Domains {
        /// Rows.
        domains: Vec<DomainView>,
    },
    /// Services.
    Services {
        /// Console concentrators.
        vcc: Vec<VccView>,
        /// Virtual disk services.
        #[serde(default)]
        vds: Vec<VdsView>,
        /// Virtual switches (absent when none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        vsw: Vec<VswView>,
    },
    /// Console address.
    Console {
        /// Address.
        address: String,
        /// Port.
        port: u16,
    },
    /// Console output.
    ConsoleDump {
        /// Bytes, lossily decoded.
        text: String,
    },
    /// Users.
    Users {
        /// Accounts.
        users: Vec<UserView>,
    },
    /// Trusted certificates.
    Trust {
        /// Entries.
        entries: Vec<TrustView>,
    },
    /// A host's fingerprint.
    Probe {
        /// Presented fingerprint.
        fingerprint: String,
        /// The pinned one, if any.
        pinned: Option<String>,
    },
    /// Dry-run result.
    DryRun(DryRun),
    /// Saved configurations, `factory-default` first.
    Spconfigs {
        /// Configurations.
        configs: Vec<SpconfigView>,
    },
    /// Domains' constraints.
    Constraints {
        /// One per domain.
        domains: Vec<crate::domain::DomainSpec>,
    },
    /// Migration finished.
    Migrated(Summary),
}

/// An intermediate message during a long operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Migration progress.
    Progress(Progress),
    /// A line for the administrator.
    Info {
        /// Text.
        message: String,
    },
}

/// One line the daemon writes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Response {
    /// Intermediate event; more lines follow.
    Event(Event),
    /// Final success.
    Ok(Box<Reply>),
    /// Final failure.
    Err(ApiError),
}

/// For `skip_serializing_if`: a flag that is off is left out, so a request
/// without it keeps the form older daemons read.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

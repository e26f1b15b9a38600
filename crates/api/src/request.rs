//! The local API: requests from `ldm` and the daemon's answers.
//!
//! `request.rs` is the request; `change.rs` how a domain verb changes
//! the domain, `accounts.rs` users and trust, `reply.rs` the answers.

mod accounts;
mod change;
mod reply;

pub use accounts::{TrustView, UserRole, UserView};
pub use change::{ResourceChange, StopMode};
pub use reply::{Event, Reply, Response, SpconfigView};

use crate::domain::CpuArch;
use crate::migration::MigrateRequest;
use crate::network::Mac;
use serde::{Deserialize, Serialize};

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

/// For `skip_serializing_if`: a flag that is off is left out, so a request
/// without it keeps the form older daemons read.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

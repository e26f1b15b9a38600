//! The command line, in Oracle's ldm syntax: `ldm VERB [options] [prop=value…] NAME`.

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// ldm: command-line interface of the Logical Domains Manager.
///
/// Domains are virtual machines booting a Linux kernel, run by the ldmd
/// daemon of this host. Typical use:
///
///   ldm add-domain ldg1; ldm set-vcpu 2 ldg1; ldm set-memory 1G ldg1
///   ldm set-var kernel=/path/vmlinuz initrd=/path/initrd boot-args="memwork=64,8" ldg1
///   ldm bind-domain ldg1; ldm start-domain ldg1; ldm list; ldm console ldg1
///   ldm migrate-domain ldg1 admin@otherhost
#[derive(Parser, Debug)]
#[command(
    name = "ldm",
    version,
    about,
    long_about,
    verbatim_doc_comment,
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Root directory of the local ldmd (its socket is ROOT/ldmd.sock).
    #[arg(long, global = true, env = "LDM_ROOT", default_value = ldm_api::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Print the versions of ldm and of the local ldmd (with their local API
    /// and peer protocol versions).
    #[arg(short = 'V', long)]
    pub version: bool,
    /// The verb.
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Every verb.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Define a new domain (1 vCPU and 512M until changed), or one from an
    /// XML file written by `ldm list-constraints -x` (-i FILE).
    #[command(name = "add-domain", visible_alias = "add-dom")]
    AddDomain {
        /// Define the domain the file describes (LDM XML).
        #[arg(short = 'i', value_name = "FILE", conflicts_with = "args")]
        input: Option<PathBuf>,
        /// [cpu-arch=native|generic|migration-class1] [max-vcpus=N] NAME
        #[arg(required_unless_present = "input", num_args = 1.., value_name = "[cpu-arch=CLASS] [max-vcpus=N] NAME")]
        args: Vec<String>,
    },
    /// Change a domain's properties: cpu-arch=native|generic|migration-class1, max-vcpus=N (the most vCPUs it may have while running), max-memory=SIZE (the most memory it may have while running; 0 clears), migration-downtime=MS, migration-bandwidth=MIB (0 clears); or set them all from an XML file written by `ldm list-constraints -x` (-i FILE). cpu-arch, max-vcpus and max-memory of an active domain wait for its next start (delayed reconfiguration).
    #[command(name = "set-domain", visible_alias = "set-dom")]
    SetDomain {
        /// Make the domain the file describes (LDM XML) what it says.
        #[arg(short = 'i', value_name = "FILE", conflicts_with = "args")]
        input: Option<PathBuf>,
        /// PROP=VALUE... NAME
        #[arg(required_unless_present = "input", num_args = 2.., value_name = "PROP=VALUE... NAME")]
        args: Vec<String>,
    },
    /// Remove inactive domains: -a (all) or NAME...
    #[command(name = "remove-domain", visible_alias = "rm-dom")]
    RemoveDomain {
        /// Every domain (the primary excepted).
        #[arg(short = 'a', conflicts_with = "names")]
        all: bool,
        /// Domains.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
    },
    /// Show domains' constraints (what they are defined with); -x as LDM XML, which `add-domain -i` reads.
    #[command(name = "list-constraints")]
    ListConstraints {
        /// Oracle's LDM XML.
        #[arg(short = 'x')]
        xml: bool,
        /// Domains (all when none).
        names: Vec<String>,
    },
    /// List domains: NAME STATE FLAGS CONS VCPU MEMORY UTIL UPTIME.
    #[command(name = "list-domain", visible_alias = "list", visible_alias = "ls")]
    List {
        /// Long listing.
        #[arg(short = 'l', long)]
        long: bool,
        /// Parseable output (VERSION line, then DOMAIN|name=…|state=…|… lines).
        #[arg(short = 'p', long)]
        parseable: bool,
        /// Show only these sections: status, console, cpu, memory, disk, network, variables, uuid, domain.
        #[arg(short = 'o', value_name = "FORMAT")]
        format: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Domains (all when none).
        names: Vec<String>,
    },
    /// Set the number of vCPUs of a domain (or the primary's, which run migrations).
    #[command(name = "set-vcpu")]
    SetVcpu {
        /// Count.
        count: u32,
        /// Domain.
        name: String,
    },
    /// Add vCPUs to a domain (live while it runs, up to its max-vcpus).
    #[command(name = "add-vcpu")]
    AddVcpu {
        /// Count.
        count: u32,
        /// Domain.
        name: String,
    },
    /// Remove vCPUs from a domain (live while it runs: the guest gives them back).
    #[command(name = "rm-vcpu", visible_alias = "remove-vcpu")]
    RmVcpu {
        /// Count.
        count: u32,
        /// Domain.
        name: String,
    },
    /// Set a domain's memory (512M, 2G, …).
    #[command(name = "set-memory", visible_alias = "set-mem")]
    SetMemory {
        /// Size.
        size: String,
        /// Domain.
        name: String,
    },
    /// Add memory to a domain.
    #[command(name = "add-memory", visible_alias = "add-mem")]
    AddMemory {
        /// Size.
        size: String,
        /// Domain.
        name: String,
    },
    /// Remove memory from a domain.
    #[command(
        name = "rm-memory",
        visible_alias = "remove-memory",
        visible_alias = "rm-mem"
    )]
    RmMemory {
        /// Size.
        size: String,
        /// Domain.
        name: String,
    },
    /// Set boot variables: kernel=PATH initrd=PATH boot-args="…" (an empty value clears).
    #[command(name = "set-var")]
    SetVar {
        /// VAR=VALUE... NAME
        #[arg(required = true, num_args = 2.., value_name = "VAR=VALUE... NAME")]
        args: Vec<String>,
    },
    /// Reserve domains' vCPUs, memory and console port.
    #[command(name = "bind-domain", visible_alias = "bind")]
    Bind {
        /// Domains.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Release domains' resources.
    #[command(name = "unbind-domain", visible_alias = "unbind")]
    Unbind {
        /// Domains.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Start bound domains (boots their kernels): -a (every bound domain) or NAME...
    #[command(name = "start-domain", visible_alias = "start")]
    Start {
        /// Every bound domain.
        #[arg(short = 'a', conflicts_with = "names")]
        all: bool,
        /// Domains.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
    },
    /// Stop running domains: ask each guest to power off, stop it when the
    /// timeout passes. -a (every active domain) or NAME...
    ///
    /// Oracle's -h (halt) is -H here: clap keeps -h for help.
    #[command(name = "stop-domain", visible_alias = "stop")]
    Stop {
        /// Stop at once, without asking the guest (also a copy left paused by a migration).
        #[arg(short = 'f', long, conflicts_with_all = ["halt", "reboot", "timeout"])]
        force: bool,
        /// Quick stop: at once, without asking the guest (as -f).
        #[arg(short = 'q', long, conflicts_with_all = ["halt", "reboot", "timeout"])]
        quick: bool,
        /// Halt: ask the guest to power off and wait, never force; if it
        /// has not within the timeout, the domain keeps running and ldm
        /// fails (Oracle's -h).
        #[arg(short = 'H', long, conflicts_with = "reboot")]
        halt: bool,
        /// Reboot: stop the domain, then start it again.
        #[arg(short = 'r', long)]
        reboot: bool,
        /// Seconds to wait for the guest before forcing (default 5).
        #[arg(short = 't', long, value_name = "SEC")]
        timeout: Option<u64>,
        /// Every active domain.
        #[arg(short = 'a', conflicts_with = "names")]
        all: bool,
        /// Domains.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
    },
    /// Show free and total vCPUs and memory of this host.
    #[command(name = "list-devices")]
    ListDevices {
        /// Also show the host's hypervisor, CPU model and certificate fingerprint.
        #[arg(short = 'l', long)]
        long: bool,
        /// Parseable output.
        #[arg(short = 'p', long)]
        parseable: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List virtual services: console concentrators, disk services with their volumes, virtual switches.
    #[command(name = "list-services")]
    ListServices {
        /// Parseable output.
        #[arg(short = 'p', long)]
        parseable: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Add a console concentrator: port-range=A-B NAME primary.
    #[command(name = "add-vcc")]
    AddVcc {
        /// port-range=A-B
        range: String,
        /// Service name.
        name: String,
        /// Service domain (primary).
        ldom: String,
    },
    /// Change a console concentrator's range: port-range=A-B NAME.
    #[command(name = "set-vcc")]
    SetVcc {
        /// port-range=A-B
        range: String,
        /// Service name.
        name: String,
    },
    /// Remove a console concentrator.
    #[command(name = "remove-vcc", visible_alias = "rm-vcc")]
    RemoveVcc {
        /// Service name.
        name: String,
    },
    /// Add a virtual disk service: SERVICE primary.
    #[command(name = "add-vds")]
    AddVds {
        /// Service name, e.g. primary-vds0.
        name: String,
        /// Service domain (primary).
        ldom: String,
    },
    /// Remove a virtual disk service that exports no volumes.
    #[command(name = "remove-vds", visible_alias = "rm-vds")]
    RemoveVds {
        /// Service name.
        name: String,
    },
    /// Export a back end (raw or qcow2 file, block device) as a volume: [-f] [options=ro|create] BACKEND VOLUME@SERVICE. With options=create the back end may not exist yet: a --copy-storage migration to this host creates it with the source's size and format.
    #[command(name = "add-vdsdev")]
    AddVdsdev {
        /// Export a back end that another volume already exports.
        #[arg(short = 'f')]
        force: bool,
        /// [options=ro|create] BACKEND VOLUME@SERVICE
        #[arg(required = true, num_args = 2..=3, value_name = "[options=ro|create] BACKEND VOLUME@SERVICE")]
        args: Vec<String>,
    },
    /// Change a volume's options: options=ro (or options= to clear) VOLUME@SERVICE.
    #[command(name = "set-vdsdev")]
    SetVdsdev {
        /// options=…
        options: String,
        /// VOLUME@SERVICE
        volume: String,
    },
    /// Remove a volume no disk uses: VOLUME@SERVICE.
    #[command(name = "remove-vdsdev", visible_alias = "rm-vdsdev")]
    RemoveVdsdev {
        /// VOLUME@SERVICE
        volume: String,
    },
    /// Give a domain (bound or inactive) a virtual disk: DISK VOLUME@SERVICE DOMAIN.
    #[command(name = "add-vdisk")]
    AddVdisk {
        /// Disk name (the guest's /dev/disk/by-id/virtio-DISK; up to 20 characters).
        disk: String,
        /// VOLUME@SERVICE
        volume: String,
        /// Domain.
        domain: String,
    },
    /// Point a disk at another volume: volume=VOLUME@SERVICE DISK DOMAIN.
    #[command(name = "set-vdisk")]
    SetVdisk {
        /// volume=VOLUME@SERVICE
        volume: String,
        /// Disk name.
        disk: String,
        /// Domain.
        domain: String,
    },
    /// Remove a disk from a domain (bound or inactive): DISK DOMAIN.
    #[command(name = "remove-vdisk", visible_alias = "rm-vdisk")]
    RemoveVdisk {
        /// Disk name.
        disk: String,
        /// Domain.
        domain: String,
    },
    /// Add a virtual switch (a bridge, with net-dev as its uplink): [net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary.
    #[command(name = "add-vsw")]
    AddVsw {
        /// [net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary
        #[arg(required = true, num_args = 2..=5, value_name = "[net-dev=IFACE] [mtu=N] [mac-addr=MAC] SWITCH primary")]
        args: Vec<String>,
    },
    /// Change a virtual switch: [net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH (an empty value clears).
    #[command(name = "set-vsw")]
    SetVsw {
        /// [net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH
        #[arg(required = true, num_args = 2..=4, value_name = "[net-dev=[IFACE]] [mtu=N] [mac-addr=[MAC]] SWITCH")]
        args: Vec<String>,
    },
    /// Remove a virtual switch no vnet uses.
    #[command(name = "remove-vsw", visible_alias = "rm-vsw")]
    RemoveVsw {
        /// Switch name.
        name: String,
    },
    /// Give a domain (bound or inactive) a network device on a switch: [mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN.
    #[command(name = "add-vnet")]
    AddVnet {
        /// [mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN
        #[arg(required = true, num_args = 3..=5, value_name = "[mac-addr=MAC] [mtu=N] NET SWITCH DOMAIN")]
        args: Vec<String>,
    },
    /// Change a domain's network device: [mac-addr=MAC] [mtu=[N]] [vswitch=SWITCH] NET DOMAIN.
    #[command(name = "set-vnet")]
    SetVnet {
        /// [mac-addr=MAC] [mtu=[N]] [vswitch=SWITCH] NET DOMAIN
        #[arg(required = true, num_args = 3..=5, value_name = "[mac-addr=MAC] [mtu=[N]] [vswitch=SWITCH] NET DOMAIN")]
        args: Vec<String>,
    },
    /// Remove a network device from a domain (bound or inactive): NET DOMAIN.
    #[command(name = "remove-vnet", visible_alias = "rm-vnet")]
    RemoveVnet {
        /// Device name.
        name: String,
        /// Domain.
        domain: String,
    },
    /// Show what each domain has bound: vCPUs, memory, console, disks.
    #[command(name = "list-bindings")]
    ListBindings {
        /// Parseable output.
        #[arg(short = 'p', long)]
        parseable: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Domains (all when none).
        names: Vec<String>,
    },
    /// Attach to a domain's serial console (leave with Ctrl-] or ~. at line start).
    Console {
        /// Print the buffered output (up to 64 KiB) and exit.
        #[arg(long)]
        dump: bool,
        /// Domain.
        name: String,
    },
    /// Migrate a domain to another host: NAME [USER@]HOST[:PORT][:NEWNAME].
    #[command(name = "migrate-domain", visible_alias = "migrate")]
    Migrate {
        /// Dry run: check everything, change nothing; for a running domain,
        /// also predict the move (time, pause, passes) from its measured
        /// dirty rate, memory in use and link.
        #[arg(short = 'n')]
        dry_run: bool,
        /// Read the target password from FILE (must be mode 0600 or stricter).
        #[arg(short = 'p', value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Authenticate with this host's certificate (the target must trust it).
        #[arg(short = 'c')]
        cert: bool,
        /// Longest pause of the guest to aim for, in ms.
        #[arg(long, value_name = "MS")]
        downtime_limit: Option<u64>,
        /// Bandwidth cap for this migration, in MiB/s.
        #[arg(long, value_name = "MIB")]
        max_bandwidth: Option<u64>,
        /// Copy the disks to the back ends the target exports under the same
        /// volume names (created sparse with the source's size and format
        /// when missing) instead of requiring shared storage.
        #[arg(long)]
        copy_storage: bool,
        /// With --copy-storage: overwrite target back ends that already hold
        /// data (otherwise refused).
        #[arg(long, requires = "copy_storage")]
        overwrite_storage: bool,
        /// When to switch to post-copy (the guest runs on the target while
        /// the rest of its memory follows): auto (when pre-copy, throttled,
        /// does not converge), never, always (after the first pass).
        #[arg(long, value_name = "WHEN", default_value = "auto")]
        postcopy: ldm_api::migration::PostcopyMode,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Trust this target fingerprint without asking (as shown by `ldm list-devices -l` there).
        #[arg(long, value_name = "FP")]
        accept_fingerprint: Option<String>,
        /// Domain.
        name: String,
        /// [USER@]HOST[:PORT][:NEWNAME]
        target: String,
    },
    /// Move every bound and active domain off this host: --targets H1[:PORT],H2,… [USER@].
    ///
    /// Each domain is dry-run against every target; it goes to the target
    /// that passes every migration check and has the most memory left once
    /// the domains planned before it are counted (largest domains first).
    /// Each move is an ordinary migrate-domain, progress per domain, then a
    /// table: DOMAIN TARGET OUTCOME TIME DOWNTIME. A domain that fails to
    /// move stays here, running, and the others go on. Every target must be
    /// trusted already (`ldm add-trust HOST:PORT`); USER and the password or
    /// certificate are the same for all. The plan is made from the current
    /// state, so re-running after an interruption moves what is left.
    ///
    /// Interrupting: Ctrl-C once, or `ldm cancel-operation migration NAME`
    /// on a domain being moved (which cancels that move), stops new moves
    /// from starting; the running ones then finish, or with
    /// --on-interrupt=cancel are cancelled. Ctrl-C again cancels the
    /// running ones in either case. A cancelled move rolls back and its
    /// domain stays here, running; the table follows as usual.
    /// Exit status 0 when every domain moved, 1 otherwise.
    #[command(verbatim_doc_comment)]
    Evacuate {
        /// Dry run: print the plan and every domain that fits nowhere, with
        /// each target's reasons; change nothing.
        #[arg(short = 'n')]
        dry_run: bool,
        /// Target hosts, comma-separated: HOST[:PORT],HOST[:PORT],…
        #[arg(long, required = true, value_name = "H1[:PORT],H2,…")]
        targets: String,
        /// Most migrations at once. Default 2: one move's checks, set-up and
        /// hand-off overlap another's memory copy, while each copy still gets
        /// half the link; more only splits the bandwidth further and makes
        /// each guest's pre-copy (and its dirtying) last longer.
        #[arg(long, value_name = "N", default_value_t = crate::evacuate::DEFAULT_PARALLEL)]
        max_parallel: usize,
        /// Read the targets' password from FILE (mode 0600 or stricter).
        #[arg(short = 'p', value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Authenticate with this host's certificate (every target must trust it).
        #[arg(short = 'c')]
        cert: bool,
        /// What the first Ctrl-C or a cancel-operation does to the moves
        /// already running: finish (they go on to their end) or cancel (they
        /// roll back and stay here). No new move starts either way.
        #[arg(long, value_enum, value_name = "WHAT", default_value_t = crate::evacuate::run::OnInterrupt::Finish)]
        on_interrupt: crate::evacuate::run::OnInterrupt,
        /// USER or USER@: the account on every target (default: yours).
        #[arg(value_name = "USER@")]
        user: Option<String>,
    },
    /// Drop the delayed reconfiguration of a domain (the changes waiting for its next start).
    #[command(name = "cancel-reconf")]
    CancelReconf {
        /// Domain.
        name: String,
    },
    /// Cancel an operation: `cancel-operation migration NAME` (on the source), or `cancel-operation memdr NAME` (a memory change of a running domain stops where it is).
    #[command(name = "cancel-operation")]
    CancelOperation {
        /// migration or memdr
        operation: String,
        /// Domain.
        name: String,
    },
    /// Add an account others can migrate to this host with: [-p FILE] [role=review|management|console] USER.
    #[command(name = "add-user")]
    AddUser {
        /// Read the password from FILE instead of prompting.
        #[arg(short = 'p', value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// [role=…] USER
        #[arg(required = true, num_args = 1..=2, value_name = "[role=ROLE] USER")]
        args: Vec<String>,
    },
    /// Change an account's role and/or password: [-p FILE] [role=…] USER.
    #[command(name = "set-user")]
    SetUser {
        /// Read the new password from FILE.
        #[arg(short = 'p', value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Prompt for a new password.
        #[arg(long)]
        password: bool,
        /// [role=…] USER
        #[arg(required = true, num_args = 1..=2, value_name = "[role=ROLE] USER")]
        args: Vec<String>,
    },
    /// Remove an account.
    #[command(name = "remove-user", visible_alias = "rm-user")]
    RemoveUser {
        /// User.
        name: String,
    },
    /// List accounts.
    #[command(name = "list-users")]
    ListUsers,
    /// Pin a target host's certificate (HOST[:PORT] [fingerprint=FP]); with -c,
    /// trust a source host's certificate for `migrate-domain -c`.
    #[command(name = "add-trust")]
    AddTrust {
        /// Trust HOST as a migration source that authenticates with its certificate.
        #[arg(short = 'c')]
        source: bool,
        /// HOST[:PORT] [fingerprint=FP]
        #[arg(required = true, num_args = 1..=2, value_name = "HOST[:PORT] [fingerprint=FP]")]
        args: Vec<String>,
    },
    /// Forget a pinned or trusted certificate.
    #[command(name = "remove-trust")]
    RemoveTrust {
        /// HOST[:PORT]
        host: String,
    },
    /// List pinned and trusted certificates.
    #[command(name = "list-trust")]
    ListTrust,
    /// Save this host's whole configuration (domains, whether they were
    /// active, services) as NAME and select it for the next power-on.
    #[command(name = "add-spconfig", visible_alias = "add-config")]
    AddSpconfig {
        /// Configuration name.
        name: String,
    },
    /// Select the configuration ldmd applies at its first start after the
    /// host boots (factory-default: none).
    #[command(name = "set-spconfig", visible_alias = "set-config")]
    SetSpconfig {
        /// Configuration name.
        name: String,
    },
    /// Remove a saved configuration.
    #[command(
        name = "remove-spconfig",
        visible_alias = "rm-spconfig",
        visible_alias = "remove-config",
        visible_alias = "rm-config"
    )]
    RemoveSpconfig {
        /// Configuration name.
        name: String,
    },
    /// List saved configurations: [current] is in use, [next poweron] applies at the next boot.
    #[command(
        name = "list-spconfig",
        visible_alias = "list-config",
        visible_alias = "ls-config"
    )]
    ListSpconfig,
}

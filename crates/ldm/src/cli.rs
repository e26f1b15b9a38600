//! The command line, in Oracle's ldm syntax: `ldm VERB [options] [prop=value…] NAME`.

mod accounts;
mod domain;
mod lifecycle;
mod migration;
mod network;
mod resources;
mod services;
mod spconfig;
mod storage;

pub use accounts::AccountCmd;
pub use domain::DomainCmd;
pub use lifecycle::LifecycleCmd;
pub use migration::MigrationCmd;
pub use network::NetworkCmd;
pub use resources::ResourceCmd;
pub use services::ServiceCmd;
pub use spconfig::SpconfigCmd;
pub use storage::StorageCmd;

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
    // Defining and listing domains.
    #[command(flatten)]
    Domain(DomainCmd),
    // A domain's vCPUs, memory and boot variables.
    #[command(flatten)]
    Resource(ResourceCmd),
    // Binding, unbinding, starting and stopping domains.
    #[command(flatten)]
    Lifecycle(LifecycleCmd),
    // The host's devices and services; console concentrators.
    #[command(flatten)]
    Service(ServiceCmd),
    // Disk services, volumes and domains' disks.
    #[command(flatten)]
    Storage(StorageCmd),
    // Virtual switches and domains' network devices.
    #[command(flatten)]
    Network(NetworkCmd),
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
    // Moving domains to other hosts; cancelling operations.
    #[command(flatten)]
    Migration(MigrationCmd),
    // User accounts and trusted certificates.
    #[command(flatten)]
    Account(AccountCmd),
    // Saved host configurations.
    #[command(flatten)]
    Spconfig(SpconfigCmd),
}

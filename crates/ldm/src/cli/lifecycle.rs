//! The verbs that bind, unbind, start and stop domains.

use clap::Subcommand;

/// Binding, unbinding, starting and stopping domains.
#[derive(Subcommand, Debug)]
pub enum LifecycleCmd {
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
}

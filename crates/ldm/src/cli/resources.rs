//! The verbs that change a domain's vCPUs, memory and boot variables.

use clap::Subcommand;

/// A domain's vCPUs, memory and boot variables.
#[derive(Subcommand, Debug)]
pub enum ResourceCmd {
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
}

//! The verbs that define a domain and list domains: `add-domain`,
//! `set-domain`, `remove-domain`, `list-constraints`, `list-domain`.

use clap::Subcommand;
use std::path::PathBuf;

/// Defining and listing domains.
#[derive(Subcommand, Debug)]
pub enum DomainCmd {
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
}

//! The verbs that show the host's devices and services, and the console
//! concentrators'.

use clap::Subcommand;

/// The host's devices and services; console concentrators.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
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
}

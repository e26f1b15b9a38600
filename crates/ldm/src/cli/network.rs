//! The network verbs: virtual switches and domains' network devices.

use clap::Subcommand;

/// Virtual switches and domains' network devices.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
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
}

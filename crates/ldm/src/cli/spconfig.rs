//! The verbs of saved host configurations.

use clap::Subcommand;

/// Saved host configurations.
#[derive(Subcommand, Debug)]
pub enum SpconfigCmd {
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

//! The verbs of user accounts and trusted certificates.

use clap::Subcommand;
use std::path::PathBuf;

/// User accounts and trusted certificates.
#[derive(Subcommand, Debug)]
pub enum AccountCmd {
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
}

//! The verbs that move domains to other hosts, and cancel operations
//! (a migration, a memory change, a delayed reconfiguration).

use clap::Subcommand;
use std::path::PathBuf;

/// Moving domains to other hosts; cancelling operations.
#[derive(Subcommand, Debug)]
pub enum MigrationCmd {
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
}

//! The crate's error type.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in the hypervisor layer.
///
/// Messages are meant for the person running `ldmd`: they say what failed
/// and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `qemu-system-x86_64` at the given path or on `PATH`.
    #[error(
        "QEMU not found ({searched}); install it with \
         `apt-get install -t bookworm-backports qemu-system-x86` \
         (add `deb http://deb.debian.org/debian bookworm-backports main` to \
         /etc/apt/sources.list.d/ first if the backports suite is not configured)"
    )]
    BinaryNotFound {
        /// Where we looked.
        searched: String,
    },

    /// Running `qemu-system-x86_64 --version` failed.
    #[error("could not run `{} --version`: {source}; check that the file is an executable QEMU binary", path.display())]
    VersionCommand {
        /// The binary we tried to run.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The output of `--version` did not contain a version number.
    #[error(
        "cannot read the QEMU version from {output:?}: expected a line like \
         'QEMU emulator version 10.0.2'; is this really qemu-system-x86_64?"
    )]
    VersionParse {
        /// What the binary printed.
        output: String,
    },

    /// The QEMU found is older than the minimum supported version.
    #[error(
        "QEMU {found} at {} is not supported: ldm needs QEMU {min}.0 or newer. \
         Live migration under TCG with QEMU 7.2 crashed the destination guest in \
         19 of 25 runs measured on these machines, QEMU 10.0 in 0 of 72. \
         Install a newer QEMU with `apt-get install -t bookworm-backports qemu-system-x86`",
        path.display()
    )]
    UnsupportedVersion {
        /// The version found, e.g. "7.2.15".
        found: String,
        /// The binary that was probed.
        path: PathBuf,
        /// The minimum supported major version.
        min: u32,
    },

    /// A string that should name an accelerator did not.
    #[error("unknown accelerator {0:?}: use \"kvm\" or \"tcg\"")]
    InvalidAccel(String),

    /// A string that should name a zero-page detection mode did not.
    #[error("unknown zero-page detection mode {0:?}: use \"none\", \"legacy\" or \"multifd\"")]
    InvalidZeroPageDetection(String),

    /// The machine configuration cannot be turned into a working QEMU process.
    #[error("invalid machine configuration for domain {name:?}: {reason}")]
    InvalidConfig {
        /// The domain name.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The domain's pidfile names a live QEMU process of the same domain.
    #[error(
        "domain {name:?} is already running as QEMU process {pid}; \
         stop it before starting it again"
    )]
    AlreadyRunning {
        /// The domain name.
        name: String,
        /// The pid of the running QEMU.
        pid: u32,
    },

    /// QEMU exited with an error while starting.
    #[error("QEMU failed to start domain {name:?} ({status}): {message}")]
    LaunchFailed {
        /// The domain name.
        name: String,
        /// The exit status of the QEMU launcher process.
        status: String,
        /// QEMU's own error message (stderr and the QEMU log).
        message: String,
    },

    /// QEMU reported success but the pidfile is missing or unreadable.
    #[error(
        "QEMU started domain {name:?} but left no readable pid in {}; \
         check that the directory is writable and see the QEMU log",
        pidfile.display()
    )]
    NoPid {
        /// The domain name.
        name: String,
        /// The pidfile QEMU should have written.
        pidfile: PathBuf,
    },

    /// A pid that must not be signalled (0, 1, or out of range).
    #[error("refusing to signal pid {0}: not a valid QEMU process id")]
    InvalidPid(u32),

    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Connecting to the QMP socket failed.
    #[error(
        "cannot connect to the QMP socket {}: {source}; is the domain's QEMU process running?",
        path.display()
    )]
    QmpConnect {
        /// The QMP socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A QMP exchange did not finish in time.
    #[error(
        "timed out after {timeout:?} waiting for {what} on QMP socket {}; QEMU may be hung, \
         or another client holds the QMP connection (QEMU serves one client per socket)",
        path.display()
    )]
    QmpTimeout {
        /// What we were waiting for.
        what: String,
        /// The QMP socket path.
        path: PathBuf,
        /// The timeout that expired.
        timeout: Duration,
    },

    /// QEMU closed the QMP connection.
    #[error(
        "QEMU closed the QMP connection on {} ({context}); the process has probably exited, \
         see its log file",
        path.display()
    )]
    QmpClosed {
        /// The QMP socket path.
        path: PathBuf,
        /// What we were doing when it closed.
        context: String,
    },

    /// QEMU sent something that is not valid QMP.
    #[error("QMP protocol error on {}: {detail}", path.display())]
    QmpProtocol {
        /// The QMP socket path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },

    /// QEMU answered a command with an error.
    #[error("QEMU rejected QMP command {command}: {desc} ({class})")]
    Qmp {
        /// The command that failed.
        command: String,
        /// QMP error class, e.g. "GenericError", "CommandNotFound".
        class: String,
        /// QEMU's human-readable description.
        desc: String,
    },

    /// A QMP reply did not have the expected shape.
    #[error("unexpected reply to QMP command {command}: {detail}")]
    QmpDecode {
        /// The command whose reply was malformed.
        command: String,
        /// What was wrong.
        detail: String,
    },

    /// A migration ended in the `failed` or `cancelled` state.
    #[error("migration {status}: {desc}")]
    MigrationFailed {
        /// The final status ("failed", "cancelled").
        status: String,
        /// QEMU's error description, if it gave one.
        desc: String,
    },

    /// An earlier outgoing migration still holds QEMU's migration state.
    #[error("QEMU has not released an earlier migration (status {status}) after {waited:?}")]
    MigrationNotReleased {
        /// Its status when the wait ended.
        status: String,
        /// How long was waited.
        waited: std::time::Duration,
    },
}

impl Error {
    /// Builds an [`Error::Io`] with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

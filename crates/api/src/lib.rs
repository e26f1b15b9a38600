//! Types shared by the `ldm` command and the `ldmd` daemon.
//!
//! The local API is newline-delimited JSON over a Unix socket in the daemon's
//! root directory: the client writes one [`Request`], the daemon answers with
//! zero or more [`Event`]s (long operations such as a migration) and exactly one
//! final [`Response`].

pub mod channels;
pub mod copy_rate;
pub mod dirty_during;
pub mod domain;
pub mod error;
pub mod flags;
pub mod limits;
pub mod migration;
pub mod network;
pub mod postcopy;
pub mod predict;
pub mod request;
pub mod service;
pub mod size;
pub mod state;
pub mod storage;
pub mod uptime;
pub mod wire;

pub use domain::{BootVars, CpuArch, DomainSpec, DomainView, HostView};
pub use error::{ApiError, ErrorKind};
pub use flags::Flags;
pub use request::{Event, Reply, Request, ResourceChange, Response};
pub use size::{format_mib, parse_size_mib, SizeError};
pub use state::DomainState;

/// Version of the local API; the CLI and the daemon must agree (see
/// [`wire`] and docs/api.md). Raised when a change would break a client of
/// the previous release: a removed or renamed request, field or reply.
pub const LOCAL_API_VERSION: u32 = 1;

/// File name of the local API socket inside the daemon's root directory.
pub const SOCKET_NAME: &str = "ldmd.sock";

/// Default root directory when neither `--root` nor `LDM_ROOT` is given.
pub const DEFAULT_ROOT: &str = "/var/lib/ldm";

/// Default TCP port of the manager-to-manager (peer) listener.
pub const DEFAULT_PEER_PORT: u16 = 8101;

//! The daemon's answers: the final reply, the events before it, and the
//! line that carries either.

use super::accounts::{TrustView, UserView};
use crate::domain::{DomainView, HostView};
use crate::error::ApiError;
use crate::migration::{DryRun, Progress, Summary};
use crate::network::VswView;
use crate::service::VccView;
use crate::storage::VdsView;
use serde::{Deserialize, Serialize};

/// A saved host configuration as `list-spconfig` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpconfigView {
    /// Name (`factory-default` is the built-in one).
    pub name: String,
    /// The configuration in use: the last one saved or applied.
    pub current: bool,
    /// The one ldmd applies at its first start after the host boots.
    pub next_poweron: bool,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// Done, nothing to report.
    Done {
        /// Optional message for the administrator.
        message: Option<String>,
    },
    /// Host facts.
    Host(HostView),
    /// Domains, the primary first.
    Domains {
        /// Rows.
        domains: Vec<DomainView>,
    },
    /// Services.
    Services {
        /// Console concentrators.
        vcc: Vec<VccView>,
        /// Virtual disk services.
        #[serde(default)]
        vds: Vec<VdsView>,
        /// Virtual switches (absent when none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        vsw: Vec<VswView>,
    },
    /// Console address.
    Console {
        /// Address.
        address: String,
        /// Port.
        port: u16,
    },
    /// Console output.
    ConsoleDump {
        /// Bytes, lossily decoded.
        text: String,
    },
    /// Users.
    Users {
        /// Accounts.
        users: Vec<UserView>,
    },
    /// Trusted certificates.
    Trust {
        /// Entries.
        entries: Vec<TrustView>,
    },
    /// A host's fingerprint.
    Probe {
        /// Presented fingerprint.
        fingerprint: String,
        /// The pinned one, if any.
        pinned: Option<String>,
    },
    /// Dry-run result.
    DryRun(DryRun),
    /// Saved configurations, `factory-default` first.
    Spconfigs {
        /// Configurations.
        configs: Vec<SpconfigView>,
    },
    /// Domains' constraints.
    Constraints {
        /// One per domain.
        domains: Vec<crate::domain::DomainSpec>,
    },
    /// Migration finished.
    Migrated(Summary),
}

/// An intermediate message during a long operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Migration progress.
    Progress(Progress),
    /// A line for the administrator.
    Info {
        /// Text.
        message: String,
    },
}

/// One line the daemon writes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Response {
    /// Intermediate event; more lines follow.
    Event(Event),
    /// Final success.
    Ok(Box<Reply>),
    /// Final failure.
    Err(ApiError),
}

//! How a domain verb changes a domain: the amount of a vCPU or memory verb,
//! the way `stop-domain` ends it.

use serde::{Deserialize, Serialize};

/// How a vCPU or memory verb changes the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceChange {
    /// `set-*`
    Set,
    /// `add-*`
    Add,
    /// `rm-*`
    Remove,
}

/// How `stop-domain` ends a running domain (besides `-f`/`-q`, which stop it
/// at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    /// Ask the guest to power off; stop it when the timeout passes.
    #[default]
    Normal,
    /// Ask the guest to power off and wait; never force (`-H`): when the
    /// timeout passes the domain keeps running and the request fails.
    Halt,
    /// Stop as [`StopMode::Normal`], then start the domain again (`-r`).
    Reboot,
}

impl StopMode {
    pub(super) fn is_normal(&self) -> bool {
        *self == StopMode::Normal
    }
}

//! User accounts and trusted certificates: the roles, and the rows
//! `list-user` and `list-trust` show.

use serde::{Deserialize, Serialize};

/// A user account's role (Oracle's rights profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Read-only.
    Review,
    /// Console access.
    Console,
    /// Everything, migration included.
    Management,
}

impl UserRole {
    /// Name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Review => "review",
            UserRole::Console => "console",
            UserRole::Management => "management",
        }
    }
}

impl std::str::FromStr for UserRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "review" => Ok(UserRole::Review),
            "console" => Ok(UserRole::Console),
            "management" => Ok(UserRole::Management),
            o => Err(format!(
                "role '{o}' is not known: use role=review, role=console or role=management"
            )),
        }
    }
}

/// A user account as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: UserRole,
}

/// A trusted certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustView {
    /// `host:port` of a target, or a source's label.
    pub host: String,
    /// SHA-256 fingerprint.
    pub fingerprint: String,
    /// `target` or `source`.
    pub kind: String,
}

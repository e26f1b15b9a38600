//! The six-position FLAGS column of `ldm list`, as in Oracle's ldm:
//!
//! 1. `s` starting or stopping
//! 2. `n` normal, `t` transition, `d` degraded
//! 3. `d` delayed reconfiguration, `r` memory dynamic reconfiguration
//! 4. `c` control domain
//! 5. `v` virtual I/O service domain
//! 6. `s` source of a migration, `t` target of a migration, `e` error in a migration

use serde::{Deserialize, Serialize};

/// Column 2: the domain's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not running: `-`.
    #[default]
    None,
    /// Running normally.
    Normal,
    /// In transition.
    Transition,
    /// Cannot be started for missing resources.
    Degraded,
}

/// Column 6: the domain's part in a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MigrationRole {
    /// No migration.
    #[default]
    None,
    /// Source of a migration.
    Source,
    /// Target of a migration.
    Target,
    /// A migration failed in a way that needs the administrator.
    Error,
}

/// Column 3: a reconfiguration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reconf {
    /// None: `-`.
    #[default]
    None,
    /// Changes wait for the next start: `d`.
    Delayed,
    /// Memory is being resized: `r`.
    MemoryDr,
}

impl Reconf {
    /// Whether there is none (it is then left out of serialized flags).
    pub fn is_none(&self) -> bool {
        *self == Reconf::None
    }
}

/// The six flag positions of a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Flags {
    /// Column 1.
    pub starting_stopping: bool,
    /// Column 2.
    pub status: Status,
    /// Column 3 (absent from older daemons' answers).
    #[serde(default, skip_serializing_if = "Reconf::is_none")]
    pub reconf: Reconf,
    /// Column 4.
    pub control: bool,
    /// Column 5.
    pub vio_service: bool,
    /// Column 6.
    pub migration: MigrationRole,
}

impl Flags {
    /// The short form: `-n-cv-`.
    pub fn short(&self) -> String {
        let mut s = String::with_capacity(6);
        s.push(if self.starting_stopping { 's' } else { '-' });
        s.push(match self.status {
            Status::None => '-',
            Status::Normal => 'n',
            Status::Transition => 't',
            Status::Degraded => 'd',
        });
        s.push(match self.reconf {
            Reconf::None => '-',
            Reconf::Delayed => 'd',
            Reconf::MemoryDr => 'r',
        });
        s.push(if self.control { 'c' } else { '-' });
        s.push(if self.vio_service { 'v' } else { '-' });
        s.push(match self.migration {
            MigrationRole::None => '-',
            MigrationRole::Source => 's',
            MigrationRole::Target => 't',
            MigrationRole::Error => 'e',
        });
        s
    }

    /// The long form used by `ldm list -l -p`: `normal,control,vio-service`.
    pub fn long(&self) -> String {
        let mut v: Vec<&str> = Vec::new();
        if self.starting_stopping {
            v.push("starting-stopping");
        }
        match self.status {
            Status::None => {}
            Status::Normal => v.push("normal"),
            Status::Transition => v.push("transition"),
            Status::Degraded => v.push("degraded"),
        }
        match self.reconf {
            Reconf::None => {}
            Reconf::Delayed => v.push("delayed-reconf"),
            Reconf::MemoryDr => v.push("memory-dr"),
        }
        if self.control {
            v.push("control");
        }
        if self.vio_service {
            v.push("vio-service");
        }
        match self.migration {
            MigrationRole::None => {}
            MigrationRole::Source => v.push("source"),
            MigrationRole::Target => v.push("target"),
            MigrationRole::Error => v.push("error"),
        }
        v.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_flags() {
        let f = Flags {
            status: Status::Normal,
            control: true,
            vio_service: true,
            ..Default::default()
        };
        assert_eq!(f.short(), "-n-cv-");
        assert_eq!(f.long(), "normal,control,vio-service");
    }

    #[test]
    fn migration_flags() {
        let f = Flags {
            migration: MigrationRole::Target,
            ..Default::default()
        };
        assert_eq!(f.short(), "-----t");
        let f = Flags {
            status: Status::Normal,
            migration: MigrationRole::Source,
            ..Default::default()
        };
        assert_eq!(f.short(), "-n---s");
        let f = Flags {
            migration: MigrationRole::Error,
            ..Default::default()
        };
        assert_eq!(f.short(), "-----e");
        assert_eq!(Flags::default().short(), "------");
        let f = Flags {
            status: Status::Normal,
            reconf: Reconf::Delayed,
            ..Default::default()
        };
        assert_eq!(f.short(), "-nd---");
        assert_eq!(f.long(), "normal,delayed-reconf");
        let f = Flags {
            reconf: Reconf::MemoryDr,
            ..f
        };
        assert_eq!(f.short(), "-nr---");
        // Older daemons' flags (no column 3) still decode.
        let old: Flags = serde_json::from_str(
            r#"{"starting_stopping":false,"status":"normal","control":false,"vio_service":false,"migration":"none"}"#,
        )
        .unwrap();
        assert_eq!(old.short(), "-n----");
        assert!(!serde_json::to_string(&old).unwrap().contains("reconf"));
    }
}

//! Saved configurations in the database (`spconfig` table), the choice
//! for the next power-on and the last boot id (in `meta`), and the one
//! transaction that replaces the host's configuration with a saved one.

use super::snapshot::{HostConfig, SavedService};
use crate::db::Db;
use crate::error::Result;
use crate::record::DomainRecord;
use rusqlite::{params, OptionalExtension};

/// `meta` key: the configuration applied at the next power-on.
pub const NEXT: &str = "spconfig-next";
/// `meta` key: the configuration last saved or applied.
pub const CURRENT: &str = "spconfig-current";
/// `meta` key: the kernel boot id ldmd last started under.
pub const BOOT_ID: &str = "boot-id";

impl Db {
    /// Names of the saved configurations, sorted.
    pub fn spconfigs(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name FROM spconfig ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    /// One saved configuration.
    pub fn spconfig(&self, name: &str) -> Result<Option<HostConfig>> {
        let text: Option<String> = self.with(|c| {
            Ok(c.query_row(
                "SELECT snapshot FROM spconfig WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    /// Saves a new configuration; false if the name is taken.
    pub fn add_spconfig(&self, name: &str, cfg: &HostConfig) -> Result<bool> {
        let json = serde_json::to_string(cfg)?;
        self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO spconfig (name, snapshot, saved) VALUES (?1, ?2, strftime('%s','now'))",
                params![name, json],
            )? > 0)
        })
    }

    /// Removes a configuration; false if there was none.
    pub fn delete_spconfig(&self, name: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM spconfig WHERE name = ?1", [name])? > 0))
    }

    /// Replaces every domain and service with those of `cfg`, domains
    /// inactive (binding and starting them is the caller's), in one
    /// transaction: either the whole configuration is in place or nothing
    /// changed.
    pub fn replace_configuration(&self, cfg: &HostConfig) -> Result<()> {
        let records: Vec<String> = cfg
            .domains
            .iter()
            .map(|s| serde_json::to_string(&DomainRecord::new(s.spec.clone())))
            .collect::<serde_json::Result<_>>()?;
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute_batch(
                "DELETE FROM domains; DELETE FROM vdsdev; DELETE FROM vds; DELETE FROM vcc; DELETE FROM vsw;",
            )?;
            for s in &cfg.services {
                match s {
                    SavedService::Vcc {
                        name,
                        port_lo,
                        port_hi,
                    } => {
                        tx.execute(
                            "INSERT INTO vcc (name, port_lo, port_hi) VALUES (?1, ?2, ?3)",
                            params![name, port_lo, port_hi],
                        )?;
                    }
                    SavedService::Vsw {
                        name,
                        net_dev,
                        mtu,
                        mac,
                    } => {
                        tx.execute(
                            "INSERT INTO vsw (name, net_dev, mtu, mac) VALUES (?1, ?2, ?3, ?4)",
                            params![name, net_dev, mtu, mac.map(|m| m.to_string())],
                        )?;
                    }
                    SavedService::Vds { name, volumes } => {
                        tx.execute("INSERT INTO vds (name) VALUES (?1)", [name])?;
                        for v in volumes {
                            tx.execute(
                                "INSERT INTO vdsdev (service, volume, backend, readonly) VALUES (?1, ?2, ?3, ?4)",
                                params![name, v.volume, v.backend, v.readonly],
                            )?;
                        }
                    }
                }
            }
            for (s, json) in cfg.domains.iter().zip(&records) {
                tx.execute(
                    "INSERT INTO domains (name, record) VALUES (?1, ?2)",
                    params![s.spec.name, json],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }
}

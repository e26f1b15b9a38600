//! The database's virtual switches (`vsw`). Each change is one statement,
//! so one transaction. A domain's vnets live in its record.

use crate::db::Db;
use crate::error::Result;
use ldm_api::network::Mac;
use rusqlite::params;

/// One virtual switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VswRow {
    /// Switch name.
    pub name: String,
    /// Uplink interface.
    pub net_dev: Option<String>,
    /// MTU.
    pub mtu: u32,
    /// The bridge's MAC address, if given.
    pub mac: Option<Mac>,
}

impl Db {
    /// All virtual switches, by name.
    pub fn vsws(&self) -> Result<Vec<VswRow>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name, net_dev, mtu, mac FROM vsw ORDER BY name")?;
            let rows = st.query_map([], |r| {
                let mac: Option<String> = r.get(3)?;
                Ok(VswRow {
                    name: r.get(0)?,
                    net_dev: r.get(1)?,
                    mtu: r.get(2)?,
                    // A MAC that does not parse was not written by ldmd;
                    // the switch then gets the kernel's.
                    mac: mac.and_then(|m| m.parse().ok()),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// One virtual switch.
    pub fn vsw(&self, name: &str) -> Result<Option<VswRow>> {
        Ok(self.vsws()?.into_iter().find(|v| v.name == name))
    }

    /// Inserts or replaces a virtual switch.
    pub fn put_vsw(&self, v: &VswRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO vsw (name, net_dev, mtu, mac) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET net_dev = excluded.net_dev, mtu = excluded.mtu, mac = excluded.mac",
                params![v.name, v.net_dev, v.mtu, v.mac.map(|m| m.to_string())],
            )?;
            Ok(())
        })
    }

    /// Removes a virtual switch.
    pub fn delete_vsw(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM vsw WHERE name = ?1", [name])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ldm.db");
        let row = VswRow {
            name: "primary-vsw0".into(),
            net_dev: Some("eth0".into()),
            mtu: 9000,
            mac: Some("02:4c:44:00:00:09".parse().unwrap()),
        };
        {
            let db = Db::open(&path).unwrap();
            db.put_vsw(&row).unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.vsw("primary-vsw0").unwrap(), Some(row));
        db.delete_vsw("primary-vsw0").unwrap();
        assert!(db.vsws().unwrap().is_empty());
    }
}

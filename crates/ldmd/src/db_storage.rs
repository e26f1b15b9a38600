//! The database's virtual disk services and their volumes (`vds`,
//! `vdsdev`). Each change is one statement, so one transaction.

use crate::db::Db;
use crate::error::Result;
use rusqlite::params;

/// One volume of a virtual disk service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdsdevRow {
    /// Service name.
    pub service: String,
    /// Volume name.
    pub volume: String,
    /// Back end path on this host.
    pub backend: String,
    /// Exported read-only.
    pub readonly: bool,
}

impl Db {
    /// All vds names.
    pub fn vdss(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name FROM vds ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Adds a vds.
    pub fn put_vds(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute("INSERT OR IGNORE INTO vds (name) VALUES (?1)", [name])?;
            Ok(())
        })
    }

    /// Removes a vds that has no volumes.
    pub fn delete_vds(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM vds WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// All volumes, by service then volume.
    pub fn vdsdevs(&self) -> Result<Vec<VdsdevRow>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT service, volume, backend, readonly FROM vdsdev ORDER BY service, volume",
            )?;
            let rows = st.query_map([], |r| {
                Ok(VdsdevRow {
                    service: r.get(0)?,
                    volume: r.get(1)?,
                    backend: r.get(2)?,
                    readonly: r.get::<_, i64>(3)? != 0,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// One volume.
    pub fn vdsdev(&self, volume: &str, service: &str) -> Result<Option<VdsdevRow>> {
        Ok(self
            .vdsdevs()?
            .into_iter()
            .find(|r| r.volume == volume && r.service == service))
    }

    /// Inserts or replaces a volume.
    pub fn put_vdsdev(&self, v: &VdsdevRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO vdsdev (service, volume, backend, readonly) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(service, volume) DO UPDATE SET backend = excluded.backend, readonly = excluded.readonly",
                params![v.service, v.volume, v.backend, v.readonly as i64],
            )?;
            Ok(())
        })
    }

    /// Removes a volume.
    pub fn delete_vdsdev(&self, volume: &str, service: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM vdsdev WHERE service = ?1 AND volume = ?2",
                params![service, volume],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_volumes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ldm.db");
        {
            let db = Db::open(&path).unwrap();
            db.put_vds("primary-vds0").unwrap();
            db.put_vdsdev(&VdsdevRow {
                service: "primary-vds0".into(),
                volume: "vol1".into(),
                backend: "/img/a".into(),
                readonly: true,
            })
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.vdss().unwrap(), ["primary-vds0"]);
        let v = db.vdsdev("vol1", "primary-vds0").unwrap().unwrap();
        assert!(v.readonly);
        db.delete_vdsdev("vol1", "primary-vds0").unwrap();
        assert!(db.vdsdevs().unwrap().is_empty());
    }
}

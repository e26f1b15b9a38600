//! The embedded database: domains, services, users, trusted certificates
//! and saved configurations (`spconfig`, in `spconfig/store.rs`),
//! in one SQLite file under the root directory. Every change is one
//! transaction, so a failed command leaves the database as it was.

use crate::error::Result;
use crate::record::DomainRecord;
use ldm_api::request::{TrustView, UserRole, UserView};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vcc (name TEXT PRIMARY KEY, port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trust (host TEXT NOT NULL, kind TEXT NOT NULL, fingerprint TEXT NOT NULL, PRIMARY KEY (host, kind));
CREATE TABLE IF NOT EXISTS vds (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS vdsdev (service TEXT NOT NULL REFERENCES vds(name), volume TEXT NOT NULL, backend TEXT NOT NULL, readonly INTEGER NOT NULL, PRIMARY KEY (service, volume));
CREATE TABLE IF NOT EXISTS vsw (name TEXT PRIMARY KEY, net_dev TEXT, mtu INTEGER NOT NULL, mac TEXT);
CREATE TABLE IF NOT EXISTS spconfig (name TEXT PRIMARY KEY, snapshot TEXT NOT NULL, saved INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS migration_outcomes (id TEXT PRIMARY KEY, domain TEXT NOT NULL, outcome TEXT NOT NULL, secret TEXT NOT NULL, at INTEGER NOT NULL);
";

/// What a target keeps about one incoming migration, so that a source
/// that lost the answer can ask later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRow {
    /// The migration's id.
    pub id: String,
    /// The domain's name here.
    pub domain: String,
    /// `prepared`, `committing`, `committed` or `rolled-back`.
    pub outcome: String,
    /// The secret the source must present to ask.
    pub secret: String,
}

/// Schema version written in `meta`.
pub const SCHEMA_VERSION: u32 = 1;

/// Handle on the database.
pub struct Db {
    conn: Mutex<Connection>,
}

/// A vcc service row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VccRow {
    /// Name.
    pub name: String,
    /// First port.
    pub port_lo: u16,
    /// Last port.
    pub port_hi: u16,
}

/// Makes the database and its WAL and shared-memory files 0600: they hold
/// the password hashes. SQLite gives the WAL the database file's mode, so
/// the database is created 0600 before SQLite opens it; files of an older
/// ldmd are corrected.
fn private_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e| crate::error::Error::io(format!("cannot secure {}", path.display()), e);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Db> {
        private_files(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)",
            params![SCHEMA_VERSION.to_string()],
        )?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }

    /// Records (or updates) the outcome of an incoming migration.
    pub fn put_outcome(&self, row: &OutcomeRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO migration_outcomes (id, domain, outcome, secret, at) VALUES (?1, ?2, ?3, ?4, strftime('%s','now')) ON CONFLICT(id) DO UPDATE SET outcome = excluded.outcome, at = excluded.at",
                params![row.id, row.domain, row.outcome, row.secret],
            )?;
            Ok(())
        })
    }

    /// The stored outcome of an incoming migration.
    pub fn outcome(&self, id: &str) -> Result<Option<OutcomeRow>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT id, domain, outcome, secret FROM migration_outcomes WHERE id = ?1",
                [id],
                |r| {
                    Ok(OutcomeRow {
                        id: r.get(0)?,
                        domain: r.get(1)?,
                        outcome: r.get(2)?,
                        secret: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// A meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Sets a meta value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    /// Removes a meta value (none is fine).
    pub fn delete_meta(&self, key: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM meta WHERE key = ?1", [key])?;
            Ok(())
        })
    }

    /// The meta keys that start with `prefix`, in order.
    pub fn meta_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT key FROM meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )?;
            let rows = st.query_map([prefix], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// All domains.
    pub fn domains(&self) -> Result<Vec<DomainRecord>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT record FROM domains ORDER BY name")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(serde_json::from_str(&row?)?);
            }
            Ok(out)
        })
    }

    /// Inserts or replaces a domain.
    pub fn put_domain(&self, rec: &DomainRecord) -> Result<()> {
        let json = serde_json::to_string(rec)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO domains (name, record) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET record = excluded.record",
                params![rec.spec.name, json],
            )?;
            Ok(())
        })
    }

    /// Removes a domain.
    pub fn delete_domain(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM domains WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// All vcc services.
    pub fn vccs(&self) -> Result<Vec<VccRow>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name, port_lo, port_hi FROM vcc ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok(VccRow {
                    name: r.get(0)?,
                    port_lo: r.get(1)?,
                    port_hi: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Inserts or replaces a vcc service.
    pub fn put_vcc(&self, v: &VccRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO vcc (name, port_lo, port_hi) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET port_lo = excluded.port_lo, port_hi = excluded.port_hi",
                params![v.name, v.port_lo, v.port_hi],
            )?;
            Ok(())
        })
    }

    /// Removes a vcc service.
    pub fn delete_vcc(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM vcc WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// A user's role and password hash.
    pub fn user(&self, name: &str) -> Result<Option<(UserRole, String)>> {
        self.with(|c| {
            let row: Option<(String, String)> = c
                .query_row(
                    "SELECT role, hash FROM users WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(row.and_then(|(role, hash)| role.parse().ok().map(|r| (r, hash))))
        })
    }

    /// Inserts or replaces a user.
    pub fn put_user(&self, name: &str, role: UserRole, hash: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO users (name, role, hash) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET role = excluded.role, hash = excluded.hash",
                params![name, role.as_str(), hash],
            )?;
            Ok(())
        })
    }

    /// Removes a user; false if there was none.
    pub fn delete_user(&self, name: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM users WHERE name = ?1", [name])? > 0))
    }

    /// All users.
    pub fn users(&self) -> Result<Vec<UserView>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name, role FROM users ORDER BY name")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (name, role) = row?;
                if let Ok(role) = role.parse() {
                    out.push(UserView { name, role });
                }
            }
            Ok(out)
        })
    }

    /// The trusted fingerprint for `host` of `kind` (`target` or `source`).
    pub fn trust(&self, host: &str, kind: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT fingerprint FROM trust WHERE host = ?1 AND kind = ?2",
                params![host, kind],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Whether any source certificate with this fingerprint is trusted.
    pub fn source_trusted(&self, fingerprint: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT host FROM trust WHERE kind = 'source' AND fingerprint = ?1",
                [fingerprint],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Pins a fingerprint.
    pub fn put_trust(&self, host: &str, kind: &str, fingerprint: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO trust (host, kind, fingerprint) VALUES (?1, ?2, ?3) ON CONFLICT(host, kind) DO UPDATE SET fingerprint = excluded.fingerprint",
                params![host, kind, fingerprint],
            )?;
            Ok(())
        })
    }

    /// Removes a pin; false if there was none.
    pub fn delete_trust(&self, host: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute("DELETE FROM trust WHERE host = ?1", [host])? > 0))
    }

    /// All pins.
    pub fn trusts(&self) -> Result<Vec<TrustView>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT host, kind, fingerprint FROM trust ORDER BY kind, host")?;
            let rows = st.query_map([], |r| {
                Ok(TrustView {
                    host: r.get(0)?,
                    kind: r.get(1)?,
                    fingerprint: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_api::{BootVars, CpuArch, DomainSpec};

    fn spec(name: &str) -> DomainSpec {
        DomainSpec {
            name: name.into(),
            uuid: uuid::Uuid::nil(),
            cpu_arch: CpuArch::Native,
            vcpus: 1,
            max_vcpus: None,
            max_memory_mib: None,
            boot_memory_mib: None,
            memory_mib: 512,
            vars: BootVars::default(),
            migration: Default::default(),
            disks: Vec::new(),
            networks: Vec::new(),
        }
    }

    #[test]
    fn the_database_and_its_wal_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ldm.db");
        // An older ldmd left it readable by everyone.
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = Db::open(&path).unwrap();
        db.set_meta("k", "v").unwrap();
        for f in ["ldm.db", "ldm.db-wal", "ldm.db-shm"] {
            let m = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600, "{f}");
        }
    }

    #[test]
    fn migration_outcomes_are_kept_and_updated() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("ldm.db")).unwrap();
        let mut row = OutcomeRow {
            id: "m1".into(),
            domain: "ldg1".into(),
            outcome: "prepared".into(),
            secret: "s".into(),
        };
        db.put_outcome(&row).unwrap();
        row.outcome = "committed".into();
        db.put_outcome(&row).unwrap();
        assert_eq!(db.outcome("m1").unwrap(), Some(row));
        assert_eq!(db.outcome("m2").unwrap(), None);
    }

    #[test]
    fn domains_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ldm.db");
        {
            let db = Db::open(&path).unwrap();
            db.put_domain(&DomainRecord::new(spec("ldg1"))).unwrap();
            db.put_domain(&DomainRecord::new(spec("ldg2"))).unwrap();
            db.delete_domain("ldg2").unwrap();
        }
        let db = Db::open(&path).unwrap();
        let all = db.domains().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].spec.name, "ldg1");
    }

    #[test]
    fn meta_values_by_prefix_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("ldm.db")).unwrap();
        db.set_meta("rate-b", "2").unwrap();
        db.set_meta("rate-a", "1").unwrap();
        db.set_meta("ratex", "3").unwrap();
        assert_eq!(db.meta_keys("rate-").unwrap(), vec!["rate-a", "rate-b"]);
        db.delete_meta("rate-a").unwrap();
        db.delete_meta("never-set").unwrap();
        assert_eq!(db.meta("rate-a").unwrap(), None);
        assert_eq!(db.meta_keys("rate-").unwrap(), vec!["rate-b"]);
    }

    #[test]
    fn users_and_trust() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("ldm.db")).unwrap();
        db.put_user("admin", UserRole::Management, "h").unwrap();
        assert_eq!(db.user("admin").unwrap().unwrap().0, UserRole::Management);
        assert!(db.delete_user("admin").unwrap());
        assert!(db.user("admin").unwrap().is_none());
        db.put_trust("h:8101", "target", "AA").unwrap();
        assert_eq!(db.trust("h:8101", "target").unwrap().as_deref(), Some("AA"));
        db.put_trust("src", "source", "BB").unwrap();
        assert_eq!(db.source_trusted("BB").unwrap().as_deref(), Some("src"));
    }
}

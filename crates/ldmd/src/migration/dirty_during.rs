//! The dirty rate each domain kept during its last live move from this
//! host ([`ldm_api::dirty_during`]), one meta key per domain:
//! `memory-migration-dirty-during-<uuid>` = MiB/s. The source's dry run
//! takes it when the same domain is predicted again from here.
//!
//! Older releases kept one key for the whole host, the last move's:
//! `memory-migration-dirty-during` = `<uuid> <MiB/s>`. It is still read,
//! and the next move turns it into its domain's key. A domain's key is
//! dropped when the domain is removed from this host (`remove-domain`);
//! a domain that moved away keeps it (it may come back and move again),
//! and when more than [`KEPT`] are kept, those of domains no longer
//! defined here go.

use crate::db::Db;
use crate::error::Result;

/// The key older releases kept: `<uuid> <MiB/s>`.
const HOST_KEY: &str = "memory-migration-dirty-during";
/// Domains' keys kept before those of departed domains are dropped.
pub const KEPT: usize = 64;

/// The key of the domain `uuid`.
pub fn key(uuid: &str) -> String {
    format!("{HOST_KEY}-{uuid}")
}

/// The rate the domain `uuid` kept during its last live move from this
/// host, MiB/s (`None`: it never moved from here, or the figure is
/// damaged).
pub fn read(db: &Db, uuid: &str) -> Option<u64> {
    rate_of(|k| db.meta(k).ok().flatten(), uuid)
}

/// [`read`] over the stored values `meta` gives.
fn rate_of(meta: impl Fn(&str) -> Option<String>, uuid: &str) -> Option<u64> {
    match meta(&key(uuid)) {
        Some(v) => v.parse().ok().filter(|r| *r > 0),
        None => host_key_rate(meta(HOST_KEY).as_deref(), uuid),
    }
}

/// The rate in an older release's `<uuid> <MiB/s>` if it is `uuid`'s.
fn host_key_rate(stored: Option<&str>, uuid: &str) -> Option<u64> {
    let (who, mib) = stored?.split_once(' ')?;
    (who == uuid).then(|| mib.parse().ok()).flatten()
}

/// Keeps `mib` for the domain `uuid`; turns an older release's key into
/// its domain's, and drops departed domains' keys beyond [`KEPT`].
pub fn keep(db: &Db, uuid: &str, mib: u64) -> Result<()> {
    if let Some(old) = db.meta(HOST_KEY)? {
        if let Some((who, rate)) = old.split_once(' ') {
            if who != uuid && rate.parse::<u64>().is_ok() && db.meta(&key(who))?.is_none() {
                db.set_meta(&key(who), rate)?;
            }
        }
        db.delete_meta(HOST_KEY)?;
    }
    db.set_meta(&key(uuid), &mib.to_string())?;
    let kept = db.meta_keys(&key(""))?;
    if kept.len() > KEPT {
        let defined: Vec<String> = db
            .domains()?
            .iter()
            .map(|r| r.spec.uuid.to_string())
            .collect();
        for k in departed(&kept, &defined, uuid) {
            db.delete_meta(&k)?;
        }
    }
    Ok(())
}

/// The keys among `kept` of domains neither `defined` here nor `uuid`.
fn departed(kept: &[String], defined: &[String], uuid: &str) -> Vec<String> {
    let prefix = key("");
    kept.iter()
        .filter(|k| {
            let who = k.strip_prefix(&prefix).unwrap_or(k);
            who != uuid && !defined.iter().any(|d| d == who)
        })
        .cloned()
        .collect()
}

/// Drops what is kept for the domain `uuid` (it was removed from this
/// host).
pub fn forget(db: &Db, uuid: &str) -> Result<()> {
    db.delete_meta(&key(uuid))?;
    if host_key_rate(db.meta(HOST_KEY)?.as_deref(), uuid).is_some() {
        db.delete_meta(HOST_KEY)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "5f0c7a1e-0000-4000-8000-000000000001";
    const OTHER: &str = "5f0c7a1e-0000-4000-8000-000000000002";

    /// Stored keys and values → the rate read for [`ME`].
    type Row<'a> = (&'a [(&'a str, &'a str)], Option<u64>);

    #[test]
    fn the_rate_is_the_same_domains() {
        let mine = key(ME);
        #[rustfmt::skip]
        let rows: &[Row] = &[
            (&[], None),
            // This domain's own key.
            (&[(&mine, "84")], Some(84)),
            // It wins over an older release's host key.
            (&[(&mine, "84"), (HOST_KEY, "5f0c7a1e-0000-4000-8000-000000000001 90")], Some(84)),
            // An older release's key, this domain's.
            (&[(HOST_KEY, "5f0c7a1e-0000-4000-8000-000000000001 90")], Some(90)),
            // Another domain's.
            (&[(HOST_KEY, "5f0c7a1e-0000-4000-8000-000000000002 90")], None),
            // Damaged.
            (&[(&mine, "fast")], None),
            (&[(&mine, "0")], None),
            (&[(HOST_KEY, "5f0c7a1e-0000-4000-8000-000000000001")], None),
            (&[(HOST_KEY, "5f0c7a1e-0000-4000-8000-000000000001 fast")], None),
        ];
        for (stored, want) in rows {
            let meta = |k: &str| {
                stored
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            };
            assert_eq!(rate_of(meta, ME), *want, "{stored:?}");
        }
    }

    #[test]
    fn only_departed_domains_keys_are_dropped() {
        let kept = vec![key(ME), key(OTHER), key("gone")];
        assert_eq!(departed(&kept, &[OTHER.to_string()], ME), vec![key("gone")]);
    }

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("ldm.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn an_older_releases_key_becomes_its_domains() {
        let (_dir, db) = db();
        db.set_meta(HOST_KEY, &format!("{OTHER} 90")).unwrap();
        keep(&db, ME, 84).unwrap();
        assert_eq!(read(&db, ME), Some(84));
        assert_eq!(read(&db, OTHER), Some(90));
        assert_eq!(db.meta(HOST_KEY).unwrap(), None);
    }

    #[test]
    fn a_removed_domains_rate_is_forgotten() {
        let (_dir, db) = db();
        keep(&db, ME, 84).unwrap();
        keep(&db, OTHER, 70).unwrap();
        forget(&db, ME).unwrap();
        assert_eq!(read(&db, ME), None);
        assert_eq!(read(&db, OTHER), Some(70));
        // An older release's key naming it goes too.
        db.set_meta(HOST_KEY, &format!("{ME} 90")).unwrap();
        forget(&db, ME).unwrap();
        assert_eq!(db.meta(HOST_KEY).unwrap(), None);
    }

    #[test]
    fn keys_do_not_pile_up() {
        let (_dir, db) = db();
        for i in 0..KEPT + 5 {
            keep(&db, &format!("departed-{i}"), 10).unwrap();
        }
        let kept = db.meta_keys(&key("")).unwrap();
        assert!(kept.len() <= KEPT, "{}", kept.len());
        assert_eq!(read(&db, &format!("departed-{}", KEPT + 4)), Some(10));
    }
}

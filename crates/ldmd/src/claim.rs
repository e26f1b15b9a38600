//! Per-domain claims: a long operation (start, stop, a migration) holds one
//! domain, not the daemon.
//!
//! The table of domains sits behind a synchronous lock that is only held
//! for short sections that never wait; its guard cannot be kept across an
//! `.await` in the daemon's (`Send`) tasks, so the compiler enforces that.
//! An operation that waits on QEMU or a peer first *claims* its domain: it
//! marks it in the table, releases the lock, does its slow work, and takes
//! the lock again only to record the outcome. While a domain is claimed,
//! every other change to it is refused with a message naming the operation,
//! and `ldm list` and every verb on other domains carry on.
//!
//! A claim is a [`ClaimGuard`]: dropping it (at the end of the operation, on
//! an error return, or while unwinding from a panic) releases the domain.

use crate::daemon::{Busy, Domain, SharedTable, Table};
use crate::error::{refuse, Error, Result};
use ldm_api::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};

/// What holds a domain.
pub enum ClaimKind {
    /// `start-domain`: QEMU is being launched.
    Start,
    /// `stop-domain`: the guest is being powered off.
    Stop,
    /// A migration, source or target.
    Migration(Busy),
    /// `add-vcpu`, `rm-vcpu` or `set-vcpu` on a running domain.
    Resize,
    /// `add-memory`, `rm-memory` or `set-memory` on a running domain
    /// (FLAGS `r`); set the sender to true to stop it where it is.
    MemoryDr(tokio::sync::watch::Sender<bool>),
}

/// The mark a claim leaves in the table.
pub struct Claim {
    /// Which claim: a guard only releases its own.
    id: u64,
    /// What holds the domain.
    pub kind: ClaimKind,
}

impl Claim {
    /// The error another change of the domain gets while this claim holds.
    pub fn refusal(&self, name: &str) -> Error {
        let msg = match &self.kind {
            ClaimKind::Start => format!(
                "domain {name} is starting: wait for `ldm start-domain {name}` to finish, then try again"
            ),
            ClaimKind::Stop => format!(
                "domain {name} is stopping: wait for `ldm stop-domain {name}` to finish, then try again"
            ),
            ClaimKind::MemoryDr(_) => format!(
                "domain {name} is changing its memory: wait for that to finish or stop it with `ldm cancel-operation memdr {name}`"
            ),
            ClaimKind::Resize => format!(
                "domain {name} is changing its vCPUs: wait for that to finish, then try again"
            ),
            ClaimKind::Migration(b) => {
                let op = b.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let role = match op.role {
                    ldm_api::migration::Role::Source => "source",
                    ldm_api::migration::Role::Target => "target",
                };
                format!(
                    "domain {name} is being migrated ({role} of a migration with {}): wait for it to finish or cancel it with `ldm cancel-operation migration {name}` on the source",
                    op.peer
                )
            }
        };
        refuse(ErrorKind::Busy, msg)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Holds a domain until dropped.
pub struct ClaimGuard {
    table: SharedTable,
    name: String,
    id: u64,
}

impl ClaimGuard {
    /// Claims the domain `name` in `t` (locked by the caller) for `kind`;
    /// refused if it does not exist or another operation holds it.
    /// `table` is the shared table `t` was locked from.
    pub fn claim(
        table: &SharedTable,
        t: &mut Table,
        name: &str,
        kind: ClaimKind,
    ) -> Result<ClaimGuard> {
        let dom = crate::daemon::get_mut_idle(t, name)?;
        Ok(Self::mark(table, dom, name, kind))
    }

    /// Inserts a new domain into `t` (locked by the caller), already claimed
    /// for `kind`: a migration's target copy is held from its first moment.
    pub fn insert(table: &SharedTable, t: &mut Table, dom: Domain, kind: ClaimKind) -> ClaimGuard {
        let name = dom.rec.spec.name.clone();
        let slot = t.entry(name.clone()).or_insert(dom);
        Self::mark(table, slot, &name, kind)
    }

    fn mark(table: &SharedTable, dom: &mut Domain, name: &str, kind: ClaimKind) -> ClaimGuard {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        dom.claim = Some(Claim { id, kind });
        ClaimGuard {
            table: table.clone(),
            name: name.to_string(),
            id,
        }
    }

    /// The claimed domain's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `dom` is held by this claim.
    pub fn holds(&self, dom: &Domain) -> bool {
        dom.claim.as_ref().is_some_and(|c| c.id == self.id)
    }

    /// The claimed domain in `t` (locked by the caller), to record the
    /// operation's outcome; "not found" if it is gone or no longer held
    /// by this claim.
    pub fn domain<'t>(&self, t: &'t mut Table) -> Result<&'t mut Domain> {
        t.get_mut(&self.name)
            .filter(|dom| self.holds(dom))
            .ok_or_else(|| crate::daemon::not_found(&self.name))
    }
}

fn release(t: &mut Table, name: &str, id: u64) {
    if let Some(dom) = t.get_mut(name) {
        if dom.claim.as_ref().is_some_and(|c| c.id == id) {
            dom.claim = None;
        }
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        match self.table.try_lock() {
            Ok(mut t) => release(&mut t, &self.name, self.id),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                release(&mut p.into_inner(), &self.name, self.id)
            }
            // Dropped while the table is locked, perhaps by this very
            // thread (a guard dropped on an error path inside a locked
            // section): release it as soon as the table is free instead
            // of waiting here for ever.
            Err(std::sync::TryLockError::WouldBlock) => {
                let (table, name, id) = (self.table.clone(), self.name.clone(), self.id);
                std::thread::spawn(move || {
                    let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                    release(&mut t, &name, id);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::DomainRecord;
    use std::sync::{Arc, Mutex};

    fn table_with(name: &str) -> SharedTable {
        let spec = ldm_api::DomainSpec {
            name: name.into(),
            uuid: uuid::Uuid::from_u128(0x00000000_0000_4000_8000_000000000001),
            cpu_arch: Default::default(),
            vcpus: 1,
            max_vcpus: None,
            max_memory_mib: None,
            boot_memory_mib: None,
            memory_mib: 512,
            vars: Default::default(),
            migration: Default::default(),
            disks: Vec::new(),
            networks: Vec::new(),
        };
        let mut t = Table::new();
        t.insert(name.into(), Domain::new(DomainRecord::new(spec)));
        Arc::new(Mutex::new(t))
    }

    #[test]
    fn a_claimed_domain_refuses_other_changes_until_released() {
        let shared = table_with("ldg1");
        let guard = {
            let mut t = shared.lock().unwrap();
            ClaimGuard::claim(&shared, &mut t, "ldg1", ClaimKind::Start).unwrap()
        };
        {
            let mut t = shared.lock().unwrap();
            let e = ClaimGuard::claim(&shared, &mut t, "ldg1", ClaimKind::Stop)
                .err()
                .expect("second claim refused");
            assert!(e.to_string().contains("is starting"), "{e}");
            assert!(guard.holds(&t["ldg1"]));
        }
        drop(guard);
        let mut t = shared.lock().unwrap();
        assert!(t["ldg1"].claim.is_none());
        let again = ClaimGuard::claim(&shared, &mut t, "ldg1", ClaimKind::Stop);
        assert!(again.is_ok());
        drop(t);
    }

    #[test]
    fn a_guard_dropped_inside_a_locked_section_is_released_after_it() {
        let shared = table_with("ldg1");
        {
            let mut t = shared.lock().unwrap();
            let g = ClaimGuard::claim(&shared, &mut t, "ldg1", ClaimKind::Start).unwrap();
            drop(g); // would deadlock if the guard waited for the lock
            assert!(t["ldg1"].claim.is_some());
        }
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while shared.lock().unwrap()["ldg1"].claim.is_some() {
            assert!(std::time::Instant::now() < end, "claim never released");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_claim_is_released_when_its_holder_panics() {
        let shared = table_with("ldg1");
        let s2 = shared.clone();
        let r = std::thread::spawn(move || {
            let _g = {
                let mut t = s2.lock().unwrap();
                ClaimGuard::claim(&s2, &mut t, "ldg1", ClaimKind::Start).unwrap()
            };
            panic!("operation failed");
        })
        .join();
        assert!(r.is_err());
        let t = shared.lock().unwrap();
        assert!(t["ldg1"].claim.is_none());
    }

    #[test]
    fn a_stale_guard_does_not_release_a_newer_claim() {
        let shared = table_with("ldg1");
        let old = {
            let mut t = shared.lock().unwrap();
            ClaimGuard::claim(&shared, &mut t, "ldg1", ClaimKind::Start).unwrap()
        };
        // The domain is removed and defined again while the old guard lives.
        {
            let mut t = shared.lock().unwrap();
            let rec = t.remove("ldg1").unwrap().rec;
            t.insert("ldg1".into(), Domain::new(rec));
        }
        let newer = {
            let mut t = shared.lock().unwrap();
            ClaimGuard::claim(&shared, &mut t, "ldg1", ClaimKind::Stop).unwrap()
        };
        drop(old);
        let t = shared.lock().unwrap();
        assert!(newer.holds(&t["ldg1"]));
    }

    #[test]
    fn unknown_domains_cannot_be_claimed() {
        let shared = table_with("ldg1");
        let mut t = shared.lock().unwrap();
        assert!(ClaimGuard::claim(&shared, &mut t, "nope", ClaimKind::Start).is_err());
    }
}

//! Migrations still in their checks (phase 1), before they claim their
//! domain: `cancel-operation` reaches them here. A real migration
//! registers its cancel signal for the domain's name when it starts; the
//! same signal moves into its claim, so a cancel is honoured from the first
//! moment to the point of no return.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::watch;

type Entries = BTreeMap<String, Vec<(u64, watch::Sender<bool>)>>;

/// The migrations of this host that are checking, by domain name.
#[derive(Default)]
pub struct Checking {
    entries: Mutex<Entries>,
    next: AtomicU64,
}

/// Removes its migration from [`Checking`] when dropped.
pub struct CheckingGuard<'a> {
    reg: &'a Checking,
    name: String,
    id: u64,
}

impl Checking {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a migration of `name` with its cancel signal.
    pub fn register(&self, name: &str, cancel: watch::Sender<bool>) -> CheckingGuard<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.entries()
            .entry(name.to_string())
            .or_default()
            .push((id, cancel));
        CheckingGuard {
            reg: self,
            name: name.to_string(),
            id,
        }
    }

    /// Asks every migration of `name` that is registered to cancel;
    /// whether there was one.
    pub fn cancel(&self, name: &str) -> bool {
        let e = self.entries();
        let Some(list) = e.get(name) else {
            return false;
        };
        for (_, tx) in list {
            let _ = tx.send(true);
        }
        !list.is_empty()
    }

    /// Whether a migration of `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries().get(name).is_some_and(|l| !l.is_empty())
    }
}

impl Drop for CheckingGuard<'_> {
    fn drop(&mut self) {
        let mut e = self.reg.entries();
        if let Some(list) = e.get_mut(&self.name) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                e.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_migration_is_cancelled_and_forgotten_when_done() {
        let reg = Checking::default();
        let (tx, rx) = watch::channel(false);
        let g = reg.register("ldg1", tx);
        assert!(reg.contains("ldg1"));
        assert!(!reg.cancel("ldg2"));
        assert!(reg.cancel("ldg1"));
        assert!(*rx.borrow());
        drop(g);
        assert!(!reg.contains("ldg1"));
        assert!(!reg.cancel("ldg1"));
    }

    #[test]
    fn two_migrations_of_one_name_are_both_cancelled() {
        let reg = Checking::default();
        let (a, ra) = watch::channel(false);
        let (b, rb) = watch::channel(false);
        let ga = reg.register("ldg1", a);
        let _gb = reg.register("ldg1", b);
        drop(ga);
        assert!(reg.cancel("ldg1"));
        assert!(!*ra.borrow() && *rb.borrow());
    }
}

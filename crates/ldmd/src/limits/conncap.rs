//! A cap on concurrent connections, per key (a source address, a uid) and
//! in total. A connection holds a [`Permit`] until it ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapRefusal {
    /// All connections are taken.
    Total(usize),
    /// This key holds all it may.
    PerKey(usize),
}

impl std::fmt::Display for CapRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapRefusal::Total(n) => write!(f, "all {n} connections are in use"),
            CapRefusal::PerKey(n) => write!(f, "this client already holds {n} connections"),
        }
    }
}

#[derive(Debug)]
struct Counts<K> {
    total: usize,
    by_key: HashMap<K, usize>,
}

/// Counts open connections. Cheap to clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct ConnCap<K: Hash + Eq + Clone> {
    counts: Arc<Mutex<Counts<K>>>,
    per_key: usize,
    total: usize,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit<K: Hash + Eq + Clone> {
    counts: Arc<Mutex<Counts<K>>>,
    key: K,
}

impl<K: Hash + Eq + Clone> ConnCap<K> {
    /// At most `per_key` connections per key and `total` in all.
    pub fn new(per_key: usize, total: usize) -> Self {
        ConnCap {
            counts: Arc::new(Mutex::new(Counts {
                total: 0,
                by_key: HashMap::new(),
            })),
            per_key,
            total,
        }
    }

    /// Admits a connection for `key`, or says why not.
    pub fn try_acquire(&self, key: K) -> Result<Permit<K>, CapRefusal> {
        let mut c = lock(&self.counts);
        if c.total >= self.total {
            return Err(CapRefusal::Total(self.total));
        }
        let n = c.by_key.entry(key.clone()).or_insert(0);
        if *n >= self.per_key {
            return Err(CapRefusal::PerKey(self.per_key));
        }
        *n += 1;
        c.total += 1;
        Ok(Permit {
            counts: self.counts.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        lock(&self.counts).total
    }
}

impl<K: Hash + Eq + Clone> Drop for Permit<K> {
    fn drop(&mut self) {
        let mut c = lock(&self.counts);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_key.remove(&self.key);
            }
        }
    }
}

fn lock<K>(m: &Mutex<Counts<K>>) -> std::sync::MutexGuard<'_, Counts<K>> {
    // Counts stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_key_and_in_total_and_frees_on_drop() {
        let cap = ConnCap::new(2, 3);
        let a1 = cap.try_acquire("a").unwrap();
        let _a2 = cap.try_acquire("a").unwrap();
        assert_eq!(cap.try_acquire("a").unwrap_err(), CapRefusal::PerKey(2));
        let _b1 = cap.try_acquire("b").unwrap();
        assert_eq!(cap.try_acquire("c").unwrap_err(), CapRefusal::Total(3));
        drop(a1);
        assert_eq!(cap.open(), 2);
        let _c1 = cap.try_acquire("c").unwrap();
        assert_eq!(cap.open(), 3);
    }

    #[test]
    fn keys_are_forgotten_when_their_last_connection_ends() {
        let cap = ConnCap::new(1, 10);
        for i in 0..100 {
            drop(cap.try_acquire(i).unwrap());
        }
        assert!(lock(&cap.counts).by_key.is_empty());
    }
}

//! Slowing down repeated authentication failures per (peer address, user).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The delay after the second failure; it doubles with each further one.
const BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(8);
/// How long a key's failures are remembered after the last one.
const EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Above this many keys, expired entries are pruned (and, if that is not
/// enough, the stalest ones dropped) so that memory stays bounded.
const MAX_ENTRIES: usize = 16 * 1024;

/// Who is attempting to authenticate: the peer's IP address and the user
/// name it claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey {
    /// The peer's IP address.
    pub ip: IpAddr,
    /// The user name the peer tries to authenticate as.
    pub user: String,
}

impl ThrottleKey {
    /// A key for `user` from `ip`.
    pub fn new(ip: IpAddr, user: impl Into<String>) -> Self {
        ThrottleKey {
            ip,
            user: user.into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
}

/// Remembers authentication failures and tells how long the next attempt
/// for the same key must wait: nothing after one failure, then
/// `min(2^(failures-1) × 250 ms, 8 s)` (500 ms, 1 s, 2 s, 4 s, 8 s, 8 s…).
/// A success resets the key; failures are forgotten 15 minutes after the
/// last one.
///
/// Safe to share between tasks (`&self` everywhere). Every method has an
/// `_at` variant taking the current time, for tests.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    entries: Mutex<HashMap<ThrottleKey, Entry>>,
}

impl AuthThrottle {
    /// An empty throttle.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the next attempt for `key` must wait, now.
    pub fn delay_for(&self, key: &ThrottleKey) -> Duration {
        self.delay_for_at(key, Instant::now())
    }

    /// How long the next attempt for `key` must wait, at `now`.
    pub fn delay_for_at(&self, key: &ThrottleKey, now: Instant) -> Duration {
        let entries = self.lock();
        match entries.get(key) {
            Some(e) if !expired(e, now) => delay_after(e.failures),
            _ => Duration::ZERO,
        }
    }

    /// Waits as long as [`AuthThrottle::delay_for`] says.
    pub async fn wait(&self, key: &ThrottleKey) {
        let delay = self.delay_for(key);
        if !delay.is_zero() {
            tracing::debug!(ip = %key.ip, user = %key.user, ?delay, "slowing down authentication attempt after failures");
            tokio::time::sleep(delay).await;
        }
    }

    /// Records a failed attempt for `key`, now.
    pub fn record_failure(&self, key: &ThrottleKey) {
        self.record_failure_at(key, Instant::now());
    }

    /// Records a failed attempt for `key` at `now`; returns the number of
    /// failures now remembered for it.
    pub fn record_failure_at(&self, key: &ThrottleKey, now: Instant) -> u32 {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            prune(&mut entries, now);
        }
        let entry = entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
        });
        if expired(entry, now) {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        let failures = entry.failures;
        if failures >= 2 {
            tracing::info!(ip = %key.ip, user = %key.user, failures, "repeated authentication failures");
        }
        failures
    }

    /// Records a successful attempt for `key`, forgetting its failures.
    pub fn record_success(&self, key: &ThrottleKey) {
        self.lock().remove(key);
    }

    /// The number of keys remembered (expired ones included until pruned).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, Entry>> {
        // The map stays consistent even if a holder panicked.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn expired(e: &Entry, now: Instant) -> bool {
    now.saturating_duration_since(e.last_failure) >= EXPIRY
}

/// The delay owed after `failures` consecutive failures.
fn delay_after(failures: u32) -> Duration {
    if failures < 2 {
        return Duration::ZERO;
    }
    // 2^(failures-1) grows past MAX_DELAY / BASE_DELAY = 32 at failures = 6.
    let exponent = (failures - 1).min(6);
    (BASE_DELAY * (1u32 << exponent)).min(MAX_DELAY)
}

/// Drops expired entries, then the stalest ones until below the limit.
fn prune(entries: &mut HashMap<ThrottleKey, Entry>, now: Instant) {
    entries.retain(|_, e| !expired(e, now));
    if entries.len() >= MAX_ENTRIES {
        let mut by_age: Vec<(Instant, ThrottleKey)> = entries
            .iter()
            .map(|(k, e)| (e.last_failure, k.clone()))
            .collect();
        by_age.sort_by_key(|(t, _)| *t);
        let excess = entries.len() + 1 - MAX_ENTRIES / 2;
        for (_, k) in by_age.into_iter().take(excess) {
            entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str) -> ThrottleKey {
        ThrottleKey::new("192.0.2.1".parse().unwrap(), user)
    }

    #[test]
    fn delay_grows_then_caps() {
        let t = AuthThrottle::new();
        let k = key("admin");
        let now = Instant::now();
        assert_eq!(t.delay_for_at(&k, now), Duration::ZERO);
        let expected_ms = [0, 500, 1000, 2000, 4000, 8000, 8000, 8000];
        for (i, ms) in expected_ms.iter().enumerate() {
            assert_eq!(t.record_failure_at(&k, now), i as u32 + 1);
            assert_eq!(
                t.delay_for_at(&k, now),
                Duration::from_millis(*ms),
                "after {} failures",
                i + 1
            );
        }
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn success_resets() {
        let t = AuthThrottle::new();
        let k = key("admin");
        let now = Instant::now();
        for _ in 0..4 {
            t.record_failure_at(&k, now);
        }
        assert!(t.delay_for_at(&k, now) > Duration::ZERO);
        t.record_success(&k);
        assert_eq!(t.delay_for_at(&k, now), Duration::ZERO);
        assert_eq!(t.record_failure_at(&k, now), 1);
    }

    #[test]
    fn keys_are_independent() {
        let t = AuthThrottle::new();
        let now = Instant::now();
        for _ in 0..3 {
            t.record_failure_at(&key("admin"), now);
        }
        assert_eq!(t.delay_for_at(&key("other"), now), Duration::ZERO);
        let other_ip = ThrottleKey::new("192.0.2.2".parse().unwrap(), "admin");
        assert_eq!(t.delay_for_at(&other_ip, now), Duration::ZERO);
        assert_eq!(t.delay_for_at(&key("admin"), now), Duration::from_secs(1));
    }

    #[test]
    fn failures_expire_after_fifteen_minutes() {
        let t = AuthThrottle::new();
        let k = key("admin");
        let start = Instant::now();
        for _ in 0..5 {
            t.record_failure_at(&k, start);
        }
        let almost = start + EXPIRY - Duration::from_secs(1);
        assert_eq!(t.delay_for_at(&k, almost), Duration::from_secs(4));
        let later = start + EXPIRY;
        assert_eq!(t.delay_for_at(&k, later), Duration::ZERO);
        // A failure after expiry starts counting afresh.
        assert_eq!(t.record_failure_at(&k, later), 1);
    }

    #[test]
    fn memory_stays_bounded() {
        let t = AuthThrottle::new();
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES + 10) {
            t.record_failure_at(&key(&format!("u{i}")), now);
        }
        assert!(t.len() <= MAX_ENTRIES, "{}", t.len());
        // The newest key survived.
        let newest = key(&format!("u{}", MAX_ENTRIES + 9));
        t.record_failure_at(&newest, now);
        assert_eq!(t.delay_for_at(&newest, now), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn wait_sleeps_for_the_delay() {
        let t = AuthThrottle::new();
        let k = key("admin");
        let before = Instant::now();
        t.wait(&k).await;
        assert!(before.elapsed() < Duration::from_millis(250));
        t.record_failure(&k);
        t.record_failure(&k);
        let before = Instant::now();
        t.wait(&k).await;
        assert!(before.elapsed() >= Duration::from_millis(500));
    }
}

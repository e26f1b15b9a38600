//! Slowing down password guessing, per user name and per source address.
//!
//! Every attempt is recorded *before* its password is checked, and gets a
//! time slot: the first attempts of a key go at once, each further one
//! waits `min(2^(n-2) × 500 ms, 8 s)` after the slot of the one before.
//! Attempts made in parallel therefore queue behind each other and guess no
//! faster than attempts made one after the other; an attempt whose slot
//! would be more than [`MAX_QUEUE`] away is refused outright, so waiting
//! connections stay few. A success clears its keys; a key is forgotten
//! 15 minutes after its last attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The delay before the third attempt; it doubles with each further one.
const BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest delay between two attempts of one key.
pub const MAX_DELAY: Duration = Duration::from_secs(8);
/// How long a key's attempts are remembered after the last one.
const EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Above this many keys, expired entries are pruned (and, if that is not
/// enough, the stalest ones dropped) so that memory stays bounded.
const MAX_ENTRIES: usize = 16 * 1024;
/// The longest an attempt may wait for its slot; later ones are refused.
pub const MAX_QUEUE: Duration = Duration::from_secs(30);

/// What an attempt is counted against: the user name it claims, whatever
/// the address, and the address it comes from, whatever the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A user name.
    User(String),
    /// A source address.
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Attempts since the last success (the current one included).
    attempts: u32,
    /// When the next attempt may go.
    next_slot: Instant,
    /// When the last attempt was recorded.
    last: Instant,
}

/// An attempt refused because too many are queued for its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyAttempts {
    /// When a new attempt would be admitted.
    pub retry_after: Duration,
}

/// The password-guessing throttle. Safe to share between tasks (`&self`
/// everywhere); methods ending in `_at` take the current time, for tests.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    entries: Mutex<HashMap<ThrottleKey, Entry>>,
}

impl AuthThrottle {
    /// An empty throttle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an attempt for `user` from `ip`, now; returns how long it
    /// must wait before checking the password.
    pub fn admit(&self, ip: IpAddr, user: &str) -> Result<Duration, TooManyAttempts> {
        self.admit_at(ip, user, Instant::now())
    }

    /// Like [`AuthThrottle::admit`], at `now`.
    pub fn admit_at(
        &self,
        ip: IpAddr,
        user: &str,
        now: Instant,
    ) -> Result<Duration, TooManyAttempts> {
        let keys = [ThrottleKey::User(user.to_string()), ThrottleKey::Addr(ip)];
        let mut entries = self.lock();
        let slot = keys
            .iter()
            .filter_map(|k| entries.get(k))
            .filter(|e| !expired(e, now))
            .map(|e| e.next_slot)
            .fold(now, Instant::max);
        let wait = slot - now;
        if wait > MAX_QUEUE {
            return Err(TooManyAttempts {
                retry_after: wait - MAX_QUEUE,
            });
        }
        for k in keys {
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&k) {
                prune(&mut entries, now);
            }
            let e = entries.entry(k).or_insert(Entry {
                attempts: 0,
                next_slot: now,
                last: now,
            });
            if expired(e, now) {
                e.attempts = 0;
            }
            e.attempts = e.attempts.saturating_add(1);
            e.next_slot = slot + delay_after(e.attempts);
            e.last = now;
        }
        Ok(wait)
    }

    /// Records an attempt and sleeps until its slot.
    pub async fn wait_turn(&self, ip: IpAddr, user: &str) -> Result<(), TooManyAttempts> {
        let wait = self.admit(ip, user)?;
        if !wait.is_zero() {
            tracing::debug!(%ip, user, ?wait, "authentication attempt queued behind earlier ones");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Records a success of `user` from `ip`: both keys start afresh.
    pub fn succeeded(&self, ip: IpAddr, user: &str) {
        let mut entries = self.lock();
        entries.remove(&ThrottleKey::User(user.to_string()));
        entries.remove(&ThrottleKey::Addr(ip));
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
    now >= e.next_slot && now.saturating_duration_since(e.last) >= EXPIRY
}

/// The gap after the slot of attempt number `attempts`: none after the
/// first, then 500 ms, 1 s, 2 s, 4 s, 8 s, 8 s…
fn delay_after(attempts: u32) -> Duration {
    if attempts < 2 {
        return Duration::ZERO;
    }
    // 2^(n-1) grows past MAX_DELAY / BASE_DELAY = 32 at n = 6.
    let exponent = (attempts - 1).min(6);
    (BASE_DELAY * (1u32 << exponent)).min(MAX_DELAY)
}

/// Drops expired entries, then the stalest ones until below the limit.
fn prune(entries: &mut HashMap<ThrottleKey, Entry>, now: Instant) {
    entries.retain(|_, e| !expired(e, now));
    if entries.len() >= MAX_ENTRIES {
        let mut by_age: Vec<(Instant, ThrottleKey)> =
            entries.iter().map(|(k, e)| (e.last, k.clone())).collect();
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

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    /// The waits of `n` attempts made at the same instant.
    fn burst(t: &AuthThrottle, n: usize, now: Instant) -> Vec<Result<u64, TooManyAttempts>> {
        (0..n)
            .map(|_| {
                t.admit_at(ip(1), "admin", now)
                    .map(|w| w.as_millis() as u64)
            })
            .collect()
    }

    #[test]
    fn serial_attempts_are_spaced_out() {
        let t = AuthThrottle::new();
        let mut now = Instant::now();
        // Each attempt made the moment it is allowed: the gaps grow, then cap.
        let mut gaps = Vec::new();
        let mut last = now;
        for _ in 0..9 {
            let wait = t.admit_at(ip(1), "admin", now).unwrap();
            now += wait;
            gaps.push((now - last).as_millis() as u64);
            last = now;
        }
        assert_eq!(gaps, [0, 0, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn parallel_attempts_queue_and_the_excess_is_refused() {
        let t = AuthThrottle::new();
        let now = Instant::now();
        let waits = burst(&t, 64, now);
        let admitted: Vec<u64> = waits.iter().filter_map(|w| w.ok()).collect();
        // The same slots a patient serial guesser gets, no more.
        assert_eq!(admitted, [0, 0, 500, 1500, 3500, 7500, 15500, 23500]);
        let refused = waits.iter().filter(|w| w.is_err()).count();
        assert_eq!(refused, 64 - admitted.len());
        // Refused attempts did not push the queue further.
        let later = now + Duration::from_millis(23_500);
        assert_eq!(
            t.admit_at(ip(1), "admin", later),
            Ok(Duration::from_secs(8))
        );
    }

    #[test]
    fn user_and_address_are_each_a_key() {
        let t = AuthThrottle::new();
        let now = Instant::now();
        for _ in 0..4 {
            t.admit_at(ip(1), "admin", now).unwrap();
        }
        // The same user from elsewhere waits too (many addresses, one user).
        assert!(t.admit_at(ip(2), "admin", now).unwrap() > Duration::ZERO);
        // Another user from the same address waits too (one address, many users).
        assert!(t.admit_at(ip(1), "other", now).unwrap() > Duration::ZERO);
        // A fresh user from a fresh address does not.
        assert_eq!(t.admit_at(ip(3), "third", now), Ok(Duration::ZERO));
    }

    #[test]
    fn success_resets_both_keys() {
        let t = AuthThrottle::new();
        let now = Instant::now();
        burst(&t, 5, now);
        t.succeeded(ip(1), "admin");
        assert_eq!(t.admit_at(ip(1), "admin", now), Ok(Duration::ZERO));
    }

    #[test]
    fn attempts_expire_after_fifteen_minutes() {
        let t = AuthThrottle::new();
        let start = Instant::now();
        burst(&t, 5, start);
        let later = start + EXPIRY + Duration::from_secs(60);
        assert_eq!(t.admit_at(ip(1), "admin", later), Ok(Duration::ZERO));
        assert_eq!(t.admit_at(ip(1), "admin", later), Ok(Duration::ZERO));
        assert_eq!(
            t.admit_at(ip(1), "admin", later),
            Ok(Duration::from_millis(500))
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let t = AuthThrottle::new();
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES + 10) {
            let addr = IpAddr::from((i as u32).to_be_bytes());
            t.admit_at(addr, &format!("u{i}"), now).unwrap();
        }
        assert!(t.len() <= MAX_ENTRIES, "{}", t.len());
    }

    #[tokio::test]
    async fn wait_turn_sleeps_until_the_slot() {
        let t = AuthThrottle::new();
        t.wait_turn(ip(1), "admin").await.unwrap();
        t.wait_turn(ip(1), "admin").await.unwrap();
        let before = Instant::now();
        t.wait_turn(ip(1), "admin").await.unwrap();
        assert!(before.elapsed() >= Duration::from_millis(450));
    }
}

//! What keeps password sign-in from being guessed or flooded: failures
//! counted per account (the username as typed) and per client address in
//! bounded moka caches, with [`crate::throttle`]'s back-off; and a bound on
//! how many passwords are hashed at once, so that a flood queues briefly
//! and is then turned away instead of taking every core and argon2's
//! memory. All in memory: each instance counts its own attempts.

use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use moka::sync::Cache;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::SignInConfig;
use crate::error::{AppError, AppResult};
use crate::throttle::{retry_after_seconds, Backoff, Failures};

/// Keys remembered per cache: a flood of made-up usernames or addresses
/// evicts the least used, it never grows memory past this.
const REMEMBERED_KEYS: u64 = 100_000;

/// The longest username kept as a key: no account has a longer one (they
/// are never looked up), so longer ones share this prefix's count.
const KEY_CHARS: usize = 64;

pub struct SignInLimits {
    accounts: Cache<String, Failures>,
    addresses: Cache<String, Failures>,
    per_account: Backoff,
    per_address: Backoff,
    hashing: Semaphore,
    queue_wait: Duration,
}

/// Which keys a failure locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOut {
    pub account: bool,
    pub address: bool,
    pub retry_after: u64,
}

impl SignInLimits {
    pub fn new(settings: &SignInConfig) -> Self {
        // A key is forgotten after this long without an attempt: long
        // enough to outlast the longest wait.
        let forget_after = (settings.per_account.max.max(settings.per_address.max) * 2)
            .max(Duration::from_secs(3600));
        let cache = || {
            Cache::builder()
                .max_capacity(REMEMBERED_KEYS)
                .time_to_idle(forget_after)
                .build()
        };
        SignInLimits {
            accounts: cache(),
            addresses: cache(),
            per_account: settings.per_account,
            per_address: settings.per_address,
            hashing: Semaphore::new(settings.concurrent_hashes),
            queue_wait: settings.queue_wait,
        }
    }

    /// The keys of one attempt: `username` as typed, and the client address.
    pub fn attempt(&self, username: &str, ip: Option<&str>) -> Attempt<'_> {
        Attempt {
            limits: self,
            account: username.chars().take(KEY_CHARS).collect(),
            address: ip.unwrap_or("").to_owned(),
        }
    }

    /// A turn to hash a password, waited for at most the configured queue
    /// wait; past it, 503 with `Retry-After`.
    pub async fn hashing_turn(&self) -> AppResult<SemaphorePermit<'_>> {
        match tokio::time::timeout(self.queue_wait, self.hashing.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or closed (never: the semaphore is not closed).
            _ => Err(AppError::Busy),
        }
    }
}

pub struct Attempt<'a> {
    limits: &'a SignInLimits,
    account: String,
    address: String,
}

impl Attempt<'_> {
    /// 429 when the account or the address must still wait: the same for
    /// an account that exists and one that does not, which are counted
    /// alike.
    pub fn check(&self) -> AppResult<()> {
        let now = Instant::now();
        let wait = |cache: &Cache<String, Failures>, key: &str| {
            cache.get(key).and_then(|failures| failures.wait(now))
        };
        let longest = wait(&self.limits.accounts, &self.account)
            .max(wait(&self.limits.addresses, &self.address));
        match longest {
            Some(wait) => Err(AppError::SignInThrottled {
                retry_after: retry_after_seconds(wait),
            }),
            None => Ok(()),
        }
    }

    /// Counts a failure against the account and the address; the lock-out
    /// it starts, if any (to audit once).
    pub fn failed(&self) -> Option<LockOut> {
        let now = Instant::now();
        let (account, account_starts) = count_failure(
            &self.limits.accounts,
            &self.account,
            &self.limits.per_account,
            now,
        );
        let (address, address_starts) = count_failure(
            &self.limits.addresses,
            &self.address,
            &self.limits.per_address,
            now,
        );
        (account_starts || address_starts).then(|| LockOut {
            account: account_starts,
            address: address_starts,
            retry_after: retry_after_seconds(
                account.wait(now).max(address.wait(now)).unwrap_or_default(),
            ),
        })
    }

    /// A success clears the account's failures. The address keeps its
    /// own: one account an attacker owns must not reset the count of the
    /// guesses they make at others.
    pub fn succeeded(&self) {
        self.limits.accounts.invalidate(&self.account);
    }
}

/// One more failure for `key`, counted atomically (concurrent failures
/// all count).
fn count_failure(
    cache: &Cache<String, Failures>,
    key: &str,
    backoff: &Backoff,
    now: Instant,
) -> (Failures, bool) {
    let mut outcome = (Failures::default(), false);
    cache.entry_by_ref(key).and_compute_with(|entry| {
        let current = entry.map(|e| e.into_value()).unwrap_or_default();
        outcome = current.after_failure(now, backoff);
        Op::Put(outcome.0)
    });
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(queue_wait: Duration) -> SignInLimits {
        SignInLimits::new(&SignInConfig {
            per_account: Backoff {
                free_failures: 2,
                base: Duration::from_secs(60),
                max: Duration::from_secs(900),
            },
            per_address: Backoff {
                free_failures: 3,
                base: Duration::from_secs(60),
                max: Duration::from_secs(900),
            },
            concurrent_hashes: 1,
            queue_wait,
        })
    }

    #[test]
    fn accounts_and_addresses_are_counted_apart() {
        let limits = limits(Duration::from_secs(1));
        let a = limits.attempt("alice", Some("10.0.0.1"));
        assert!(a.failed().is_none());
        let lock = a.failed().expect("the second failure locks alice");
        assert!(lock.account && !lock.address);
        assert_eq!(lock.retry_after, 60);
        assert!(matches!(
            a.check(),
            Err(AppError::SignInThrottled { retry_after: 60 })
        ));
        // Another account from the same address is not locked (yet)...
        let b = limits.attempt("bob", Some("10.0.0.1"));
        assert!(b.check().is_ok());
        // ...until the address has failed three times.
        let lock = b.failed().expect("the address's third failure");
        assert!(lock.address && !lock.account);
        assert!(limits.attempt("carol", Some("10.0.0.1")).check().is_err());
        assert!(limits.attempt("carol", Some("10.0.0.2")).check().is_ok());
        // Alice succeeding elsewhere clears her account, not the address.
        limits.attempt("alice", Some("10.0.0.9")).succeeded();
        assert!(limits.attempt("alice", Some("10.0.0.9")).check().is_ok());
        assert!(limits.attempt("alice", Some("10.0.0.1")).check().is_err());
    }

    #[test]
    fn an_overlong_username_is_counted_by_its_prefix() {
        let limits = limits(Duration::from_secs(1));
        let long = "x".repeat(10_000);
        limits.attempt(&long, Some("10.0.0.1")).failed();
        limits
            .attempt(&format!("{long}y"), Some("10.0.0.2"))
            .failed();
        assert!(limits.attempt(&long, Some("10.0.0.3")).check().is_err());
    }

    #[tokio::test]
    async fn a_turn_to_hash_is_waited_for_briefly() {
        let limits = limits(Duration::from_millis(50));
        let held = limits.hashing_turn().await.unwrap();
        let started = Instant::now();
        assert!(matches!(limits.hashing_turn().await, Err(AppError::Busy)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(limits.hashing_turn().await.is_ok());
    }
}

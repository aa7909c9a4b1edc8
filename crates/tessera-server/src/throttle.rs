//! How long password sign-in must wait after failures: a few free
//! failures, then an exponential back-off to a cap. Pure arithmetic on
//! counts and instants (the caches that hold the counts are in
//! [`crate::service::sign_in_limits`]).

use std::time::{Duration, Instant};

/// The back-off rule for one kind of key (an account, an address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures in a row that cost no wait (at least 1): the attempt after
    /// the last of them waits `base`.
    pub free_failures: u32,
    /// The wait after the last free failure; each further failure doubles it.
    pub base: Duration,
    /// No wait is longer.
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failures in a row: none while they are
    /// free, then `base`, `2·base`, `4·base`, … up to `max`.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        let doublings = failures.checked_sub(self.free_failures)?;
        let factor = 1u32 << doublings.min(31);
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// One key's failures in a row, and until when it must wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

impl Failures {
    pub fn count(&self) -> u32 {
        self.count
    }

    /// How long an attempt at `now` must still wait, if at all.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// The record after one more failure at `now`, and whether that failure
    /// starts a lock-out (the first that must be waited for since the key
    /// was last clear), which is audited once.
    pub fn after_failure(self, now: Instant, backoff: &Backoff) -> (Failures, bool) {
        let count = self.count.saturating_add(1);
        let locked_until = backoff.delay_after(count).map(|delay| now + delay);
        let starts_lock_out = locked_until.is_some() && self.count < backoff.free_failures;
        (
            Failures {
                count,
                locked_until: locked_until.or(self.locked_until),
            },
            starts_lock_out,
        )
    }
}

/// A wait as `Retry-After` says it: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Backoff = Backoff {
        free_failures: 5,
        base: Duration::from_secs(1),
        max: Duration::from_secs(900),
    };

    #[test]
    fn five_failures_are_free_then_the_wait_doubles_to_the_cap() {
        for free in 0..5 {
            assert_eq!(RULE.delay_after(free), None, "{free}");
        }
        let secs = |n| RULE.delay_after(n).map(|d| d.as_secs());
        assert_eq!(secs(5), Some(1));
        assert_eq!(secs(6), Some(2));
        assert_eq!(secs(7), Some(4));
        assert_eq!(secs(14), Some(512));
        assert_eq!(secs(15), Some(900), "capped at 15 minutes");
        assert_eq!(secs(u32::MAX), Some(900), "no overflow");
        let huge = Backoff {
            base: Duration::MAX,
            max: Duration::MAX,
            ..RULE
        };
        assert_eq!(huge.delay_after(40), Some(Duration::MAX));
    }

    #[test]
    fn a_lock_out_starts_once_and_lasts_its_delay() {
        let t0 = Instant::now();
        let mut record = Failures::default();
        let mut starts = Vec::new();
        for _ in 0..4 {
            let (next, started) = record.after_failure(t0, &RULE);
            record = next;
            starts.push(started);
            assert_eq!(record.wait(t0), None);
        }
        let (locked, started) = record.after_failure(t0, &RULE);
        starts.push(started);
        assert_eq!(locked.count(), 5);
        assert_eq!(locked.wait(t0), Some(Duration::from_secs(1)));
        assert_eq!(
            locked.wait(t0 + Duration::from_millis(400)),
            Some(Duration::from_millis(600))
        );
        assert_eq!(locked.wait(t0 + Duration::from_secs(1)), None, "over");
        // The next failure after the wait locks again, twice as long: the
        // same lock-out, not a new one.
        let later = t0 + Duration::from_secs(1);
        let (again, started_again) = locked.after_failure(later, &RULE);
        assert_eq!(again.wait(later), Some(Duration::from_secs(2)));
        assert!(!started_again);
        assert_eq!(starts, [false, false, false, false, true]);
        // Cleared (a success), the free failures are free again.
        assert_eq!(
            Failures::default()
                .after_failure(later, &RULE)
                .0
                .wait(later),
            None
        );
    }

    #[test]
    fn one_free_failure_locks_at_the_first() {
        let strict = Backoff {
            free_failures: 1,
            ..RULE
        };
        let now = Instant::now();
        let (record, started) = Failures::default().after_failure(now, &strict);
        assert!(started);
        assert_eq!(record.wait(now), Some(Duration::from_secs(1)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(900)), 900);
    }
}

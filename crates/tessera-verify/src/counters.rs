//! What the engine did, counted: outcomes by reason, what answered each
//! look-up, store failures and usage flushes. Kept in atomics on the hot
//! path and read as a [`CountersSnapshot`] by whoever exports metrics (the
//! server renders them for Prometheus).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use tessera_core::Denial;

#[derive(Debug, Default)]
pub struct Counters {
    verified: StripedCounter,
    denied: [StripedCounter; Denial::ALL.len()],
    lookups: [StripedCounter; Lookup::ALL.len()],
    store_errors: AtomicU64,
    usage_flushes: AtomicU64,
    usage_flush_failures: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub verified: u64,
    /// Refusals, one entry per [`Denial`], in [`Denial::ALL`]'s order.
    pub denied: Vec<(Denial, u64)>,
    /// Look-ups of well-formed tokens, by what answered them.
    pub lookups: Vec<(Lookup, u64)>,
    /// Verifications that failed closed because the store could not answer.
    pub store_errors: u64,
    pub usage_flushes: u64,
    pub usage_flush_failures: u64,
}

impl Counters {
    pub(crate) fn verified(&self) {
        self.verified.add_one();
    }

    pub(crate) fn denied(&self, denial: Denial) {
        self.denied[denial.index()].add_one();
    }

    pub(crate) fn looked_up(&self, lookup: Lookup) {
        self.lookups[lookup as usize].add_one();
    }

    pub(crate) fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn usage_flushed(&self, ok: bool) {
        let counter = if ok {
            &self.usage_flushes
        } else {
            &self.usage_flush_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            verified: self.verified.sum(),
            denied: Denial::ALL
                .iter()
                .zip(&self.denied)
                .map(|(denial, counter)| (*denial, counter.sum()))
                .collect(),
            lookups: Lookup::ALL
                .iter()
                .map(|lookup| (*lookup, self.lookups[*lookup as usize].sum()))
                .collect(),
            store_errors: get(&self.store_errors),
            usage_flushes: get(&self.usage_flushes),
            usage_flush_failures: get(&self.usage_flush_failures),
        }
    }
}

/// What answered the verifier's look-up of a token's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The cache held the token.
    CachedToken,
    /// The cache knew the hash as unknown (briefly, and never past a create).
    CachedUnknown,
    /// The store was read.
    Store,
}

impl Lookup {
    pub const ALL: [Lookup; 3] = [Lookup::CachedToken, Lookup::CachedUnknown, Lookup::Store];

    /// A short name for a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Lookup::CachedToken => "cache",
            Lookup::CachedUnknown => "cache_unknown",
            Lookup::Store => "store",
        }
    }
}

/// A counter bumped by every worker thread on every verification. One atomic
/// shared by all would move its cache line from core to core on each request
/// (on two cores that cost more than the count is worth); each thread adds to
/// its own stripe, on its own cache line, and a reading sums the stripes.
#[derive(Debug, Default)]
struct StripedCounter {
    stripes: [CachePadded<AtomicU64>; STRIPES],
}

/// Enough for the runtime's worker threads on a small machine; beyond that,
/// threads share stripes, which is still correct, only less spread.
const STRIPES: usize = 8;

thread_local! {
    static STRIPE: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
    };
}

impl StripedCounter {
    fn add_one(&self) {
        let stripe = STRIPE.with(|s| *s);
        self.stripes[stripe].fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_by_reason_and_lookups_by_what_answered() {
        let counters = Counters::default();
        counters.verified();
        counters.denied(Denial::Expired);
        counters.denied(Denial::Expired);
        counters.looked_up(Lookup::Store);
        counters.looked_up(Lookup::CachedToken);
        counters.looked_up(Lookup::CachedToken);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.verified, 1);
        assert!(snapshot.denied.contains(&(Denial::Expired, 2)));
        assert!(snapshot.denied.contains(&(Denial::Revoked, 0)));
        assert_eq!(
            snapshot.lookups,
            vec![
                (Lookup::CachedToken, 2),
                (Lookup::CachedUnknown, 0),
                (Lookup::Store, 1)
            ]
        );
    }

    #[test]
    fn counts_from_every_thread_add_up() {
        let counters = Counters::default();
        std::thread::scope(|scope| {
            for _ in 0..(STRIPES + 3) {
                scope.spawn(|| (0..1000).for_each(|_| counters.verified()));
            }
        });
        assert_eq!(counters.snapshot().verified, (STRIPES as u64 + 3) * 1000);
    }
}

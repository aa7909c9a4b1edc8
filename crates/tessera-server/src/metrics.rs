//! `GET /metrics`: Prometheus text. A handful of counters kept in atomics;
//! enough to alert on refusals, rate limiting and usage-flush trouble, and
//! to see how much of the verification load the cache answers.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use tessera_core::Denial;

#[derive(Debug, Default)]
pub struct Metrics {
    verified: StripedCounter,
    denied: [StripedCounter; Denial::ALL.len()],
    lookups: [StripedCounter; Lookup::ALL.len()],
    store_errors: AtomicU64,
    usage_flushes: AtomicU64,
    usage_flush_failures: AtomicU64,
}

impl Metrics {
    pub fn verified(&self) {
        self.verified.add_one();
    }

    pub fn denied(&self, denial: Denial) {
        self.denied[denial.index()].add_one();
    }

    /// Where the verifier found a well-formed token's record.
    pub fn looked_up(&self, lookup: Lookup) {
        self.lookups[lookup as usize].add_one();
    }

    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn usage_flushed(&self, ok: bool) {
        let counter = if ok {
            &self.usage_flushes
        } else {
            &self.usage_flush_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus exposition text. `pending_usage` is sampled by the caller.
    pub fn render(&self, pending_usage: usize) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP tessera_verifications_total Tokens presented, by outcome."
        );
        let _ = writeln!(out, "# TYPE tessera_verifications_total counter");
        let _ = writeln!(
            out,
            "tessera_verifications_total{{outcome=\"valid\"}} {}",
            self.verified.sum()
        );
        for (denial, counter) in Denial::ALL.iter().zip(&self.denied) {
            let reason = match denial {
                Denial::ReuseDetected => "reuse_detected",
                other => other.code(),
            };
            let _ = writeln!(
                out,
                "tessera_verifications_total{{outcome=\"{reason}\"}} {}",
                counter.sum()
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_verify_lookups_total Well-formed tokens presented, by what answered the look-up: \
             the cache (a token, or a hash recently found unknown) or the store (a miss, an expired entry, or the cache off)."
        );
        let _ = writeln!(out, "# TYPE tessera_verify_lookups_total counter");
        for lookup in Lookup::ALL {
            let _ = writeln!(
                out,
                "tessera_verify_lookups_total{{answered_by=\"{}\"}} {}",
                lookup.label(),
                self.lookups[lookup as usize].sum()
            );
        }
        let _ = writeln!(out, "# HELP tessera_store_errors_total Verifications that failed closed because the store could not answer.");
        let _ = writeln!(out, "# TYPE tessera_store_errors_total counter");
        let _ = writeln!(
            out,
            "tessera_store_errors_total {}",
            get(&self.store_errors)
        );
        let _ = writeln!(
            out,
            "# HELP tessera_usage_flushes_total Batches of last-used data written, by result."
        );
        let _ = writeln!(out, "# TYPE tessera_usage_flushes_total counter");
        let _ = writeln!(
            out,
            "tessera_usage_flushes_total{{result=\"ok\"}} {}",
            get(&self.usage_flushes)
        );
        let _ = writeln!(
            out,
            "tessera_usage_flushes_total{{result=\"failed\"}} {}",
            get(&self.usage_flush_failures)
        );
        let _ = writeln!(
            out,
            "# HELP tessera_usage_pending_tokens Tokens with usage not yet written."
        );
        let _ = writeln!(out, "# TYPE tessera_usage_pending_tokens gauge");
        let _ = writeln!(out, "tessera_usage_pending_tokens {pending_usage}");
        out
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

    fn label(self) -> &'static str {
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
    fn renders_counters_by_outcome() {
        let m = Metrics::default();
        m.verified();
        m.denied(Denial::Expired);
        m.denied(Denial::Expired);
        let text = m.render(3);
        assert!(text.contains("tessera_verifications_total{outcome=\"valid\"} 1"));
        assert!(text.contains("tessera_verifications_total{outcome=\"token_expired\"} 2"));
        assert!(text.contains("tessera_usage_pending_tokens 3"));
    }

    #[test]
    fn renders_lookups_by_what_answered() {
        let m = Metrics::default();
        m.looked_up(Lookup::Store);
        m.looked_up(Lookup::CachedToken);
        m.looked_up(Lookup::CachedToken);
        let text = m.render(0);
        assert!(text.contains("tessera_verify_lookups_total{answered_by=\"cache\"} 2"));
        assert!(text.contains("tessera_verify_lookups_total{answered_by=\"cache_unknown\"} 0"));
        assert!(text.contains("tessera_verify_lookups_total{answered_by=\"store\"} 1"));
    }

    #[test]
    fn counts_from_every_thread_add_up() {
        let m = Metrics::default();
        std::thread::scope(|scope| {
            for _ in 0..(STRIPES + 3) {
                scope.spawn(|| (0..1000).for_each(|_| m.verified()));
            }
        });
        assert_eq!(m.verified.sum(), (STRIPES as u64 + 3) * 1000);
    }
}

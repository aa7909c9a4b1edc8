//! `GET /metrics`: Prometheus text. A handful of counters kept in atomics;
//! enough to alert on refusals, rate limiting and usage-flush trouble.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_core::Denial;

#[derive(Debug, Default)]
pub struct Metrics {
    verified: AtomicU64,
    denied: [AtomicU64; Denial::ALL.len()],
    store_errors: AtomicU64,
    usage_flushes: AtomicU64,
    usage_flush_failures: AtomicU64,
}

impl Metrics {
    pub fn verified(&self) {
        self.verified.fetch_add(1, Ordering::Relaxed);
    }

    pub fn denied(&self, denial: Denial) {
        self.denied[denial.index()].fetch_add(1, Ordering::Relaxed);
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
            get(&self.verified)
        );
        for (denial, counter) in Denial::ALL.iter().zip(&self.denied) {
            let reason = match denial {
                Denial::ReuseDetected => "reuse_detected",
                other => other.code(),
            };
            let _ = writeln!(
                out,
                "tessera_verifications_total{{outcome=\"{reason}\"}} {}",
                get(counter)
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
}

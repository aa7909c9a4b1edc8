//! `GET /metrics`: the Prometheus text exposition, made by
//! `prometheus-client`. Two kinds of figures:
//!
//! - the engine's own counters (outcomes by reason, what answered each
//!   look-up, store failures, usage flushes), read from the verifier at
//!   each scrape by [`EngineCollector`]: the engine counts in striped
//!   atomics on its hot path and knows nothing of Prometheus;
//! - the latency of each verification surface, as a histogram the HTTP
//!   layer observes around every call.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use tessera_core::Denial;

use tessera_store::VerifierCredential;

use crate::verification::Verifier;

/// The verification surfaces whose latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Verify,
    Introspect,
    ForwardAuth,
}

impl Surface {
    const ALL: [Surface; 3] = [Surface::Verify, Surface::Introspect, Surface::ForwardAuth];

    fn label(self) -> &'static str {
        match self {
            Surface::Verify => "verify",
            Surface::Introspect => "introspect",
            Surface::ForwardAuth => "forward_auth",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    /// One histogram per surface, taken from the family once so that an
    /// observation is a lock on that histogram alone, not a family look-up.
    latency: [Histogram; Surface::ALL.len()],
    asked: Family<AskedLabels, Counter>,
}

/// How a verification request ended, as the per-verifier count says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// The token was valid.
    Valid,
    /// The token was not (or the store could not answer).
    Invalid,
    /// The caller's verifier credential was missing or refused.
    Refused,
}

/// One verification asked by one verifier: `verifier` is its id (empty
/// for a request that presented none, or one that was refused).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AskedLabels {
    verifier: String,
    surface: &'static str,
    outcome: &'static str,
}

impl Metrics {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        let mut registry = Registry::default();
        // 50 µs to about 1.6 s, doubling: a cached verification sits in the
        // first buckets, a cold PostgreSQL read in the middle ones.
        let latency_family =
            Family::<[(&'static str, &'static str); 1], Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
            });
        let latency = Surface::ALL.map(|surface| {
            latency_family
                .get_or_create(&[("surface", surface.label())])
                .clone()
        });
        registry.register(
            "tessera_verification_duration_seconds",
            "Time to answer a verification surface (verify, introspect, forward_auth), from the request read to the answer made.",
            latency_family,
        );
        let asked = Family::<AskedLabels, Counter>::default();
        registry.register(
            "tessera_verifier_requests",
            "Verification requests by verifier credential (its id; empty when none was presented), \
             surface and outcome: valid, invalid (the token), refused (the verifier credential).",
            asked.clone(),
        );
        registry.register_collector(Box::new(EngineCollector { verifier }));
        Metrics {
            registry,
            latency,
            asked,
        }
    }

    /// Counts one verification asked on `surface` by `verifier`.
    pub fn asked(&self, verifier: Option<&VerifierCredential>, surface: Surface, outcome: Asked) {
        let outcome = match outcome {
            Asked::Valid => "valid",
            Asked::Invalid => "invalid",
            Asked::Refused => "refused",
        };
        self.asked
            .get_or_create(&AskedLabels {
                verifier: verifier.map(|v| v.id.clone()).unwrap_or_default(),
                surface: surface.label(),
                outcome,
            })
            .inc();
    }

    /// Runs one request's answer on `surface`, noting how long it took
    /// whatever the outcome.
    pub async fn timed<T>(&self, surface: Surface, answer: impl Future<Output = T>) -> T {
        let began = Instant::now();
        let answered = answer.await;
        self.latency[surface as usize].observe(began.elapsed().as_secs_f64());
        answered
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Reads the verification engine's counters at each scrape.
struct EngineCollector {
    verifier: Arc<Verifier>,
}

impl std::fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineCollector")
    }
}

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = self.verifier.counters().snapshot();

        let mut outcomes = encoder.encode_descriptor(
            "tessera_verifications",
            "Tokens presented, by outcome.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        let denied = counts.denied.iter().map(|(denial, n)| {
            let reason = match denial {
                Denial::ReuseDetected => "reuse_detected",
                other => other.code(),
            };
            (reason, *n)
        });
        for (outcome, n) in std::iter::once(("valid", counts.verified)).chain(denied) {
            ConstCounter::new(n).encode(outcomes.encode_family(&[("outcome", outcome)])?)?;
        }

        let mut lookups = encoder.encode_descriptor(
            "tessera_verify_lookups",
            "Well-formed tokens presented, by what answered the look-up: the cache (a token, or a hash \
             recently found unknown) or the store (a miss, an expired entry, or the cache off).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (lookup, n) in &counts.lookups {
            ConstCounter::new(*n)
                .encode(lookups.encode_family(&[("answered_by", lookup.label())])?)?;
        }

        let store_errors = ConstCounter::new(counts.store_errors);
        store_errors.encode(encoder.encode_descriptor(
            "tessera_store_errors",
            "Verifications that failed closed because the store could not answer.",
            None,
            store_errors.metric_type(),
        )?)?;

        let mut flushes = encoder.encode_descriptor(
            "tessera_usage_flushes",
            "Batches of last-used data written, by result.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, n) in [
            ("ok", counts.usage_flushes),
            ("failed", counts.usage_flush_failures),
        ] {
            ConstCounter::new(n).encode(flushes.encode_family(&[("result", result)])?)?;
        }

        let pending = ConstGauge::new(self.verifier.pending_usage() as i64);
        pending.encode(encoder.encode_descriptor(
            "tessera_usage_pending_tokens",
            "Tokens with usage not yet written.",
            None,
            pending.metric_type(),
        )?)?;

        let cached =
            ConstGauge::new(i64::try_from(self.verifier.cached_tokens()).unwrap_or(i64::MAX));
        cached.encode(encoder.encode_descriptor(
            "tessera_verify_cached_tokens",
            "Token records the verifier holds in its cache.",
            None,
            cached.metric_type(),
        )?)?;
        Ok(())
    }
}

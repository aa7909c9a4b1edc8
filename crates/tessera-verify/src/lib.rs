//! Tessera's verification engine: the one path every presented token takes.
//!
//! It has no HTTP in it. The Tessera server wraps it in its three
//! verification surfaces and its management API; a Rust product can embed
//! it in its own process, against the same database, and get the same
//! answers with no network hop (see `examples/embedded-verifier`).
//!
//! - [`Verifier`]: parse and checksum (no I/O), hash, look up through a
//!   bounded cache, apply the policy, rate-limit, note the use.
//! - [`Invalidation`]: what a change made stale. The verifier forgets it at
//!   once locally and hears other processes' changes through the store
//!   (LISTEN/NOTIFY on PostgreSQL, a changes table on SQLite).
//! - [`UsageBuffer`]: "last used" without a database write per request.
//! - [`Counters`]: what the engine did, for the caller's metrics.

mod cache;
mod client;
mod counters;
mod invalidation;
mod settings;
mod usage;
mod verifier;

pub use cache::{CacheSettings, KeptGrant};
pub use client::Client;
pub use counters::{Counters, CountersSnapshot, Lookup};
pub use invalidation::Invalidation;
pub use settings::{RateLimit, VerifierSettings};
pub use usage::UsageBuffer;
pub use verifier::{Background, CallerRefused, Verified, Verifier, VerifyFailure, VerifyRequest};

pub use tessera_core::policy::{Denial, Grants, Identity};
pub use tessera_core::verifier_credential::Audience;

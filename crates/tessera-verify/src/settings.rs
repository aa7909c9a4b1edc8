//! What a verifier is configured with. The server builds this from its
//! configuration file; an embedding product builds it from the same file
//! (so both agree on kinds, roles and hashing keys) or by hand.

use std::time::Duration;

use tessera_core::kind::KindSet;
use tessera_core::{RoleMap, TokenHasher};

use crate::cache::CacheSettings;

#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// The credential kinds tokens are parsed as.
    pub kinds: KindSet,
    /// What each role grants.
    pub roles: RoleMap,
    /// How secrets are hashed (SHA-256, or HMAC with the configured keys).
    pub hasher: TokenHasher,
    pub cache: CacheSettings,
    /// Requests per token per window; `None` turns rate limiting off.
    pub rate_limit: Option<RateLimit>,
    /// Whether uses are buffered for "last used". An embedded verifier on a
    /// read-only connection turns this off; the server keeps it on.
    pub record_usage: bool,
}

/// A per-token rate limit: `requests` every `per`, as a smooth rate with a
/// burst of `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

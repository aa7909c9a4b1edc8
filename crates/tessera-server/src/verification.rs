//! The server's use of the verification engine (`tessera-verify`): the
//! answers it keeps encoded with each token's kept grant, and the engine's
//! settings drawn from the configuration.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::HeaderValue;

use crate::config::Config;

/// What the HTTP layer encodes once per kept grant and answers from while
/// the token is asked the same question: a token is usually verified again
/// and again with the same outcome.
#[derive(Debug, Default)]
pub struct EncodedAnswers {
    /// The verify API's `{"valid": true, …}` body.
    pub verify_body: OnceLock<Bytes>,
    /// Forward-auth's identity header values, in the order it sends them;
    /// `None` if one cannot be a header value.
    pub identity_headers: OnceLock<Option<[HeaderValue; 5]>>,
    /// Forward-auth's `Tessera-Token-Expires` value; `None` for a token
    /// that never expires.
    pub expires_header: OnceLock<Option<HeaderValue>>,
}

pub type Verifier = tessera_verify::Verifier<EncodedAnswers>;
pub type Verified = tessera_verify::Verified<EncodedAnswers>;
pub use tessera_verify::{Audience, CallerRefused, Invalidation, VerifyFailure, VerifyRequest};

/// The engine's settings, from the server's configuration.
pub fn settings(config: &Config) -> tessera_verify::VerifierSettings {
    tessera_verify::VerifierSettings {
        kinds: config.kinds.clone(),
        roles: config.roles.clone(),
        hasher: config.hasher.clone(),
        cache: config.cache,
        rate_limit: config.limits.rate_limit,
        record_usage: true,
    }
}

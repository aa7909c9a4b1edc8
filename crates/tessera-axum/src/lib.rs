//! Protects a product service's axum routes with Tessera.
//!
//! A product should not re-implement token checks: Tessera alone knows
//! whether a token is revoked, whose it is, and what its owner may do *now*
//! (roles are evaluated on every request). [`TesseraLayer`] asks Tessera's
//! `POST /api/v1/verify` for every request it covers, and either hands the
//! answer to the handler as a [`VerifiedIdentity`] or answers the request
//! itself with Tessera's error body (`{"error": {"code", "message"}}`):
//!
//! | Tessera says | the product answers |
//! |---|---|
//! | valid | the handler runs, with [`VerifiedIdentity`] in the request extensions |
//! | no credential presented (Tessera is not asked) | 401 `unauthenticated`, `WWW-Authenticate: Bearer` |
//! | `token_invalid` (or, when Tessera reveals reasons, `token_revoked`, …) | 401, `WWW-Authenticate: Bearer error="invalid_token"` |
//! | `workspace_required`, `not_a_member`, `permission_denied` | 403 |
//! | `rate_limited` | 429 with `Retry-After` |
//! | unreachable, 5xx, timeout, or an answer it cannot read | 503 `unavailable`: it fails closed, the handler never runs |
//!
//! ```no_run
//! use axum::handler::Handler;
//! use axum::routing::get;
//! use axum::Router;
//! use tessera_axum::{TesseraConfig, TesseraLayer, VerifiedIdentity};
//!
//! async fn list_tasks(who: VerifiedIdentity) -> String {
//!     format!("tasks of workspace {:?}", who.workspace_id)
//! }
//!
//! async fn create_task(who: VerifiedIdentity) -> String {
//!     format!("created by {:?}", who.user_id)
//! }
//!
//! // The product's verifier credential, from `tessera admin verifier add product`.
//! let secret = std::env::var("TESSERA_VERIFIER").unwrap_or_default();
//! let tessera = TesseraLayer::new(TesseraConfig::new("http://127.0.0.1:7400").verifier(secret));
//! let app: Router = Router::new().route(
//!     "/tasks",
//!     get(list_tasks.layer(tessera.require(["api:read"])))
//!         .post(create_task.layer(tessera.require(["api:write"]))),
//! );
//! ```
//!
//! # Caching, and what it costs
//!
//! Positive answers are kept for a short time (5 s by default, see
//! [`TesseraConfig::cache_ttl`]) so that a burst of requests with one token
//! costs one round trip. The price: **a revocation, suspension or role
//! change reaches the product only when the cached answer expires**, up to
//! that TTL later. Refusals and errors are never cached, so a newly granted
//! permission or a recovered Tessera is seen on the very next request.
//!
//! The token never appears in a log line, an error or a cache key (the
//! cache is keyed by a SHA-256 digest).

mod config;
mod identity;
mod layer;
mod rejection;
mod verifier;

pub use config::{ConfigError, TesseraConfig};
pub use identity::VerifiedIdentity;
pub use layer::{TesseraLayer, TesseraService};
pub use rejection::TesseraRejection;

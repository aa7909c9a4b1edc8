use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::rejection::TesseraRejection;

/// Who Tessera says is calling, as `POST /api/v1/verify` answered for this
/// request: the handler's only source of truth about the caller.
///
/// As an extractor it reads what [`crate::TesseraLayer`] put in the request
/// extensions; it never asks Tessera itself. **On a route the layer does not
/// cover it rejects with 401 `unauthenticated`** (and logs an error naming
/// the mistake) rather than 500: a route that forgot the layer then refuses
/// everyone, which is noticed, instead of failing open or looking like an
/// outage. Use `Option<VerifiedIdentity>` where a handler also serves
/// requests the layer does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedIdentity {
    /// The token's id (`tok_…`): what to log or audit instead of the token.
    pub token_id: String,
    /// The token's kind: a personal access token or a workspace API key.
    pub kind: String,
    /// The owning user of a personal token; `None` for an API key.
    pub user_id: Option<String>,
    /// The workspace the request acts in (from the token's binding or the
    /// workspace header); `None` for a personal token sent without one.
    pub workspace_id: Option<String>,
    /// What the token may do in that workspace now: its owner's current
    /// role, narrowed by the token's own permissions.
    pub permissions: Vec<String>,
    /// RFC 3339; `None` for a token that never expires.
    pub expires_at: Option<String>,
}

impl VerifiedIdentity {
    /// For decisions finer than the route's required permissions (which the
    /// layer has already checked), such as "may edit tasks of others".
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedIdentity {
    type Rejection = TesseraRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<VerifiedIdentity>() {
            Some(identity) => Ok(identity.clone()),
            None => {
                tracing::error!(
                    path = %parts.uri.path(),
                    "VerifiedIdentity was extracted on a route TesseraLayer does not cover; \
                     answering 401. Add the layer to this route."
                );
                Err(TesseraRejection::unauthenticated())
            }
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedIdentity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<VerifiedIdentity>().cloned())
    }
}

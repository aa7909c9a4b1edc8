//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use tessera_store::{Revocation, Store, TokenRecord};

use crate::audit::{self, Actor, Target};
use crate::config::Config;
use crate::extract::ClientInfo;
use crate::metrics::Metrics;
use crate::verification::{self, Invalidation, Verified, Verifier, VerifyFailure, VerifyRequest};

/// The handlers' shared state, behind one `Arc`: axum clones the state for
/// every request (and with every clone of a route's service), so a clone is
/// one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub verifier: Arc<Verifier>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let verifier = Arc::new(Verifier::new(
            verification::settings(&config),
            store.clone(),
        ));
        let metrics = Arc::new(Metrics::new(verifier.clone()));
        Self(Arc::new(Shared {
            config: Arc::new(config),
            store,
            verifier,
            metrics,
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Makes a change take effect at once: the local cache forgets what it
    /// made stale, and other instances are told through the store.
    pub async fn invalidate(&self, change: Invalidation) {
        self.verifier.invalidate_everywhere(&change).await;
    }

    /// Writes buffered usage now (the verifier's background work does this
    /// on its interval).
    pub async fn flush_usage(&self) {
        self.verifier.flush_usage().await;
    }

    /// Verifies a presented token. A rotated-out secret presented after its
    /// overlap means it leaked: the token (every secret it ever had) is
    /// revoked and `token.reuse_detected` audited, and the caller gets the
    /// refusal.
    pub async fn verify(
        &self,
        token: &str,
        workspace_header: Option<&str>,
        required: &[String],
        client: &ClientInfo,
    ) -> Result<Verified, VerifyFailure> {
        let outcome = self
            .verifier
            .verify(VerifyRequest {
                token,
                workspace_header,
                required,
                client: client.as_client(),
            })
            .await;
        if let Err(VerifyFailure::ReusedSecret(record)) = &outcome {
            self.revoke_leaked_family(record, client).await?;
        }
        outcome
    }

    async fn revoke_leaked_family(
        &self,
        record: &TokenRecord,
        client: &ClientInfo,
    ) -> Result<(), VerifyFailure> {
        let revoked = self
            .store
            .revoke_token(
                &record.id,
                &Revocation {
                    at: OffsetDateTime::now_utc(),
                    by: None,
                    reason: "reuse_detected".into(),
                },
            )
            .await?;
        self.invalidate(Invalidation::Token(record.id.clone()))
            .await;
        tracing::warn!(token_id = %record.id, "a rotated-out secret was presented: token revoked");
        if revoked {
            audit::append(
                &self.store,
                &Actor::anonymous(client),
                "token.reuse_detected",
                Some(Target {
                    kind: "token",
                    id: &record.id,
                    workspace_id: record.workspace_id.as_deref(),
                }),
                json!({ "token_name": record.name, "owner": record.user_id }),
            )
            .await;
        }
        Ok(())
    }
}

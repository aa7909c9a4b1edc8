//! Verifier credentials: who may ask the verification surfaces about
//! tokens. Deployment admins create and revoke them; the secret is shown
//! once and kept only as its SHA-256. A credential may be restricted to
//! some workspaces and kinds: for any other token it gets the answer an
//! unknown token gets.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use tessera_core::hash::sha256_hex;
use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::verifier_credential::{self, Audience};
use tessera_core::PlaintextToken;
use tessera_store::{NewVerifierCredential, Store, StoreError, VerifierCredential};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::principal::{Actor, Target};
use crate::service::audit::Audit;
use crate::service::changes::Changes;
use crate::verification::{CallerRefused, Invalidation, Verifier};

/// The most workspaces or kinds one credential may be restricted to.
const MAX_AUDIENCE_ENTRIES: usize = 100;

/// What a new verifier credential is to be.
#[derive(Debug, Clone, Default)]
pub struct NewVerifier {
    pub name: String,
    pub workspace_ids: Vec<String>,
    pub kinds: Vec<String>,
}

#[derive(Clone)]
pub struct Verifiers {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    verifier: Arc<Verifier>,
    changes: Changes,
    audit: Audit,
}

impl Verifiers {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        verifier: Arc<Verifier>,
        changes: Changes,
        audit: Audit,
    ) -> Self {
        Verifiers {
            config,
            store,
            verifier,
            changes,
            audit,
        }
    }

    /// Creates a credential; its secret is returned this once.
    pub async fn create(
        &self,
        request: NewVerifier,
        actor: &Actor,
    ) -> AppResult<(VerifierCredential, PlaintextToken)> {
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::Invalid(
                "A verifier's name must be 1-100 printable characters.".into(),
            ));
        }
        let workspace_ids = self.existing_workspaces(request.workspace_ids).await?;
        let kinds = self.configured_kinds(request.kinds)?;
        let secret = verifier_credential::generate();
        let credential = VerifierCredential {
            id: new_id(IdKind::Verifier),
            name: name.to_owned(),
            audience: Audience {
                workspace_ids,
                kinds,
            },
            created_at: OffsetDateTime::now_utc(),
            created_by: actor.user_id.clone(),
            revoked_at: None,
        };
        let stored = self
            .store
            .create_verifier(&NewVerifierCredential {
                credential,
                secret_hash: sha256_hex(secret.expose()),
            })
            .await?;
        // A secret cached as "no verifier's" must not outlive its creation.
        self.changes
            .apply(Invalidation::Verifier(stored.id.clone()))
            .await;
        self.audit
            .record(
                actor,
                "verifier.create",
                Some(Target {
                    kind: "verifier",
                    id: &stored.id,
                    workspace_id: None,
                }),
                json!({
                    "name": stored.name,
                    "workspace_ids": stored.audience.workspace_ids,
                    "kinds": stored.audience.kinds,
                }),
            )
            .await;
        Ok((stored, secret))
    }

    /// The deployment's unrevoked credentials, newest first.
    pub async fn list(&self) -> AppResult<Vec<VerifierCredential>> {
        Ok(self.store.list_verifiers().await?)
    }

    /// Revokes a credential on every instance at once. 404 for an unknown
    /// or already revoked one.
    pub async fn revoke(&self, id: &str, actor: &Actor) -> AppResult<()> {
        if !looks_like(IdKind::Verifier, id) {
            return Err(AppError::NotFound);
        }
        let revoked = match self
            .store
            .revoke_verifier(id, OffsetDateTime::now_utc())
            .await
        {
            Ok(revoked) => revoked,
            Err(StoreError::NotFound) => return Err(AppError::NotFound),
            Err(e) => return Err(e.into()),
        };
        if !revoked {
            return Err(AppError::NotFound);
        }
        self.changes
            .apply(Invalidation::Verifier(id.to_owned()))
            .await;
        self.audit
            .record(
                actor,
                "verifier.revoke",
                Some(Target {
                    kind: "verifier",
                    id,
                    workspace_id: None,
                }),
                json!({}),
            )
            .await;
        Ok(())
    }

    /// The credential a caller presents, admitted through the engine's
    /// cache. `None` when the secret is no unrevoked verifier's.
    pub async fn admit(&self, secret: &str) -> AppResult<Option<Arc<VerifierCredential>>> {
        match self.verifier.admit_caller(secret).await {
            Ok(credential) => Ok(Some(credential)),
            Err(CallerRefused::NotAVerifier) => Ok(None),
            Err(CallerRefused::Store(e)) => Err(e.into()),
        }
    }

    async fn existing_workspaces(&self, ids: Vec<String>) -> AppResult<Vec<String>> {
        let ids = distinct("workspace_ids", ids)?;
        for id in &ids {
            let exists =
                looks_like(IdKind::Workspace, id) && self.store.workspace(id).await?.is_some();
            if !exists {
                return Err(AppError::Invalid(format!(
                    "workspace_ids: there is no workspace \"{}\".",
                    id.escape_default()
                )));
            }
        }
        Ok(ids)
    }

    fn configured_kinds(&self, kinds: Vec<String>) -> AppResult<Vec<String>> {
        let kinds = distinct("kinds", kinds)?;
        if let Some(unknown) = kinds.iter().find(|k| self.config.kinds.get(k).is_none()) {
            let known: Vec<&str> = self.config.kinds.iter().map(|k| k.name.as_str()).collect();
            return Err(AppError::Invalid(format!(
                "kinds: this deployment has no kind \"{}\" (it has {}).",
                unknown.escape_default(),
                known.join(", ")
            )));
        }
        Ok(kinds)
    }
}

/// The list without repeats, in its order; at most [`MAX_AUDIENCE_ENTRIES`].
fn distinct(field: &str, values: Vec<String>) -> AppResult<Vec<String>> {
    if values.len() > MAX_AUDIENCE_ENTRIES {
        return Err(AppError::Invalid(format!(
            "{field}: at most {MAX_AUDIENCE_ENTRIES} entries."
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect())
}

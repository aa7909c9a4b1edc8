//! The audit trail: who did what to which target, from where. Never a
//! secret or a hash.

use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;

use tessera_core::ids::{new_id, IdKind};
use tessera_store::{AuditEvent, AuditFilter, Page, Store, TokenRecord};

use crate::client::ClientInfo;
use crate::error::AppResult;
use crate::principal::{Actor, Target};

#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn Store>,
}

impl Audit {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Audit { store }
    }

    /// Records an event (see [`append`]).
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<Target<'_>>,
        details: Value,
    ) {
        append(&self.store, actor, action, target, details).await
    }

    /// One page of the events `filter` selects, newest first.
    pub async fn list(&self, filter: &AuditFilter, page: &Page) -> AppResult<Vec<AuditEvent>> {
        Ok(self.store.list_audit(filter, page).await?)
    }

    /// A secret retired by rotation came back after its overlap, and the
    /// token was revoked for it: the event the verifier's `ReuseDetected`
    /// outcome is recorded as, by whoever presented the secret.
    pub async fn reuse_detected(&self, client: &ClientInfo, record: &TokenRecord) {
        self.record(
            &Actor::anonymous(client),
            "token.reuse_detected",
            Some(Target {
                kind: "token",
                id: &record.id,
                workspace_id: record.workspace_id.as_deref(),
            }),
            json!({ "token_name": record.name, "owner": record.user_id }),
        )
        .await
    }
}

/// Appends an event. An audit write that fails is logged loudly but does not
/// undo the action it records: the action already happened.
pub async fn append(
    store: &Arc<dyn Store>,
    actor: &Actor,
    action: &str,
    target: Option<Target<'_>>,
    details: Value,
) {
    let event = AuditEvent {
        id: new_id(IdKind::Event),
        at: OffsetDateTime::now_utc(),
        action: action.to_owned(),
        actor_user_id: actor.user_id.clone(),
        actor_token_id: actor.token_id.clone(),
        actor_label: actor.label.clone(),
        workspace_id: target
            .as_ref()
            .and_then(|t| t.workspace_id.map(str::to_owned)),
        target_type: target.as_ref().map(|t| t.kind.to_owned()),
        target_id: target.as_ref().map(|t| t.id.to_owned()),
        client_ip: actor.client.ip().map(str::to_owned),
        user_agent: actor.client.user_agent().map(str::to_owned),
        details,
    };
    tracing::info!(
        action,
        actor = ?event.actor_label,
        target = ?event.target_id,
        "audit"
    );
    if let Err(e) = store.append_audit(&event).await {
        tracing::error!(error = %e, action, "could not write an audit event");
    }
}

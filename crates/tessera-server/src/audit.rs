//! Writing audit events: who did what to which target, from where. Never a
//! secret or a hash.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;

use tessera_core::ids::{new_id, IdKind};
use tessera_store::{AuditEvent, Store};

use crate::state::AppState;

/// Kept under their old path for the verification engine (`verifier.rs`),
/// which writes the reuse-detection event itself until it moves to its own
/// crate; new code names [`crate::principal`].
pub use crate::principal::{Actor, Target};

impl AppState {
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<Target<'_>>,
        details: Value,
    ) {
        append(&self.store, actor, action, target, details).await
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
    {
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
}

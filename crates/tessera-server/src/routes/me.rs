//! `GET /api/v1/me`: who the credential in use is.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::kind::OwnerType;

use crate::error::AppResult;
use crate::principal::Caller;
use crate::routes::views::UserView;
use crate::service::rfc3339;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller: user (or API key, or agent), workspaces and roles, and the credential in use", body = Object),
        (status = 401, description = "unauthenticated or token_invalid", body = crate::error::ErrorBody),
    ))]
async fn me(State(state): State<AppState>, caller: Caller) -> AppResult<Json<Value>> {
    let memberships = match caller.user_id() {
        Some(user_id) => state.workspaces.memberships_of(user_id).await?,
        None => Vec::new(),
    };
    let workspaces: Vec<Value> = memberships
        .iter()
        .map(|m| {
            json!({
                "id": m.membership.workspace_id,
                "name": m.workspace_name,
                "role": m.membership.role,
            })
        })
        .collect();
    let credential = match &caller {
        Caller::Session { session, .. } => json!({
            "kind": "session",
            "id": null,
            "permissions": null,
            "expires_at": rfc3339(session.expires_at),
        }),
        Caller::Token(v) => json!({
            "kind": v.record().kind,
            "id": v.record().id,
            "name": v.record().name,
            "workspace_id": v.identity().workspace_id,
            "permissions": v.identity().grants.listed(),
            "narrowed_to": v.record().permissions,
            "expires_at": v.record().expires_at.map(rfc3339),
        }),
    };
    let agent = match &caller {
        Caller::Token(v) if v.identity().owner == OwnerType::Agent => json!({
            "id": v.record().user_id,
            "name": v.owner().map(|u| u.display_name.clone()),
            "workspace_id": v.record().workspace_id,
            "role": memberships.first().map(|m| m.membership.role.clone()),
        }),
        _ => Value::Null,
    };
    // An agent is described as the agent, not as a person.
    let user = match &caller {
        Caller::Token(v) if v.identity().owner == OwnerType::Agent => None,
        _ => caller.user().map(UserView::from),
    };
    let api_key = match &caller {
        Caller::Token(v) if v.record().user_id.is_none() => json!({
            "id": v.record().id,
            "name": v.record().name,
            "workspace_id": v.record().workspace_id,
            "role": v.record().role,
        }),
        _ => Value::Null,
    };
    Ok(Json(json!({
        "user": user,
        "api_key": api_key,
        "agent": agent,
        "workspaces": workspaces,
        "credential": credential,
    })))
}

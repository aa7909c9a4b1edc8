//! Agents: `/api/v1/workspaces/{wid}/agents…`, service accounts of one
//! workspace and their tokens (the rules are `service::agents`').
//!
//! Workspace credentials are managed together: the routes need
//! `api_keys:manage` in the workspace, and an agent (or an agent's token)
//! may hold no more than its creator holds, as for API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::permissions::API_KEYS_MANAGE;
use tessera_core::policy::UserStatus;
use tessera_store::Agent;

use crate::client::ClientInfo;
use crate::error::AppResult;
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::principal::{Actor, Caller};
use crate::routes::shared::{issued_response, token_list, List, PageQuery};
use crate::routes::views::{IssuedView, TokenView};
use crate::service::agents::AgentTokenRequest;
use crate::service::tokens::TokenScope;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, change_role, remove))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// An agent as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// A user id (`usr_…`): an agent is a user record that cannot sign in.
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    /// Its role in the workspace now.
    pub role: Option<String>,
    /// `active`, `suspended` or `removed`.
    #[schema(value_type = String)]
    pub status: UserStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The member who created it; the agent outlives them.
    pub created_by: Option<String>,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        AgentView {
            id: a.id,
            name: a.name,
            workspace_id: a.workspace_id,
            role: a.role,
            status: a.status,
            created_at: a.created_at,
            created_by: a.created_by,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Required, a string of 1–100 characters.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    name: Option<Value>,
    /// A configured role, no more than the creator's.
    #[schema(value_type = String)]
    role: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAgentRole {
    #[schema(value_type = String)]
    role: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentToken {
    /// Required, a string of 1–100 characters.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    name: Option<Value>,
    /// A preset of the kind, such as `30d`, `90d`, `1y` or `never`.
    expires_in: Option<String>,
    /// An exact expiry, RFC 3339; within the kind's maximum lifetime.
    expires_at: Option<String>,
    /// Narrow the token to a subset of the agent's role.
    permissions: Option<Vec<String>>,
    /// An agent kind other than the default, where a deployment has several.
    kind: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/workspaces/{wid}/agents", tag = "agents", params(("wid" = String, Path)),
    request_body = CreateAgent, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created", body = AgentView),
        (status = 403, description = "workspace_required, not_a_member or permission_denied (needs api_keys:manage; a role no more than the creator's)", body = crate::error::ErrorBody),
        (status = 422, description = "A field is not acceptable, or this deployment issues no agent tokens", body = crate::error::ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(workspace_id): AppPath<String>,
    AppJson(body): AppJson<CreateAgent>,
) -> AppResult<(StatusCode, Json<AgentView>)> {
    let held = state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state
        .agents
        .create(
            &Actor::of(&caller, &client),
            &held,
            &workspace_id,
            body.name.as_ref(),
            body.role.as_ref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AgentView::from(agent))))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/agents", tag = "agents", params(("wid" = String, Path), PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The workspace's agents, newest first", body = List<AgentView>), (status = 403, body = crate::error::ErrorBody), (status = 422, description = "An unusable limit or cursor", body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<AgentView>>> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let page = query.page()?;
    let agents = state.agents.list(&workspace_id, &page).await?;
    let items: Vec<AgentView> = agents.into_iter().map(AgentView::from).collect();
    Ok(Json(List::paged(items, &page, |a| &a.id)))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/agents/{agent_id}", tag = "agents", params(("wid" = String, Path), ("agent_id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The agent, with its role now", body = AgentView),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "No agent of this workspace has this id (or it was removed)", body = crate::error::ErrorBody),
    ))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((workspace_id, agent_id)): AppPath<(String, String)>,
) -> AppResult<Json<AgentView>> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.agents.find(&workspace_id, &agent_id).await?;
    Ok(Json(AgentView::from(agent)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{wid}/agents/{agent_id}", tag = "agents", params(("wid" = String, Path), ("agent_id" = String, Path)),
    request_body = ChangeAgentRole, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The agent with its new role; its tokens act with it from their next request", body = AgentView),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
    ))]
async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, agent_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<ChangeAgentRole>,
) -> AppResult<Json<AgentView>> {
    let held = state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.agents.find(&workspace_id, &agent_id).await?;
    let changed = state
        .agents
        .change_role(
            &Actor::of(&caller, &client),
            &held,
            &agent,
            body.role.as_ref(),
        )
        .await?;
    Ok(Json(AgentView::from(changed)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{wid}/agents/{agent_id}", tag = "agents", params(("wid" = String, Path), ("agent_id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Removed: its tokens are revoked and stop at once"), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, agent_id)): AppPath<(String, String)>,
) -> AppResult<StatusCode> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.agents.find(&workspace_id, &agent_id).await?;
    state
        .agents
        .remove(&Actor::of(&caller, &client), &agent)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{wid}/agents/{agent_id}/tokens", tag = "agents", params(("wid" = String, Path), ("agent_id" = String, Path)),
    request_body = CreateAgentToken, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created; `token` is the secret, shown this once", body = IssuedView),
        (status = 403, description = "Needs api_keys:manage, and no more than the creator holds", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    ))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, agent_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<CreateAgentToken>,
) -> AppResult<Response> {
    let held = state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.agents.find(&workspace_id, &agent_id).await?;
    let issued = state
        .agents
        .issue_token(
            &Actor::of(&caller, &client),
            &held,
            &agent,
            AgentTokenRequest {
                name: body.name.as_ref(),
                expires_in: body.expires_in.as_deref(),
                expires_at: body.expires_at.as_deref(),
                permissions: body.permissions.as_deref(),
                kind: body.kind.as_deref(),
                ceiling: caller.expiry_ceiling(),
            },
        )
        .await?;
    Ok(issued_response(issued))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/agents/{agent_id}/tokens", tag = "agents", params(("wid" = String, Path), ("agent_id" = String, Path), PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The agent's tokens, newest first; never a secret", body = List<TokenView>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, description = "An unusable limit or cursor", body = crate::error::ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((workspace_id, agent_id)): AppPath<(String, String)>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<TokenView>>> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.agents.find(&workspace_id, &agent_id).await?;
    let page = query.page()?;
    Ok(Json(
        token_list(&state, &TokenScope::agent(&agent), &page).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{wid}/agents/{agent_id}/tokens/{token_id}", tag = "agents",
    params(("wid" = String, Path), ("agent_id" = String, Path), ("token_id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Revoked (also if it already was); immediate"), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, agent_id, token_id)): AppPath<(String, String, String)>,
) -> AppResult<StatusCode> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.agents.find(&workspace_id, &agent_id).await?;
    let record = state
        .tokens
        .find(&TokenScope::agent(&agent), &token_id)
        .await?;
    state
        .tokens
        .revoke(&record, &Actor::of(&caller, &client), "revoked")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Agents: `/api/v1/workspaces/{wid}/agents…`. An agent is a service account
//! of one workspace: a user record marked as that workspace's agent, with no
//! password (it can never sign in) and a membership there giving its role.
//! Its tokens (a kind with `owner = "agent"`) are bound to the workspace and
//! act with the agent's *current* role, within their narrowing; removing or
//! suspending the agent stops them at once. The agent and its tokens outlive
//! the member who created them.
//!
//! Workspace credentials are managed together: the routes need
//! `api_keys:manage` in the workspace, and an agent (or an agent's token)
//! may hold no more than its creator holds, as for API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::kind::OwnerType;
use tessera_core::permissions::API_KEYS_MANAGE;
use tessera_core::policy::UserStatus;
use tessera_core::PermissionSet;
use tessera_store::{Agent, NewAgent};

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::lifecycle::{self, IssueRequest, Issued};
use crate::principal::Caller;
use crate::principal::{Actor, Target};
use crate::routes::api_keys::{no_more_than_held, role_permissions};
use crate::routes::tokens::issued_response;
use crate::routes::views::{IssuedView, TokenView};
use crate::routes::{List, PageQuery, TokenScope};
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
    #[schema(value_type = String)]
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
    #[schema(value_type = String)]
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

/// Reads a role field: required, a string naming a configured role.
fn role_field(state: &AppState, value: Option<&Value>) -> AppResult<(String, PermissionSet)> {
    match value {
        Some(Value::String(role)) => Ok((role.clone(), role_permissions(state, role)?)),
        None | Some(Value::Null) => Err(AppError::Invalid("role is required.".into())),
        Some(_) => Err(AppError::Invalid("role must be a string.".into())),
    }
}

/// What a new agent token asks for, as the API's body or the settings
/// page's form gave it.
pub struct AgentTokenRequest<'a> {
    pub name: Option<&'a Value>,
    pub expires_in: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    /// A narrowing of the agent's role; `None` acts with the whole role.
    pub permissions: Option<&'a [String]>,
    pub kind: Option<&'a str>,
    /// The latest expiry the caller may give, as for any token it creates.
    pub ceiling: Option<OffsetDateTime>,
}

/// What the API and the settings pages both do with agents. Each caller has
/// already checked that the actor may manage the workspace's agents and
/// passes what the actor `held` there, since nothing an agent holds may
/// exceed it.
impl AppState {
    /// A new agent of `workspace_id` with `role`.
    pub async fn create_agent(
        &self,
        actor: &Actor,
        held: &PermissionSet,
        workspace_id: &str,
        name: Option<&Value>,
        role: Option<&Value>,
    ) -> AppResult<Agent> {
        let name = lifecycle::name_field("Agent name", name)?;
        let (role, grants) = role_field(self, role)?;
        no_more_than_held(&grants, held)?;
        // An agent is only of use with tokens: the deployment must issue them.
        self.kind_for(None, OwnerType::Agent)?;
        let agent = self
            .store
            .create_agent(&NewAgent {
                id: new_id(IdKind::User),
                name,
                workspace_id: workspace_id.to_owned(),
                role,
                created_by: actor.user_id.clone(),
                created_at: OffsetDateTime::now_utc(),
            })
            .await?;
        self.audit(
            actor,
            "agent.create",
            Some(agent_target(&agent)),
            json!({ "name": agent.name, "role": agent.role }),
        )
        .await;
        Ok(agent)
    }

    /// The workspace's agent with this id, unless removed; 404 otherwise.
    /// An id not shaped like one never reaches the store.
    pub async fn workspace_agent(&self, workspace_id: &str, id: &str) -> AppResult<Agent> {
        if !looks_like(IdKind::User, id) {
            return Err(AppError::NotFound);
        }
        self.store
            .agent(id)
            .await?
            .filter(|a| a.workspace_id == workspace_id && a.status != UserStatus::Removed)
            .ok_or(AppError::NotFound)
    }

    /// Gives the agent another role; its tokens act with it from their next
    /// request, on every instance. Returns the agent as it is now.
    pub async fn change_agent_role(
        &self,
        actor: &Actor,
        held: &PermissionSet,
        agent: &Agent,
        role: Option<&Value>,
    ) -> AppResult<Agent> {
        let (role, grants) = role_field(self, role)?;
        no_more_than_held(&grants, held)?;
        let previous = self
            .apply_member_role(&agent.workspace_id, &agent.id, &role)
            .await?;
        self.audit(
            actor,
            "agent.role_change",
            Some(agent_target(agent)),
            json!({ "name": agent.name, "role": role, "previous_role": previous }),
        )
        .await;
        self.workspace_agent(&agent.workspace_id, &agent.id).await
    }

    /// Removes the agent; returns how many of its tokens that revoked.
    pub async fn remove_agent(&self, actor: &Actor, agent: &Agent) -> AppResult<usize> {
        // As a user's removal: the status first (no token of the agent verifies
        // from then on, on any instance), then its tokens and its membership.
        let (_, revoked) = self
            .apply_user_status(&agent.id, UserStatus::Removed, actor)
            .await?;
        self.audit(
            actor,
            "agent.remove",
            Some(agent_target(agent)),
            json!({ "name": agent.name, "revoked_tokens": revoked }),
        )
        .await;
        Ok(revoked)
    }

    /// A new token for the agent, acting with its role (or a narrowing of
    /// it), which the actor must hold too.
    pub async fn issue_agent_token(
        &self,
        actor: &Actor,
        held: &PermissionSet,
        agent: &Agent,
        request: AgentTokenRequest<'_>,
    ) -> AppResult<Issued> {
        let name = lifecycle::token_name(request.name)?;
        let kind = self.kind_for(request.kind, OwnerType::Agent)?;
        let expiry = lifecycle::expiry_request(request.expires_in, request.expires_at)?;
        let role = agent_role(self, agent);
        let permissions = request
            .permissions
            .map(|list| lifecycle::permission_list("permissions", list))
            .transpose()?;
        if let Some(asked) = &permissions {
            lifecycle::only_narrowing(
                "permissions",
                asked,
                &role,
                "an agent token can only narrow its agent's role",
            )?;
        }
        // Whoever mints the token must hold what it will act with.
        let acts_with = match &permissions {
            Some(narrowing) => role.intersection(narrowing),
            None => role,
        };
        no_more_than_held(&acts_with, held)?;
        self.issue_token(
            IssueRequest {
                kind,
                name,
                expiry,
                permissions,
                role: None,
                workspace_id: Some(agent.workspace_id.clone()),
                user_id: Some(agent.id.clone()),
                created_by: actor.user_id.clone(),
                ceiling: request.ceiling,
            },
            actor,
        )
        .await
    }
}

/// What the agent's role grants now (nothing, for a role no longer configured).
pub fn agent_role(state: &AppState, agent: &Agent) -> PermissionSet {
    agent
        .role
        .as_deref()
        .and_then(|r| state.config.roles.get(r))
        .cloned()
        .unwrap_or_default()
}

fn agent_target<'a>(agent: &'a Agent) -> Target<'a> {
    Target {
        kind: "agent",
        id: &agent.id,
        workspace_id: Some(&agent.workspace_id),
    }
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
    let held = caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state
        .create_agent(
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
    responses((status = 200, description = "The workspace's agents, newest first", body = List<AgentView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<AgentView>>> {
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let page = query.page()?;
    let agents = state.store.list_agents(&workspace_id, &page).await?;
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
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.workspace_agent(&workspace_id, &agent_id).await?;
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
    let held = caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.workspace_agent(&workspace_id, &agent_id).await?;
    let changed = state
        .change_agent_role(
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
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.workspace_agent(&workspace_id, &agent_id).await?;
    state
        .remove_agent(&Actor::of(&caller, &client), &agent)
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
    let held = caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.workspace_agent(&workspace_id, &agent_id).await?;
    let issued = state
        .issue_agent_token(
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
    responses((status = 200, description = "The agent's tokens, newest first; never a secret", body = List<TokenView>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((workspace_id, agent_id)): AppPath<(String, String)>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<TokenView>>> {
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.workspace_agent(&workspace_id, &agent_id).await?;
    let page = query.page()?;
    Ok(Json(TokenScope::agent(&agent).page(&state, &page).await?))
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
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let agent = state.workspace_agent(&workspace_id, &agent_id).await?;
    let record = TokenScope::agent(&agent).find(&state, &token_id).await?;
    state
        .revoke(&record, &Actor::of(&caller, &client), "revoked")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

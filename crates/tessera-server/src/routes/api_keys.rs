//! Workspace API keys: `/api/v1/workspaces/{wid}/api-keys…`. A key belongs
//! to its workspace, has a role or permissions fixed at creation (never more
//! than its creator held then), and outlives its creator.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::kind::OwnerType;
use tessera_core::permissions::API_KEYS_MANAGE;
use tessera_core::policy::Denial;
use tessera_core::PermissionSet;
use tessera_store::TokenRecord;

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::lifecycle::{self, IssueRequest};
use crate::principal::Actor;
use crate::principal::Caller;
use crate::routes::tokens::{issued_response, rotate, RotateBody};
use crate::routes::views::{IssuedView, TokenView};
use crate::routes::{List, PageQuery, TokenScope};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, revoke))
        .routes(routes!(rotate_key))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Required, a string of 1–100 characters.
    #[schema(value_type = String)]
    name: Option<Value>,
    role: Option<String>,
    permissions: Option<Vec<String>>,
    expires_in: Option<String>,
    expires_at: Option<String>,
    kind: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/workspaces/{wid}/api-keys", tag = "api-keys", params(("wid" = String, Path)),
    request_body = CreateKey, security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created; `token` is the secret, shown this once", body = IssuedView),
        (status = 403, description = "workspace_required, not_a_member or permission_denied (needs api_keys:manage; no more than the creator holds)", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(workspace_id): AppPath<String>,
    AppJson(body): AppJson<CreateKey>,
) -> AppResult<Response> {
    let held = caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let name = lifecycle::token_name(body.name.as_ref())?;
    let kind = state.kind_for(body.kind.as_deref(), OwnerType::Workspace)?;
    let grants = match (&body.role, &body.permissions) {
        (Some(_), Some(_)) => {
            return Err(AppError::Invalid(
                "Send either role or permissions, not both.".into(),
            ))
        }
        (Some(role), None) => role_permissions(&state, role)?,
        (None, Some(list)) => lifecycle::permission_list("permissions", list)?,
        (None, None) => {
            return Err(AppError::Invalid(
                "An API key needs a role or a list of permissions.".into(),
            ))
        }
    };
    // The key may hold no more than its creator holds right now.
    no_more_than_held(&grants, &held)?;
    let expiry = lifecycle::expiry_request(body.expires_in.as_deref(), body.expires_at.as_deref())?;
    let ceiling = caller.expiry_ceiling();
    let issued = state
        .issue_token(
            IssueRequest {
                kind,
                name,
                expiry,
                permissions: body.role.is_none().then_some(grants),
                role: body.role,
                workspace_id: Some(workspace_id),
                user_id: None,
                created_by: caller.user_id().map(str::to_owned),
                ceiling,
            },
            &Actor::of(&caller, &client),
        )
        .await?;
    Ok(issued_response(issued))
}

/// The permissions of a configured role, or 422 naming the roles there are.
/// Shared with the agents routes.
pub(crate) fn role_permissions(state: &AppState, role: &str) -> AppResult<PermissionSet> {
    state.config.roles.get(role).cloned().ok_or_else(|| {
        let known: Vec<&str> = state.config.roles.role_names().collect();
        AppError::Invalid(format!("role must be one of: {}.", known.join(", ")))
    })
}

/// A workspace credential (a key, an agent, an agent's token) may hold no
/// more than the member creating it holds right now: 403 otherwise.
pub(crate) fn no_more_than_held(grants: &PermissionSet, held: &PermissionSet) -> AppResult<()> {
    if grants.is_subset(held) {
        Ok(())
    } else {
        Err(AppError::denied(Denial::PermissionDenied, false))
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/api-keys", tag = "api-keys", params(("wid" = String, Path), PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = List<TokenView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<TokenView>>> {
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let page = query.page()?;
    Ok(Json(
        TokenScope::workspace_keys(&workspace_id)
            .page(&state, &page)
            .await?,
    ))
}

/// The workspace's key with this id, or 404.
async fn workspace_key(state: &AppState, workspace_id: &str, id: &str) -> AppResult<TokenRecord> {
    TokenScope::workspace_keys(workspace_id)
        .find(state, id)
        .await
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/api-keys/{id}", tag = "api-keys", params(("wid" = String, Path), ("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = TokenView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((workspace_id, id)): AppPath<(String, String)>,
) -> AppResult<Json<TokenView>> {
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let record = workspace_key(&state, &workspace_id, &id).await?;
    Ok(Json(TokenView::new(record, OffsetDateTime::now_utc())))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{wid}/api-keys/{id}", tag = "api-keys", params(("wid" = String, Path), ("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Revoked"), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, id)): AppPath<(String, String)>,
) -> AppResult<StatusCode> {
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let record = workspace_key(&state, &workspace_id, &id).await?;
    state
        .revoke(&record, &Actor::of(&caller, &client), "revoked")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{wid}/api-keys/{id}/rotate", tag = "api-keys", params(("wid" = String, Path), ("id" = String, Path)),
    request_body(content = Option<RotateBody>, description = "Optional"), security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = IssuedView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, id)): AppPath<(String, String)>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> AppResult<Response> {
    caller
        .require_in(&state, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let record = workspace_key(&state, &workspace_id, &id).await?;
    rotate(&state, &caller, &client, &record, body).await
}

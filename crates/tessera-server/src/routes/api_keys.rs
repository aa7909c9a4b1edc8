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

use tessera_core::permissions::API_KEYS_MANAGE;

use crate::client::ClientInfo;
use crate::error::AppResult;
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::principal::{Actor, Caller, RotatingCaller};
use crate::routes::shared::{issued_response, token_list, List, PageQuery, RotateBody};
use crate::routes::views::{IssuedView, TokenView};
use crate::service::api_keys::ApiKeyRequest;
use crate::service::tokens::TokenScope;
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
    #[schema(value_type = String, min_length = 1, max_length = 100)]
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
    let held = state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let issued = state
        .api_keys
        .create(
            &Actor::of(&caller, &client),
            &held,
            &workspace_id,
            ApiKeyRequest {
                name: body.name.as_ref(),
                role: body.role,
                permissions: body.permissions.as_deref(),
                expires_in: body.expires_in.as_deref(),
                expires_at: body.expires_at.as_deref(),
                kind: body.kind.as_deref(),
                ceiling: caller.expiry_ceiling(),
            },
        )
        .await?;
    Ok(issued_response(issued))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/api-keys", tag = "api-keys", params(("wid" = String, Path), PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = List<TokenView>), (status = 403, body = crate::error::ErrorBody), (status = 422, description = "An unusable limit or cursor", body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<TokenView>>> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let page = query.page()?;
    Ok(Json(
        token_list(&state, &TokenScope::workspace_keys(&workspace_id), &page).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/api-keys/{id}", tag = "api-keys", params(("wid" = String, Path), ("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = TokenView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((workspace_id, id)): AppPath<(String, String)>,
) -> AppResult<Json<TokenView>> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let record = state.api_keys.find(&workspace_id, &id).await?;
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
    state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let record = state.api_keys.find(&workspace_id, &id).await?;
    state
        .tokens
        .revoke(&record, &Actor::of(&caller, &client), "revoked")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workspaces/{wid}/api-keys/{id}/rotate", tag = "api-keys", params(("wid" = String, Path), ("id" = String, Path)),
    request_body(content = Option<RotateBody>, description = "Optional"), security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = IssuedView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn rotate_key(
    State(state): State<AppState>,
    RotatingCaller(caller): RotatingCaller,
    client: ClientInfo,
    AppPath((workspace_id, id)): AppPath<(String, String)>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> AppResult<Response> {
    let held = state
        .workspaces
        .require_in(&caller, &workspace_id, API_KEYS_MANAGE)
        .await?;
    let record = state.api_keys.find(&workspace_id, &id).await?;
    state.api_keys.may_rotate(&held, &record)?;
    let issued = state
        .tokens
        .rotate_for(
            &caller,
            &Actor::of(&caller, &client),
            &record,
            body.request()?,
        )
        .await?;
    Ok(issued_response(issued))
}

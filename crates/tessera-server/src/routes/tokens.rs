//! Personal access tokens: `/api/v1/tokens…`, including the token in use
//! (`/api/v1/tokens/self`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_store::TokenRecord;

use crate::auth::workspace_header;
use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::principal::{Actor, Caller, RotatingCaller};
use crate::routes::shared::{issued_response, token_list, List, PageQuery, RotateBody};
use crate::routes::views::{IssuedView, TokenView};
use crate::service::tokens::{PersonalTokenRequest, TokenScope};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list, revoke_all))
        .routes(routes!(get_self, revoke_self))
        .routes(routes!(rotate_self))
        .routes(routes!(get_one, revoke_one))
        .routes(routes!(rotate_one))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Required, a string of 1–100 characters.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub name: Option<Value>,
    /// A preset of the kind, such as `7d`, `30d`, `90d`, `1y` or `never`.
    pub expires_in: Option<String>,
    /// An exact expiry, RFC 3339; within the kind's maximum lifetime.
    pub expires_at: Option<String>,
    /// Narrow the token to a subset of the owner's permissions.
    pub permissions: Option<Vec<String>>,
    /// Bind the token to one workspace.
    pub workspace_id: Option<String>,
    /// A personal kind other than the default, where a deployment has several.
    pub kind: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created; `token` is the secret, shown this once", body = IssuedView),
        (status = 400, description = "Malformed body", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "The calling token lacks tokens:manage", body = crate::error::ErrorBody),
        (status = 422, description = "A field is not acceptable; the message names it", body = crate::error::ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    headers: HeaderMap,
    AppJson(body): AppJson<CreateToken>,
) -> AppResult<Response> {
    let issued = state
        .tokens
        .create_personal(
            &caller,
            &Actor::of(&caller, &client),
            PersonalTokenRequest {
                name: body.name.as_ref(),
                expires_in: body.expires_in.as_deref(),
                expires_at: body.expires_at.as_deref(),
                permissions: body.permissions.as_deref(),
                workspace_id: body.workspace_id,
                kind: body.kind.as_deref(),
                workspace_header: workspace_header(&state.config, &headers),
            },
        )
        .await?;
    Ok(issued_response(issued))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller's personal tokens, newest first", body = List<TokenView>),
        (status = 401, body = crate::error::ErrorBody), (status = 422, description = "An unusable limit or cursor", body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<TokenView>>> {
    let user = caller.require_user()?;
    let page = query.page()?;
    Ok(Json(
        token_list(&state, &TokenScope::personal(&user.id), &page).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = TokenView), (status = 404, description = "Not the caller's, or no such token", body = crate::error::ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<TokenView>> {
    let user = caller.require_user()?;
    let record = state.tokens.own_token(user, &id).await?;
    Ok(Json(TokenView::new(record, OffsetDateTime::now_utc())))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Revoked (also if it already was)"), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
) -> AppResult<StatusCode> {
    let user = caller.require_user()?;
    let record = match state.tokens.own_token(user, &id).await {
        Ok(record) => record,
        // A deployment admin may revoke anyone's personal token.
        Err(AppError::NotFound) if caller.require_admin().is_ok() => {
            state.tokens.users_token(&id).await?
        }
        Err(e) => return Err(e),
    };
    state
        .tokens
        .revoke(&record, &Actor::of(&caller, &client), "revoked")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/tokens", tag = "tokens",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "`{\"revoked\": n}`", body = Object), (status = 401, body = crate::error::ErrorBody)))]
async fn revoke_all(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
) -> AppResult<Json<Value>> {
    let user = caller.require_user()?.clone();
    let revoked = state
        .tokens
        .revoke_all(&user.id, &Actor::of(&caller, &client), "revoked_all")
        .await?;
    Ok(Json(json!({ "revoked": revoked })))
}

#[utoipa::path(post, path = "/api/v1/tokens/{id}/rotate", tag = "tokens", params(("id" = String, Path)),
    request_body(content = Option<RotateBody>, description = "Optional"),
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, description = "The same record with a new secret, shown this once", body = IssuedView),
        (status = 404, body = crate::error::ErrorBody), (status = 409, description = "Revoked or expired", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn rotate_one(
    State(state): State<AppState>,
    RotatingCaller(caller): RotatingCaller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> AppResult<Response> {
    let user = caller.require_user()?;
    let record = state.tokens.own_token(user, &id).await?;
    rotate(&state, &caller, &client, &record, &body).await
}

/// Rotation on behalf of the caller, answered with the new secret.
async fn rotate(
    state: &AppState,
    caller: &Caller,
    client: &ClientInfo,
    record: &TokenRecord,
    body: &RotateBody,
) -> AppResult<Response> {
    let issued = state
        .tokens
        .rotate_for(caller, &Actor::of(caller, client), record, body.request()?)
        .await?;
    Ok(issued_response(issued))
}

fn presented_token(caller: &Caller) -> AppResult<&TokenRecord> {
    match caller {
        Caller::Token(v) => Ok(v.record()),
        Caller::Session { .. } => Err(AppError::Invalid(
            "/api/v1/tokens/self is about the token in use: send one with `Authorization: Bearer`."
                .into(),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/tokens/self", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, description = "The token in use", body = TokenView), (status = 401, body = crate::error::ErrorBody)))]
async fn get_self(caller: Caller) -> AppResult<Json<TokenView>> {
    let record = presented_token(&caller)?.clone();
    Ok(Json(TokenView::new(record, OffsetDateTime::now_utc())))
}

#[utoipa::path(delete, path = "/api/v1/tokens/self", tag = "tokens", security(("bearer" = [])),
    responses((status = 204, description = "The token in use is revoked"), (status = 401, body = crate::error::ErrorBody)))]
async fn revoke_self(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
) -> AppResult<StatusCode> {
    let record = presented_token(&caller)?;
    state
        .tokens
        .revoke(record, &Actor::of(&caller, &client), "revoked_self")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/tokens/self/rotate", tag = "tokens", security(("bearer" = [])),
    request_body(content = Option<RotateBody>, description = "Optional"),
    responses((status = 201, body = IssuedView), (status = 401, body = crate::error::ErrorBody)))]
async fn rotate_self(
    State(state): State<AppState>,
    RotatingCaller(caller): RotatingCaller,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> AppResult<Response> {
    let record = presented_token(&caller)?.clone();
    rotate(&state, &caller, &client, &record, &body).await
}

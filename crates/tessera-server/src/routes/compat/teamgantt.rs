//! TeamGantt's personal access token endpoints, as TeamGantt's public token
//! documentation describes them (`docs/profiles.md` quotes it), mounted with
//! `[compat] teamgantt = true` (set in `profiles/teamgantt.toml`).
//!
//! They act for the calling user, who authenticates exactly as on
//! `/api/v1`: `Authorization: Bearer <token>` or a signed-in
//! `tessera_session` cookie (with `X-CSRF-Token` on POST and DELETE). Every
//! failure outside name validation has Tessera's body,
//! `{"error": {"code", "message"}}`; a 401 carries `WWW-Authenticate`.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/current_user/tokens/create` `{"token_name": "…"}` | 201 `{"token": "<id>\|<secret>"}`, `Cache-Control: no-store` |
//! | `GET /v1/current_user/tokens` | 200, a JSON array of the active tokens: `[{"id", "name", "created_at", "last_used_at", "expires_at"}]`, newest first |
//! | `DELETE /v1/current_user/tokens/{tokenId}` | 204; 404 `not_found` for another user's, an unknown or a malformed id |
//! | `DELETE /v1/current_user/tokens/delete` | 200 `{"revoked": n}` |
//! | `GET /v1/current_user` | 200 `{"id", "username", "display_name", "admin", "status", "created_at"}` |
//!
//! Decisions:
//! - Create answers **201**: the document gives no status, 201 is what HTTP
//!   and `POST /api/v1/tokens` say for a creation, and clients of a Laravel
//!   app test for success (2xx), not for 200 exactly. The body is the
//!   document's, `{"token": …}` and nothing else; the token's id is the part
//!   before the `|`.
//! - A name that fails ("Token name is required.", "Token name must be a
//!   string.", too long, control characters) answers **422** in Laravel's
//!   validation shape *and* Tessera's, so that clients of either work:
//!   `{"message": m, "errors": {"token_name": [m]}, "error": {"code":
//!   "invalid_request", "message": m}}`.
//! - Fields other than `token_name`, `expires_in` and `expires_at` are
//!   ignored, as Laravel ignores them; a body that is not JSON, or not a JSON
//!   object, is a 400 with Tessera's body.
//! - Ids are Tessera's opaque `tok_…` ids, not TeamGantt's integers.
//! - The list shows active tokens only ("a list of all your active
//!   tokens"), never a secret; revoked and expired ones stay visible on
//!   `GET /api/v1/tokens`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_store::TokenRecord;

use crate::auth::workspace_header;
use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath};
use crate::principal::{Actor, Caller};
use crate::routes::views::UserView;
use crate::service::tokens::{PersonalTokenRequest, TokenScope};
use crate::service::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(list))
        .routes(routes!(revoke_all))
        .routes(routes!(revoke_one))
        .routes(routes!(current_user))
}

/// TeamGantt's create request.
#[derive(Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// Required, a string of 1–100 characters.
    #[schema(value_type = String, example = "My Integration Token")]
    token_name: Option<Value>,
    /// Optional, as on `/api/v1/tokens`: `never` (the default), `30d`, `90d`, `1y`.
    expires_in: Option<String>,
    /// Optional, an exact RFC 3339 expiry.
    expires_at: Option<String>,
}

/// A token as TeamGantt's list shows it: "Name", "Created", "Last Used".
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenSummary {
    /// The part of the token before the `|`; what `DELETE …/tokens/{tokenId}` takes.
    pub id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// `null`: tokens don't expire by default.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl From<TokenRecord> for TokenSummary {
    fn from(r: TokenRecord) -> Self {
        TokenSummary {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
        }
    }
}

/// 422 in Laravel's validation shape, with Tessera's error beside it.
fn invalid_field(field: &str, error: AppError) -> Response {
    let message = error.to_string();
    let body = json!({
        "message": message,
        "errors": { field: [message] },
        "error": { "code": "invalid_request", "message": message },
    });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

#[utoipa::path(post, path = "/v1/current_user/tokens/create", tag = "teamgantt",
    request_body = CreateTokenRequest,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "`{\"token\": \"<id>|<secret>\"}`, shown this once", body = Object),
        (status = 400, description = "Not a JSON object", body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 422, description = "`{\"message\", \"errors\": {\"token_name\": [...]}, \"error\"}` for the name; Tessera's body otherwise", body = Object),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    headers: HeaderMap,
    AppJson(body): AppJson<CreateTokenRequest>,
) -> AppResult<Response> {
    let name = match validate::token_name(body.token_name.as_ref()) {
        Ok(name) => Value::String(name),
        Err(e) => return Ok(invalid_field("token_name", e)),
    };
    let issued = state
        .tokens
        .create_personal(
            &caller,
            &Actor::of(&caller, &client),
            PersonalTokenRequest {
                name: Some(&name),
                expires_in: body.expires_in.as_deref(),
                expires_at: body.expires_at.as_deref(),
                permissions: None,
                workspace_id: None,
                kind: None,
                workspace_header: workspace_header(&state.config, &headers),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(json!({ "token": issued.token.expose() })),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/current_user/tokens", tag = "teamgantt",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller's active tokens, newest first; never a secret", body = Vec<TokenSummary>),
        (status = 401, body = crate::error::ErrorBody),
    ))]
async fn list(State(state): State<AppState>, caller: Caller) -> AppResult<Json<Vec<TokenSummary>>> {
    let user = caller.require_user()?;
    // One array, as TeamGantt answers: every page.
    let active = state
        .tokens
        .active(&TokenScope::personal(&user.id))
        .await?
        .into_iter()
        .map(TokenSummary::from)
        .collect();
    Ok(Json(active))
}

#[utoipa::path(delete, path = "/v1/current_user/tokens/{tokenId}", tag = "teamgantt",
    params(("tokenId" = String, Path, description = "The part of the token before the `|`")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked (also if it already was)"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, description = "Not the caller's, or no such token", body = crate::error::ErrorBody),
    ))]
async fn revoke_one(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(token_id): AppPath<String>,
) -> AppResult<StatusCode> {
    let user = caller.require_user()?;
    let record = state.tokens.own_token(user, &token_id).await?;
    state
        .tokens
        .revoke(&record, &Actor::of(&caller, &client), "revoked")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/current_user/tokens/delete", tag = "teamgantt",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "`{\"revoked\": n}`; the token in use is revoked too", body = Object),
        (status = 401, body = crate::error::ErrorBody),
    ))]
async fn revoke_all(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
) -> AppResult<Json<Value>> {
    let user = caller.require_user()?;
    let revoked = state
        .tokens
        .revoke_all(&user.id, &Actor::of(&caller, &client), "revoked_all")
        .await?;
    Ok(Json(json!({ "revoked": revoked })))
}

#[utoipa::path(get, path = "/v1/current_user", tag = "teamgantt",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The calling user", body = UserView),
        (status = 401, body = crate::error::ErrorBody),
    ))]
async fn current_user(caller: Caller) -> AppResult<Json<UserView>> {
    Ok(Json(UserView::from(caller.require_user()?)))
}

//! Personal access tokens: `/api/v1/tokens…`, including the token in use
//! (`/api/v1/tokens/self`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::kind::{OwnerType, WorkspaceBinding};
use tessera_core::permissions::TOKENS_MANAGE;
use tessera_core::PermissionSet;
use tessera_store::{TokenRecord, User};

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::lifecycle::{self, IssueRequest, Issued};
use crate::principal::Actor;
use crate::principal::Caller;
use crate::routes::views::{IssuedView, TokenView};
use crate::routes::{List, PageQuery, TokenScope};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list, revoke_all))
        .routes(routes!(get_self, revoke_self))
        .routes(routes!(rotate_self))
        .routes(routes!(get_one, revoke_one))
        .routes(routes!(rotate_one))
}

/// An answer that carries a secret: 201, and never cached anywhere.
pub fn issued_response(issued: Issued) -> Response {
    let body = IssuedView {
        record: TokenView::new(issued.record, OffsetDateTime::now_utc()),
        token: issued.token.expose().to_owned(),
    };
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Required, a string of 1–100 characters.
    #[schema(value_type = String)]
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
    let issued = create_personal(&state, &caller, &client, &headers, body).await?;
    Ok(issued_response(issued))
}

/// Creates a personal token for the caller, as `POST /api/v1/tokens` asks
/// (also behind the compatibility routes, which answer in their own shape).
pub async fn create_personal(
    state: &AppState,
    caller: &Caller,
    client: &ClientInfo,
    headers: &HeaderMap,
    body: CreateToken,
) -> AppResult<Issued> {
    let user = caller.require_user()?.clone();
    // Tokens cannot mint tokens unless they hold tokens:manage, and never
    // more than they hold themselves.
    if !caller.holds(TOKENS_MANAGE) {
        return Err(AppError::Forbidden(format!(
            "This token cannot create tokens: it lacks {TOKENS_MANAGE}."
        )));
    }
    let name = lifecycle::token_name(body.name.as_ref())?;
    let kind = state.kind_for(body.kind.as_deref(), OwnerType::User)?;
    let expiry = lifecycle::expiry_request(body.expires_in.as_deref(), body.expires_at.as_deref())?;
    let workspace_id = match (kind.binding, body.workspace_id) {
        (WorkspaceBinding::Bound, None) => {
            let acting = caller.token_workspace().or(state.workspace_header(headers));
            Some(state.current_workspace(&user.id, acting).await?)
        }
        (_, asked) => asked,
    };
    if let (Some(asked), Caller::Token(calling)) = (&workspace_id, caller) {
        if calling
            .record()
            .workspace_id
            .as_ref()
            .is_some_and(|bound| bound != asked)
        {
            return Err(AppError::Forbidden(
                "A token bound to one workspace cannot create tokens for another.".into(),
            ));
        }
    }
    let permissions = match &body.permissions {
        Some(list) => {
            let asked = lifecycle::permission_list("permissions", list)?;
            let allowed = grantable(state, caller, &user, workspace_id.as_deref()).await?;
            if kind.allow_narrowing {
                lifecycle::only_narrowing(
                    "permissions",
                    &asked,
                    &allowed,
                    "a token can only narrow what its owner's role allows",
                )?;
            }
            Some(asked)
        }
        None => match caller {
            // A narrowed token passes its narrowing on: it cannot mint a wider one.
            Caller::Token(v) => v
                .record()
                .permissions
                .as_ref()
                .map(|p| lifecycle::permission_list("permissions", p))
                .transpose()?,
            Caller::Session { .. } => None,
        },
    };
    if let (Some(workspace_id), true) = (&workspace_id, kind.binding != WorkspaceBinding::None) {
        if state
            .store
            .membership(workspace_id, &user.id)
            .await?
            .is_none()
        {
            return Err(AppError::Invalid(
                "workspace_id names a workspace you are not a member of.".into(),
            ));
        }
    }
    let ceiling = caller.expiry_ceiling();
    state
        .issue_token(
            IssueRequest {
                kind,
                name,
                expiry,
                permissions,
                role: None,
                workspace_id,
                user_id: Some(user.id.clone()),
                created_by: Some(user.id.clone()),
                ceiling,
            },
            &Actor::of(caller, client),
        )
        .await
}

/// What the caller may grant a new token: the owner's role permissions (in
/// the bound workspace, or across all their workspaces), within the calling
/// token's own narrowing.
async fn grantable(
    state: &AppState,
    caller: &Caller,
    user: &User,
    workspace_id: Option<&str>,
) -> AppResult<PermissionSet> {
    let memberships = state.store.memberships_of(&user.id).await?;
    let mut allowed: PermissionSet = memberships
        .iter()
        .filter(|m| workspace_id.is_none_or(|w| w == m.workspace_id))
        .filter_map(|m| state.config.roles.get(&m.role))
        .flat_map(|set| set.iter().cloned())
        .collect();
    if let Caller::Token(v) = caller {
        if let Some(narrowing) = &v.record().permissions {
            allowed = allowed.intersection(&lifecycle::permission_list("permissions", narrowing)?);
        }
    }
    Ok(allowed)
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller's personal tokens, newest first", body = List<TokenView>),
        (status = 401, body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<TokenView>>> {
    let user = caller.require_user()?;
    let page = query.page()?;
    Ok(Json(
        TokenScope::personal(&user.id).page(&state, &page).await?,
    ))
}

/// Any user's personal token with this id; a malformed id is a 404 before
/// any look-up.
async fn any_users_token(state: &AppState, id: &str) -> AppResult<TokenRecord> {
    if !tessera_core::ids::looks_like(tessera_core::ids::IdKind::Token, id) {
        return Err(AppError::NotFound);
    }
    state
        .store
        .token(id)
        .await?
        .filter(|t| t.user_id.is_some())
        .ok_or(AppError::NotFound)
}

/// The caller's own personal token with this id; anyone else's is a 404,
/// so that ids cannot be probed.
pub async fn own_token(state: &AppState, user: &User, id: &str) -> AppResult<TokenRecord> {
    let token = any_users_token(state, id).await?;
    if token.user_id.as_deref() == Some(user.id.as_str()) {
        Ok(token)
    } else {
        Err(AppError::NotFound)
    }
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
    let record = own_token(&state, user, &id).await?;
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
    let record = match own_token(&state, user, &id).await {
        Ok(record) => record,
        // A deployment admin may revoke anyone's personal token.
        Err(AppError::NotFound) if caller.require_admin().is_ok() => {
            any_users_token(&state, &id).await?
        }
        Err(e) => return Err(e),
    };
    state
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
        .revoke_all(&user.id, &Actor::of(&caller, &client), "revoked_all")
        .await?;
    Ok(Json(json!({ "revoked": revoked })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old secret keeps working: 0 (default) to 86,400 seconds.
    pub overlap_seconds: Option<u32>,
    pub expires_in: Option<String>,
    pub expires_at: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tokens/{id}/rotate", tag = "tokens", params(("id" = String, Path)),
    request_body(content = Option<RotateBody>, description = "Optional"),
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, description = "The same record with a new secret, shown this once", body = IssuedView),
        (status = 404, body = crate::error::ErrorBody), (status = 409, description = "Revoked or expired", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn rotate_one(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> AppResult<Response> {
    let user = caller.require_user()?;
    let record = own_token(&state, user, &id).await?;
    rotate(&state, &caller, &client, &record, body).await
}

/// Rotation on behalf of a caller; used by the API keys routes too.
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    client: &ClientInfo,
    record: &TokenRecord,
    body: RotateBody,
) -> AppResult<Response> {
    let expiry = lifecycle::expiry_request(body.expires_in.as_deref(), body.expires_at.as_deref())?;
    let ceiling = match caller {
        Caller::Token(v) if v.record().id != record.id => v.record().expires_at,
        _ => None,
    };
    let issued = state
        .rotate(
            record,
            body.overlap_seconds.unwrap_or(0),
            expiry,
            ceiling,
            &Actor::of(caller, client),
        )
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
        .revoke(record, &Actor::of(&caller, &client), "revoked_self")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/tokens/self/rotate", tag = "tokens", security(("bearer" = [])),
    request_body(content = Option<RotateBody>, description = "Optional"),
    responses((status = 201, body = IssuedView), (status = 401, body = crate::error::ErrorBody)))]
async fn rotate_self(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> AppResult<Response> {
    let record = presented_token(&caller)?.clone();
    rotate(&state, &caller, &client, &record, body).await
}

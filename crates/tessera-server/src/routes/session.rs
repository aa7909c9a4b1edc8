//! `POST /api/v1/session` (sign in) and `DELETE /api/v1/session` (sign out).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::AppJson;
use crate::principal::Caller;
use crate::routes::views::UserView;
use crate::session::{clearing_cookie, session_cookie};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, sign_out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
}

#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignIn,
    responses(
        (status = 200, description = "Signed in: sets the tessera_session cookie; answers the user and csrf_token", body = Object),
        (status = 401, description = "invalid_credentials, the same for an unknown user and a wrong password", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited: too many failures for this username or from this address, the same whether the account exists; Retry-After gives the wait in seconds", body = crate::error::ErrorBody),
        (status = 503, description = "unavailable: too many passwords being checked at once (Retry-After: 1), or the store is unreachable", body = crate::error::ErrorBody),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(body): AppJson<SignIn>,
) -> AppResult<Response> {
    let (user, new) = state
        .sessions
        .sign_in(&body.username, body.password, &client, "api")
        .await?
        .ok_or(AppError::InvalidCredentials)?;
    let secure = client.over_tls();
    let cookie = session_cookie(&new.secret, state.config.auth.session_ttl, secure);
    let body = json!({ "user": UserView::from(&user), "csrf_token": new.session.csrf_token });
    Ok((
        StatusCode::OK,
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".parse().expect("static")),
        ],
        Json(body),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session", security(("session" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 403, description = "csrf_failed", body = crate::error::ErrorBody),
    ))]
async fn sign_out(State(state): State<AppState>, caller: Caller) -> AppResult<Response> {
    let Caller::Session { session, .. } = &caller else {
        return Err(AppError::Invalid(
            "Only a browser session can sign out; a token is ended by revoking it.".into(),
        ));
    };
    state.sessions.end(session).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clearing_cookie())],
    )
        .into_response())
}

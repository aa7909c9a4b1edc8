//! `/login` (sign in) and `/logout` (sign out): the same session and cookie
//! as `POST /api/v1/session`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use crate::client::ClientInfo;
use crate::error::{AppError, SIGN_IN_BUSY};
use crate::session::{clearing_cookie, session_cookie};
use crate::state::AppState;
use crate::web::forms::{Fields, Posted};
use crate::web::layout::signed_in;
use crate::web::layout::{page, respond, throttled_message, Section, WebError};

/// The one message for every failed sign-in: unknown user, wrong password,
/// suspended account alike.
pub const SIGN_IN_FAILED: &str = "The username or password is incorrect.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(show).post(sign_in))
        .route("/logout", post(sign_out))
}

fn login_page(status: StatusCode, username: &str, error: Option<&str>) -> Response {
    respond(
        status,
        page(
            "Sign in",
            None,
            Section::None,
            html! {
                section.card.login {
                    h1 { "Sign in to Tessera" }
                    @if let Some(error) = error {
                        p.alert role="alert" #login-error { (error) }
                    }
                    form method="post" action="/login" {
                        label for="username" { "Username" }
                        input #username type="text" name="username" value=(username)
                            autocomplete="username" required autofocus;
                        label for="password" { "Password" }
                        input #password type="password" name="password"
                            autocomplete="current-password" required;
                        p { button type="submit" { "Sign in" } }
                    }
                }
            },
        ),
    )
}

async fn show(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match signed_in(&parts, &state).await {
        Ok(Some(_)) => Redirect::to("/settings/tokens").into_response(),
        Ok(None) => login_page(StatusCode::OK, "", None),
        Err(response) => response,
    }
}

async fn sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    let fields = Fields::parse(&body);
    let username = fields.get("username").unwrap_or("").trim().to_owned();
    let given = fields.get("password").unwrap_or("").to_owned();
    let signed_in = state
        .sessions
        .sign_in(&username, given, &client, "settings pages")
        .await;
    let refusal = match &signed_in {
        Err(AppError::SignInThrottled { retry_after }) => Some((
            StatusCode::TOO_MANY_REQUESTS,
            throttled_message(*retry_after),
            *retry_after,
        )),
        Err(AppError::Busy) => Some((StatusCode::SERVICE_UNAVAILABLE, SIGN_IN_BUSY.into(), 1)),
        _ => None,
    };
    if let Some((status, message, retry_after)) = refusal {
        let mut page = login_page(status, &username, Some(&message));
        page.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return Ok(page);
    }
    let Some((_, new)) = signed_in? else {
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            &username,
            Some(SIGN_IN_FAILED),
        ));
    };
    let secure = client.over_tls();
    let cookie = session_cookie(&new.secret, state.config.auth.session_ttl, secure);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (
                header::LOCATION,
                "/settings/tokens".parse().expect("static"),
            ),
        ],
    )
        .into_response())
}

async fn sign_out(State(state): State<AppState>, posted: Posted) -> Result<Response, WebError> {
    state
        .sessions
        .end(&posted.signed.session)
        .await
        .map_err(|e| posted.signed.error(e))?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, clearing_cookie()),
            (header::LOCATION, "/login".parse().expect("static")),
        ],
    )
        .into_response())
}

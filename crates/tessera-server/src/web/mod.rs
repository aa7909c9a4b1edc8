//! The settings pages: server-rendered HTML (maud) for signing in, personal
//! access tokens, a workspace's API keys and agents, and deployment
//! administration. Every page goes through the same services as the API;
//! the pages only decide who may ask and render the answer.

pub mod admin;
pub mod agents;
pub mod api_keys;
pub mod forms;
pub mod layout;
pub mod login;
pub mod tokens;
pub mod verifiers;
pub mod workspaces;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub const STYLESHEET: &str = include_str!("app.css");
pub const SCRIPT: &str = include_str!("app.js");

pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
     frame-ancestors 'none'; form-action 'self'";

/// The pages and their static files, with the security headers on every answer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/settings/tokens") }))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .merge(login::router())
        .merge(tokens::router())
        .merge(workspaces::router())
        .merge(api_keys::router())
        .merge(agents::router())
        .merge(admin::router())
        .merge(verifiers::router())
        .layer(axum::middleware::map_response(security_headers))
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", SCRIPT)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

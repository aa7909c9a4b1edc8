//! Tessera's server as a library: configuration, the axum router, the
//! verifier and the management API. The `tessera` binary is a thin shell
//! around [`serve`], which the integration tests start too.

pub mod auth;
pub mod basic_auth;
pub mod client;
pub mod config;
pub mod connection_bound;
pub mod connections;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod metrics;
pub mod password;
pub mod principal;
pub mod profiles;
pub mod routes;
pub mod service;
pub mod session;
pub mod state;
pub mod throttle;
pub mod verification;
pub mod web;

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use error::{AppError, AppResult};
pub use state::AppState;

/// Bodies larger than this are refused before any parsing (no request of
/// the API needs more; 1 MB tokens must still get a clean answer).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The OpenAPI document of every route [`build_router`] mounts with the
/// default configuration (no compatibility routes).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = routes::router().split_for_parts().1;
    routes::document_shared_answers(&mut document);
    document
}

/// Every route on one state: the API, the pages and the OpenAPI document,
/// which describes the compatibility routes too where the configuration
/// mounts them.
pub fn build_router(state: AppState) -> Router {
    let (router, mut document) = routes::router_for(&state.config).split_for_parts();
    routes::document_shared_answers(&mut document);
    let document = document.to_json().expect("the OpenAPI document serialises");
    router
        .route(
            OPENAPI_PATH,
            axum::routing::get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], document)
            }),
        )
        .merge(web::router())
        .fallback(|| async { AppError::NotFound })
        .with_state(state)
}

/// What [`serve`] answers with: [`build_router`] inside the layers every
/// request and response passes through. They wrap the router once, rather
/// than each route through `Router::layer`, which boxes and clones every
/// layer of the matched route on every request: on the verification routes
/// that was a tenth of the work.
pub fn build_app(
    state: AppState,
) -> impl Service<
    Request<Body>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
       + Send
       + Sync
       + 'static {
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(
            // Method and path only: headers (Authorization, Cookie) and query
            // strings never reach the log.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .service(build_router(state))
}

/// Serves until `shutdown` resolves, then drains requests and writes the
/// buffered usage. The verifier's background work (other instances'
/// changes, the usage flusher) runs for the server's lifetime.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = state
        .verifier
        .start(state.config.usage_flush_interval)
        .await;
    let app = build_app(state.clone());
    let result =
        connections::serve_connections(listener, app, &state.config.server, shutdown).await;
    drop(background);
    state.flush_usage().await;
    result
}

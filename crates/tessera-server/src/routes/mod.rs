//! The HTTP API, one module per area, merged in one place. Each handler
//! carries its OpenAPI description, and routes are mounted from those
//! descriptions, so the document at `/api/openapi.json` lists exactly what
//! is served.

pub mod admin;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod compat;
pub mod health;
pub mod me;
pub mod session;
pub mod tokens;
pub mod verify;
pub mod views;

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;

use tessera_store::Page;

use crate::error::{AppError, AppResult};
use crate::routes::views::{IssuedView, TokenView};
use crate::service::tokens::{Issued, RotateRequest, TokenScope};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "Personal access tokens, workspace API keys and agent tokens: management, verification and administration."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "session", description = "Browser sign-in"),
        (name = "tokens", description = "Personal access tokens"),
        (name = "api-keys", description = "Workspace API keys"),
        (name = "agents", description = "Agents (service accounts of one workspace) and their tokens"),
        (name = "audit", description = "The audit trail"),
        (name = "admin", description = "Deployment administration"),
        (name = "verify", description = "Verification for products and gateways"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::session::SESSION_COOKIE,
            ))),
        );
    }
}

/// Every route, with the OpenAPI document describing them.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(session::router())
        .merge(me::router())
        .merge(tokens::router())
        .merge(api_keys::router())
        .merge(agents::router())
        .merge(audit::router())
        .merge(admin::router())
        .merge(verify::router())
}

/// Every route a deployment configured by `config` serves: [`router`] and
/// the compatibility routes it switches on.
pub fn router_for(config: &crate::Config) -> OpenApiRouter<AppState> {
    router().merge(compat::router(&config.compat))
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1–500, default 100).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> AppResult<Page> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=tessera_store::MAX_PAGE).contains(&limit) {
            return Err(AppError::Invalid(format!(
                "limit must be between 1 and {}.",
                tessera_store::MAX_PAGE
            )));
        }
        if let Some(cursor) = &self.cursor {
            let plausible = cursor.len() <= 100
                && cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !plausible {
                return Err(AppError::Invalid(
                    "cursor is not a cursor this server gave out.".into(),
                ));
            }
        }
        Ok(Page {
            after: self.cursor.clone(),
            limit,
        })
    }
}

/// `{"items": [...], "next_cursor": null|string}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// A full page may have a successor: its last id is the cursor.
    pub fn paged(items: Vec<T>, page: &Page, id_of: impl Fn(&T) -> &str) -> Self {
        let next_cursor = (items.len() as u32 >= page.limit)
            .then(|| items.last().map(|i| id_of(i).to_owned()))
            .flatten();
        List { items, next_cursor }
    }
}

/// One page of the scope's tokens as the API lists them.
pub async fn token_list(
    state: &AppState,
    scope: &TokenScope<'_>,
    page: &Page,
) -> AppResult<List<TokenView>> {
    let now = OffsetDateTime::now_utc();
    let items: Vec<TokenView> = state
        .tokens
        .list(scope, now, page)
        .await?
        .into_iter()
        .map(|r| TokenView::new(r, now))
        .collect();
    Ok(List::paged(items, page, |t| &t.id))
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

/// The optional body of a rotation, for personal tokens and API keys alike.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old secret keeps working: 0 (default) to 86,400 seconds.
    pub overlap_seconds: Option<u32>,
    pub expires_in: Option<String>,
    pub expires_at: Option<String>,
}

impl RotateBody {
    pub fn request(&self) -> RotateRequest<'_> {
        RotateRequest {
            overlap_seconds: self.overlap_seconds,
            expires_in: self.expires_in.as_deref(),
            expires_at: self.expires_at.as_deref(),
        }
    }
}

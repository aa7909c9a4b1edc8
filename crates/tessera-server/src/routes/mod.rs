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

use time::OffsetDateTime;

use tessera_core::ids::{looks_like, IdKind};
use tessera_core::kind::OwnerType;
use tessera_store::{Agent, Page, TokenFilter, TokenRecord};

use crate::error::{AppError, AppResult};
use crate::routes::views::TokenView;
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

/// Who a token listing or look-up is about: tokens of `owner`'s kinds, of
/// this user (personal or agent tokens) and/or this workspace.
pub struct TokenScope<'a> {
    pub owner: OwnerType,
    pub user_id: Option<&'a str>,
    pub workspace_id: Option<&'a str>,
}

impl<'a> TokenScope<'a> {
    /// A user's personal tokens.
    pub fn personal(user_id: &'a str) -> Self {
        TokenScope {
            owner: OwnerType::User,
            user_id: Some(user_id),
            workspace_id: None,
        }
    }

    /// A workspace's API keys.
    pub fn workspace_keys(workspace_id: &'a str) -> Self {
        TokenScope {
            owner: OwnerType::Workspace,
            user_id: None,
            workspace_id: Some(workspace_id),
        }
    }

    /// An agent's tokens.
    pub fn agent(agent: &'a Agent) -> Self {
        TokenScope {
            owner: OwnerType::Agent,
            user_id: Some(&agent.id),
            workspace_id: Some(&agent.workspace_id),
        }
    }

    /// The store filter for the scope, hiding tokens revoked before
    /// `hide_revoked_before`.
    pub fn filter(&self, state: &AppState, hide_revoked_before: OffsetDateTime) -> TokenFilter {
        TokenFilter {
            user_id: self.user_id.map(str::to_owned),
            workspace_id: self.workspace_id.map(str::to_owned),
            kinds: state.config.kinds.names_owned_by(self.owner),
            hide_revoked_before: Some(hide_revoked_before),
        }
    }

    /// One page of the scope's token records as lists show them: revoked
    /// ones drop out after `tokens.revoked_retention`.
    pub async fn records(
        &self,
        state: &AppState,
        now: OffsetDateTime,
        page: &Page,
    ) -> AppResult<Vec<TokenRecord>> {
        let filter = self.filter(state, now - state.config.revoked_retention);
        Ok(state.store.list_tokens(&filter, page).await?)
    }

    /// One page of the scope's tokens as the API lists them.
    pub async fn page(&self, state: &AppState, page: &Page) -> AppResult<List<TokenView>> {
        let now = OffsetDateTime::now_utc();
        let items: Vec<TokenView> = self
            .records(state, now, page)
            .await?
            .into_iter()
            .map(|r| TokenView::new(r, now))
            .collect();
        Ok(List::paged(items, page, |t| &t.id))
    }

    /// The scope's token with this id, or 404. An id that is not shaped like
    /// one never reaches the store (PostgreSQL refuses a NUL byte with an error).
    pub async fn find(&self, state: &AppState, id: &str) -> AppResult<TokenRecord> {
        if !looks_like(IdKind::Token, id) {
            return Err(AppError::NotFound);
        }
        let kinds = state.config.kinds.names_owned_by(self.owner);
        let within =
            |wanted: Option<&str>, actual: Option<&str>| wanted.is_none() || wanted == actual;
        state
            .store
            .token(id)
            .await?
            .filter(|t| {
                kinds.contains(&t.kind)
                    && within(self.user_id, t.user_id.as_deref())
                    && within(self.workspace_id, t.workspace_id.as_deref())
            })
            .ok_or(AppError::NotFound)
    }
}

//! The HTTP API, one module per area, merged in one place. Each handler
//! carries its OpenAPI description, and routes are mounted from those
//! descriptions, so the document at `/api/openapi.json` lists exactly what
//! is served.

pub mod admin;
pub mod agents;
pub mod api_keys;
pub mod asker;
pub mod audit;
pub mod compat;
pub mod health;
pub mod me;
pub mod session;
pub mod shared;
pub mod tokens;
pub mod verifiers;
pub mod verify;
pub mod views;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{TokenExpirySlot, TOKEN_EXPIRES_HEADER};
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
        (name = "verifiers", description = "Verifier credentials: who may ask the verification surfaces"),
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

/// Adds the answers any route may give and that no handler names itself:
/// 401 wherever a credential is asked for (a missing, malformed or refused
/// one), and 400 wherever a query string or a body is read (one that does
/// not parse, a repeated field, a token in the URL). Found by schemathesis
/// (`tests/campaigns/`), which checks every status against the document.
pub fn document_shared_answers(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{Content, Ref, ResponseBuilder};

    let add_if_missing =
        |responses: &mut std::collections::BTreeMap<_, _>, status: &str, why: &str| {
            responses.entry(status.to_owned()).or_insert_with(|| {
                ResponseBuilder::new()
                    .description(why)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build()
                    .into()
            });
        };
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add_if_missing(
                    responses,
                    "401",
                    "unauthenticated (no credential) or token_invalid",
                );
            }
            let reads_input = operation.request_body.is_some()
                || operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Query);
            if reads_input {
                add_if_missing(
                    responses,
                    "400",
                    "invalid_request: a query string or body that does not parse, or a token in the URL",
                );
            }
        }
    }
}

/// Every route, with the OpenAPI document describing them.
pub fn router() -> OpenApiRouter<AppState> {
    let management = OpenApiRouter::new()
        .merge(session::router())
        .merge(me::router())
        .merge(tokens::router())
        .merge(api_keys::router())
        .merge(agents::router())
        .merge(audit::router())
        .merge(admin::router())
        .merge(verifiers::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(with_token_expiry(management))
        // Forward-auth writes the header itself, from its kept answer.
        .merge(verify::router())
}

/// API answers to a token say when it expires (`Tessera-Token-Expires`,
/// RFC 3339; absent for a token that never expires), as GitHub's
/// `GitHub-Authentication-Token-Expiration` does, so a client can warn
/// before it bites. The caller's extractor notes the expiry in the slot.
fn with_token_expiry(routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.layer(axum::middleware::from_fn(token_expiry_header))
}

async fn token_expiry_header(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slot = TokenExpirySlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(value) = slot.header_value() {
        response
            .headers_mut()
            .insert(TOKEN_EXPIRES_HEADER.clone(), value);
    }
    response
}

/// Every route a deployment configured by `config` serves: [`router`] and
/// the compatibility routes it switches on.
pub fn router_for(config: &crate::config::Config) -> OpenApiRouter<AppState> {
    router().merge(with_token_expiry(compat::router(&config.compat)))
}

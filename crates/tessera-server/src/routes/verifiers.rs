//! Verifier credentials over the API: `POST/GET /api/v1/verifiers`,
//! `DELETE /api/v1/verifiers/{id}`. Deployment admins only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client::ClientInfo;
use crate::error::AppResult;
use crate::extract::{AppJson, AppPath};
use crate::principal::{Actor, Caller};
use crate::routes::shared::List;
use crate::routes::views::{CreatedVerifierView, VerifierView};
use crate::service::verifiers::NewVerifier;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_verifier, list_verifiers))
        .routes(routes!(revoke_verifier))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVerifier {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Answer only about tokens acting in these workspaces (all if absent).
    #[serde(default)]
    workspace_ids: Option<Vec<String>>,
    /// Answer only about tokens of these kinds (all if absent).
    #[serde(default)]
    kinds: Option<Vec<String>>,
}

#[utoipa::path(post, path = "/api/v1/verifiers", tag = "verifiers", request_body = CreateVerifier,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedVerifierView),
        (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody),
        (status = 422, description = "An empty name, an unknown workspace or kind", body = crate::error::ErrorBody),
    ))]
async fn create_verifier(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppJson(body): AppJson<CreateVerifier>,
) -> AppResult<(StatusCode, Json<CreatedVerifierView>)> {
    caller.require_admin()?;
    let (record, secret) = state
        .verifiers
        .create(
            NewVerifier {
                name: body.name,
                workspace_ids: body.workspace_ids.unwrap_or_default(),
                kinds: body.kinds.unwrap_or_default(),
            },
            &Actor::of(&caller, &client),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedVerifierView {
            record: VerifierView::from(&record),
            secret: secret.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/verifiers", tag = "verifiers",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Unrevoked verifier credentials, newest first", body = List<VerifierView>),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody),
    ))]
async fn list_verifiers(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<List<VerifierView>>> {
    caller.require_admin()?;
    let items = state.verifiers.list().await?;
    Ok(Json(List::all(
        items.iter().map(VerifierView::from).collect(),
    )))
}

#[utoipa::path(delete, path = "/api/v1/verifiers/{id}", tag = "verifiers", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked on every instance at once"),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody),
        (status = 404, description = "No such verifier, or already revoked", body = crate::error::ErrorBody),
    ))]
async fn revoke_verifier(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
) -> AppResult<StatusCode> {
    caller.require_admin()?;
    state
        .verifiers
        .revoke(&id, &Actor::of(&caller, &client))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

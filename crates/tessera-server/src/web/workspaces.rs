//! `/settings/workspaces`: the workspaces the signed-in user belongs to,
//! with their role there and links to the workspace's credentials (API keys,
//! and agents where the deployment issues their tokens) for those who may
//! manage them; and that rule, which the credential pages share.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use tessera_core::permissions::API_KEYS_MANAGE;

use crate::error::AppResult;
use crate::service::workspaces::Held;
use crate::state::AppState;
use crate::web::layout::Signed;
use crate::web::layout::{page, respond, Section, WebError};

pub fn router() -> Router<AppState> {
    Router::new().route("/settings/workspaces", get(workspaces))
}

/// The user's workspaces, as (id, name, role).
pub async fn memberships(
    state: &AppState,
    user_id: &str,
) -> AppResult<Vec<(String, String, String)>> {
    Ok(state
        .workspaces
        .memberships_of(user_id)
        .await?
        .into_iter()
        .map(|m| {
            let name = m
                .workspace_name
                .unwrap_or_else(|| m.membership.workspace_id.clone());
            (m.membership.workspace_id, name, m.membership.role)
        })
        .collect())
}

/// The workspace's name and what the signed-in member holds there; 403
/// unless that includes `api_keys:manage`, which governs all of a
/// workspace's credentials (its API keys, its agents and their tokens).
pub async fn may_manage_credentials(
    state: &AppState,
    signed: &Signed,
    wid: &str,
) -> AppResult<(String, Held)> {
    let workspace = state.workspaces.find(wid).await?;
    let held = state
        .workspaces
        .require_in(&signed.caller(), wid, API_KEYS_MANAGE)
        .await?;
    Ok((workspace.name, held))
}

async fn workspaces(State(state): State<AppState>, signed: Signed) -> Result<Response, WebError> {
    let list = memberships(&state, &signed.user.id)
        .await
        .map_err(|e| signed.error(e))?;
    // Agents are offered only where the deployment issues their tokens.
    let has_agents = state.agents.offered();
    let markup = page(
        "Your workspaces",
        Some(&signed),
        Section::Workspaces,
        html! {
            h1 { "Your workspaces" }
            section.card {
                @if list.is_empty() {
                    p { "You are not a member of any workspace yet. A deployment administrator can add you." }
                } @else {
                    div.table-wrap { table.responsive {
                        thead { tr {
                            th scope="col" { "Workspace" } th scope="col" { "Your role" } th scope="col" { "API keys" }
                            @if has_agents { th scope="col" { "Agents" } }
                        } }
                        tbody {
                            @for (id, name, role) in &list {
                                @let may_manage = state.config.roles.get(role).is_some_and(|p| p.contains(tessera_core::permissions::API_KEYS_MANAGE));
                                tr {
                                    td data-label="Workspace" { (name) }
                                    td data-label="Your role" { (role) }
                                    td data-label="API keys" {
                                        @if may_manage {
                                            a href={ "/settings/workspaces/" (id) "/api-keys" } { "Manage API keys" }
                                        } @else { span.muted { "Your role cannot manage keys" } }
                                    }
                                    @if has_agents {
                                        td data-label="Agents" {
                                            @if may_manage {
                                                a href={ "/settings/workspaces/" (id) "/agents" } { "Manage agents" }
                                            } @else { span.muted { "Your role cannot manage agents" } }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

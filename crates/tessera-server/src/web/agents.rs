//! `/settings/workspaces/{wid}/agents…`: a workspace's agents (service
//! accounts) and their tokens, for members whose role may manage workspace
//! credentials (`api_keys:manage`), as the API allows. Creating, changing
//! and removing go through the same service as the API (`service::agents`);
//! these pages read the forms and render the answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::Value;
use time::OffsetDateTime;

use tessera_core::kind::OwnerType;
use tessera_store::{Agent, Page, TokenStatus};

use crate::error::{AppError, AppResult};
use crate::principal::Actor;
use crate::service::agents::AgentTokenRequest;
use crate::service::tokens::{Issued, TokenScope};
use crate::service::workspaces::Held;
use crate::state::AppState;
use crate::web::forms::{first_post, new_form_id, Fields, Posted};
use crate::web::layout::Signed;
use crate::web::layout::{
    csrf_field, expires_cell, last_used_cell, masked, page, permission_choices, preset_label,
    respond, respond_with_secret, rfc3339, secret_panel, short_time, status_badge, Section,
    WebError,
};
use crate::web::tokens::confirm_page;
use crate::web::workspaces::may_manage_credentials;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/workspaces/{wid}/agents", get(list).post(create))
        .route("/settings/workspaces/{wid}/agents/{aid}", get(show))
        .route(
            "/settings/workspaces/{wid}/agents/{aid}/role",
            post(change_role),
        )
        .route(
            "/settings/workspaces/{wid}/agents/{aid}/remove",
            get(confirm_remove).post(remove),
        )
        .route(
            "/settings/workspaces/{wid}/agents/{aid}/tokens",
            post(create_token),
        )
        .route(
            "/settings/workspaces/{wid}/agents/{aid}/tokens/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
}

fn agents_path(wid: &str) -> String {
    format!("/settings/workspaces/{wid}/agents")
}

fn agent_path(agent: &Agent) -> String {
    format!("{}/{}", agents_path(&agent.workspace_id), agent.id)
}

/// An agent's status as its badge shows it.
fn agent_badge(agent: &Agent) -> Markup {
    let name = agent.status.as_str();
    html! { span class={ "badge " (name) } { (name) } }
}

/// What a form asked for, shown again beside its error.
#[derive(Default)]
struct Asked {
    name: String,
    role: Option<String>,
    expires_in: Option<String>,
    permissions: Vec<String>,
}

impl Asked {
    fn from_fields(fields: &Fields) -> Self {
        Asked {
            name: fields.get("name").unwrap_or("").to_owned(),
            role: fields.non_empty("role").map(str::to_owned),
            expires_in: fields.non_empty("expires_in").map(str::to_owned),
            permissions: fields.all("permissions"),
        }
    }

    fn name(&self) -> Value {
        Value::String(self.name.clone())
    }

    fn role(&self) -> Option<Value> {
        self.role.clone().map(Value::String)
    }
}

// --- the workspace's agents ------------------------------------------------------------------

async fn render_list(
    state: &AppState,
    signed: &Signed,
    wid: &str,
    asked: &Asked,
    error: Option<&str>,
) -> AppResult<Markup> {
    let (workspace_name, held) = may_manage_credentials(state, signed, wid).await?;
    let issues_agent_tokens = state.agents.offered();
    let agents = state.agents.list(wid, &Page::first(100)).await?;
    let roles = state.workspaces.roles_within(&held);
    let action = agents_path(wid);
    Ok(page(
        "Workspace agents",
        Some(signed),
        Section::Workspaces,
        html! {
            h1 { "Agents of " (workspace_name) }
            section.card {
                h2 { "Agents" }
                @if agents.is_empty() {
                    p #empty-state { "This workspace has no agents. An agent is a service account of the workspace: a bot or an automation that acts with a role of its own, through tokens you create for it. It can never sign in, and it keeps working when the member who made it leaves." }
                } @else {
                    div.table-wrap { table.responsive #agents {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { "Status" } } }
                        tbody {
                            @for a in &agents {
                                tr data-agent-id=(a.id) {
                                    td data-label="Name" { a href=(agent_path(a)) { (a.name) } }
                                    td data-label="Role" { (a.role.as_deref().unwrap_or("none")) }
                                    td data-label="Created" { time datetime=(rfc3339(a.created_at)) { (short_time(a.created_at)) } }
                                    td data-label="Status" { (agent_badge(a)) }
                                }
                            }
                        }
                    } }
                }
            }
            section.card {
                h2 { "Create agent" }
                @if !issues_agent_tokens {
                    p #no-agent-kind { "This deployment issues no agent tokens, so it has no use for agents. An administrator can add a kind of token owned by agents to the configuration." }
                } @else {
                    @if let Some(error) = error {
                        p.alert role="alert" #form-errors { (error) }
                    }
                    form method="post" action=(action) novalidate {
                        (csrf_field(signed))
                        input type="hidden" name="form_id" value=(new_form_id());
                        label for="agent-name" { "Name" }
                        input #agent-name type="text" name="name" value=(asked.name) maxlength="100" required;
                        label for="agent-role" { "Role" }
                        select #agent-role name="role" required {
                            @for r in &roles {
                                option value=(r) selected[asked.role.as_deref() == Some(r.as_str())] { (r) }
                            }
                        }
                        p.muted { "Only roles that grant no more than your own are offered. The agent's tokens act with its role as it is at each request." }
                        p { button type="submit" { "Create agent" } }
                    }
                }
            }
        },
    ))
}

async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Path(wid): Path<String>,
) -> Result<Response, WebError> {
    let markup = render_list(&state, &signed, &wid, &Asked::default(), None)
        .await
        .map_err(|e| signed.error(e))?;
    Ok(respond(StatusCode::OK, markup))
}

async fn create(
    State(state): State<AppState>,
    Path(wid): Path<String>,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    let asked = Asked::from_fields(&fields);
    let (_, held) = may_manage_credentials(&state, &signed, &wid)
        .await
        .map_err(|e| signed.error(e))?;
    if !first_post(&state, &signed, &fields).await? {
        // A resubmitted form (a double click, a reload): one agent is enough.
        return Ok(Redirect::to(&agents_path(&wid)).into_response());
    }
    let created = state
        .agents
        .create(
            &Actor::of(&signed.caller(), &signed.client),
            &held,
            &wid,
            Some(&asked.name()),
            asked.role().as_ref(),
        )
        .await;
    match created {
        Ok(agent) => Ok(Redirect::to(&agent_path(&agent)).into_response()),
        Err(e) => {
            let m = signed.form_refusal(e)?;
            let markup = render_list(&state, &signed, &wid, &asked, Some(&m))
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup))
        }
    }
}

// --- one agent and its tokens ----------------------------------------------------------------

/// The workspace's agent, for a member who may manage it; with what the
/// member holds there.
async fn managed_agent(
    state: &AppState,
    signed: &Signed,
    wid: &str,
    aid: &str,
) -> AppResult<(Agent, Held)> {
    let (_, held) = may_manage_credentials(state, signed, wid).await?;
    let agent = state.agents.find(wid, aid).await?;
    Ok((agent, held))
}

/// Which of the agent page's forms an error belongs to.
enum FormError<'a> {
    Role(&'a str),
    Token(&'a str),
}

async fn render_agent(
    state: &AppState,
    signed: &Signed,
    wid: &str,
    aid: &str,
    asked: &Asked,
    error: Option<FormError<'_>>,
    issued: Option<&Issued>,
) -> AppResult<Markup> {
    let (agent, held) = managed_agent(state, signed, wid, aid).await?;
    let kind = state.tokens.kind_for(None, OwnerType::Agent)?;
    let now = OffsetDateTime::now_utc();
    let tokens = state
        .tokens
        .list(&TokenScope::agent(&agent), now, &Page::first(100))
        .await?;
    let roles = state.workspaces.roles_within(&held);
    let role_now = state.agents.role_of(&agent);
    let chosen = asked
        .expires_in
        .clone()
        .unwrap_or_else(|| kind.expiry.default.to_string());
    let here = agent_path(&agent);
    let (role_error, token_error) = match error {
        Some(FormError::Role(m)) => (Some(m), None),
        Some(FormError::Token(m)) => (None, Some(m)),
        None => (None, None),
    };
    Ok(page(
        "Agent",
        Some(signed),
        Section::Workspaces,
        html! {
            p { a href=(agents_path(wid)) { "← All agents" } }
            h1 { "Agent " (agent.name) }
            @if let Some(issued) = issued {
                (secret_panel("The agent's new token", issued.token.expose(), &issued.record.name))
            }
            section.card aria-labelledby="role-heading" {
                h2 #role-heading { "Role and status" }
                p { "Status " (agent_badge(&agent)) ", created " time datetime=(rfc3339(agent.created_at)) { (short_time(agent.created_at)) } "." }
                @if let Some(error) = role_error {
                    p.alert role="alert" #role-errors { (error) }
                }
                form method="post" action={ (here) "/role" } novalidate {
                    (csrf_field(signed))
                    label for="agent-role" { "Role" }
                    select #agent-role name="role" required {
                        @for r in &roles {
                            option value=(r) selected[agent.role.as_deref() == Some(r.as_str())] { (r) }
                        }
                    }
                    p.muted { "Its tokens act with the new role from their next request." }
                    p { button type="submit" { "Change role" } }
                }
            }
            section.card aria-labelledby="tokens-heading" {
                h2 #tokens-heading { "Tokens" }
                @if tokens.is_empty() {
                    p #empty-state { "This agent has no tokens yet." }
                } @else {
                    div.table-wrap { table.responsive #agent-tokens {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Token" } th scope="col" { "Permissions" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for t in &tokens {
                                @let status = t.status(now);
                                tr data-token-id=(t.id) {
                                    td data-label="Name" .token-name { (t.name) }
                                    td data-label="Token" { code.masked { (masked(&t.display_prefix, &t.last4)) } }
                                    td data-label="Permissions" { (t.permissions.as_ref().map(|p| p.join(" ")).unwrap_or_else(|| "The agent's role".into())) }
                                    td data-label="Created" { time datetime=(rfc3339(t.created_at)) { (short_time(t.created_at)) } }
                                    td data-label="Last used" { (last_used_cell(t)) }
                                    td data-label="Expires" { (expires_cell(t)) }
                                    td data-label="Status" { (status_badge(status)) }
                                    td data-label="Actions" {
                                        @if status == TokenStatus::Active {
                                            a.button.danger href={ (here) "/tokens/" (t.id) "/revoke" } { "Revoke" span.visually-hidden { " " (t.name) } }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
            section.card aria-labelledby="create-heading" {
                h2 #create-heading { "Create token" }
                @if let Some(error) = token_error {
                    p.alert role="alert" #form-errors { (error) }
                }
                form method="post" action={ (here) "/tokens" } novalidate {
                    (csrf_field(signed))
                    input type="hidden" name="form_id" value=(new_form_id());
                    label for="token-name" { "Name" }
                    input #token-name type="text" name="name" value=(asked.name) maxlength="100" required;
                    label for="token-expiry" { "Expiration" }
                    select #token-expiry name="expires_in" {
                        @for preset in &kind.expiry.presets {
                            @let value = preset.to_string();
                            option value=(value) selected[value == chosen] { (preset_label(&value)) }
                        }
                    }
                    @if kind.allow_narrowing && !role_now.is_empty() {
                        (permission_choices("Permissions (optional: none checked means the agent's whole role, as it is at each request)", &role_now, &asked.permissions))
                    }
                    p { button type="submit" { "Create token" } }
                }
            }
            section.card aria-labelledby="remove-heading" {
                h2 #remove-heading { "Remove agent" }
                p { "Removing the agent revokes all its tokens at once." }
                p { a.button.danger href={ (here) "/remove" } { "Remove agent" } }
            }
        },
    ))
}

async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path((wid, aid)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let markup = render_agent(&state, &signed, &wid, &aid, &Asked::default(), None, None)
        .await
        .map_err(|e| signed.error(e))?;
    Ok(respond(StatusCode::OK, markup))
}

async fn change_role(
    State(state): State<AppState>,
    Path((wid, aid)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    let asked = Asked::from_fields(&fields);
    let result = async {
        let (agent, held) = managed_agent(&state, &signed, &wid, &aid).await?;
        let actor = Actor::of(&signed.caller(), &signed.client);
        state
            .agents
            .change_role(&actor, &held, &agent, asked.role().as_ref())
            .await
    }
    .await;
    match result {
        Ok(agent) => Ok(Redirect::to(&agent_path(&agent)).into_response()),
        Err(e) => {
            let m = signed.form_refusal(e)?;
            let error = Some(FormError::Role(&m));
            let markup = render_agent(&state, &signed, &wid, &aid, &Asked::default(), error, None)
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup))
        }
    }
}

async fn create_token(
    State(state): State<AppState>,
    Path((wid, aid)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    let asked = Asked::from_fields(&fields);
    let (agent, held) = managed_agent(&state, &signed, &wid, &aid)
        .await
        .map_err(|e| signed.error(e))?;
    if !first_post(&state, &signed, &fields).await? {
        // A resubmitted form (a reload): the secret is never shown twice.
        return Ok(Redirect::to(&agent_path(&agent)).into_response());
    }
    let issued = state
        .agents
        .issue_token(
            &Actor::of(&signed.caller(), &signed.client),
            &held,
            &agent,
            AgentTokenRequest {
                name: Some(&asked.name()),
                expires_in: asked.expires_in.as_deref(),
                expires_at: None,
                // None checked: the agent's whole role.
                permissions: (!asked.permissions.is_empty()).then_some(&asked.permissions[..]),
                kind: None,
                ceiling: None,
            },
        )
        .await;
    match issued {
        Ok(issued) => {
            let blank = Asked::default();
            let markup = render_agent(&state, &signed, &wid, &aid, &blank, None, Some(&issued))
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond_with_secret(markup))
        }
        Err(e) => {
            let m = signed.form_refusal(e)?;
            let error = Some(FormError::Token(&m));
            let markup = render_agent(&state, &signed, &wid, &aid, &asked, error, None)
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup))
        }
    }
}

async fn confirm_remove(
    State(state): State<AppState>,
    signed: Signed,
    Path((wid, aid)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (agent, _) = managed_agent(&state, &signed, &wid, &aid)
        .await
        .map_err(|e| signed.error(e))?;
    let here = agent_path(&agent);
    let markup = confirm_page(
        &signed,
        Section::Workspaces,
        &format!("Remove the agent “{}”?", agent.name),
        html! { p { "All its tokens are revoked and stop working at once. This cannot be undone." } },
        &format!("{here}/remove"),
        "Remove agent",
        &here,
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn remove(
    State(state): State<AppState>,
    Path((wid, aid)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let signed = posted.signed;
    let result = async {
        let (agent, _) = managed_agent(&state, &signed, &wid, &aid).await?;
        let actor = Actor::of(&signed.caller(), &signed.client);
        state.agents.remove(&actor, &agent).await
    }
    .await;
    result.map_err(|e| signed.error(e))?;
    Ok(Redirect::to(&agents_path(&wid)).into_response())
}

async fn confirm_revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path((wid, aid, id)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let result = async {
        let (agent, _) = managed_agent(&state, &signed, &wid, &aid).await?;
        let record = state.tokens.find(&TokenScope::agent(&agent), &id).await?;
        Ok::<_, AppError>((agent, record))
    }
    .await;
    let (agent, record) = result.map_err(|e| signed.error(e))?;
    let back = agent_path(&agent);
    let markup = confirm_page(
        &signed,
        Section::Workspaces,
        &format!("Revoke the token “{}”?", record.name),
        html! { p { "The token " code { (masked(&record.display_prefix, &record.last4)) } " of the agent " (agent.name) " stops working at once. This cannot be undone." } },
        &format!("{back}/tokens/{}/revoke", record.id),
        "Revoke token",
        &back,
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn revoke(
    State(state): State<AppState>,
    Path((wid, aid, id)): Path<(String, String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let signed = posted.signed;
    let result = async {
        let (agent, _) = managed_agent(&state, &signed, &wid, &aid).await?;
        let record = state.tokens.find(&TokenScope::agent(&agent), &id).await?;
        let actor = Actor::of(&signed.caller(), &signed.client);
        state.tokens.revoke(&record, &actor, "revoked").await?;
        Ok::<_, AppError>(agent)
    }
    .await;
    let agent = result.map_err(|e| signed.error(e))?;
    Ok(Redirect::to(&agent_path(&agent)).into_response())
}

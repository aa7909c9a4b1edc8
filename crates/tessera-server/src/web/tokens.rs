//! `/settings/tokens`: the signed-in user's personal access tokens — list,
//! create (the secret shown once), rotate, revoke, revoke all.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use time::OffsetDateTime;

use tessera_core::expiry::ExpiryRequest;
use tessera_core::kind::{OwnerType, WorkspaceBinding};
use tessera_store::{Page, TokenRecord, TokenStatus};

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::principal::Actor;
use crate::service::tokens::{Issued, Overlap, PersonalTokenRequest, TokenScope};
use crate::state::AppState;
use crate::web::forms::{first_post, new_form_id, Fields, Posted};
use crate::web::layout::Signed;
use crate::web::layout::{
    csrf_field, expires_cell, last_used_cell, masked, page, permission_choices, preset_label,
    respond, respond_with_secret, rfc3339, secret_panel, short_time, status_badge, Section,
    WebError,
};
use crate::web::workspaces::memberships;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/tokens", get(list).post(create))
        .route(
            "/settings/tokens/revoke-all",
            get(confirm_revoke_all).post(revoke_all),
        )
        .route(
            "/settings/tokens/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
        .route(
            "/settings/tokens/{id}/rotate",
            get(confirm_rotate).post(rotate),
        )
}

/// What the create form held, to show it again with its errors.
#[derive(Default)]
struct CreateForm {
    name: String,
    expires_in: Option<String>,
    permissions: Vec<String>,
    workspace_id: Option<String>,
}

impl CreateForm {
    fn from_fields(fields: &Fields) -> Self {
        CreateForm {
            name: fields.get("name").unwrap_or("").to_owned(),
            expires_in: fields.non_empty("expires_in").map(str::to_owned),
            permissions: fields.all("permissions"),
            workspace_id: fields.non_empty("workspace_id").map(str::to_owned),
        }
    }
}

/// A token just made or rotated, to show this once.
struct Shown {
    heading: &'static str,
    issued: Issued,
}

async fn own_tokens(state: &AppState, signed: &Signed) -> AppResult<Vec<TokenRecord>> {
    state
        .tokens
        .list(
            &TokenScope::personal(&signed.user.id),
            OffsetDateTime::now_utc(),
            &Page::first(100),
        )
        .await
}

/// The signed-in user's own personal token, or 404 (never another's).
async fn own_token(state: &AppState, signed: &Signed, id: &str) -> AppResult<TokenRecord> {
    state
        .tokens
        .find(&TokenScope::personal(&signed.user.id), id)
        .await
}

fn base_url(client: &ClientInfo, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:7400");
    let scheme = if client.over_tls() { "https" } else { "http" };
    format!("{scheme}://{host}")
}

async fn render(
    state: &AppState,
    signed: &Signed,
    headers: &HeaderMap,
    form: &CreateForm,
    errors: &[String],
    shown: Option<&Shown>,
) -> AppResult<Markup> {
    let kind = state.tokens.kind_for(None, OwnerType::User)?;
    let tokens = own_tokens(state, signed).await?;
    let workspaces = memberships(state, &signed.user.id).await?;
    let permissions = state.tokens.grantable(&signed.user.id, None).await?;
    let now = OffsetDateTime::now_utc();
    let active = tokens
        .iter()
        .filter(|t| t.status(now) == TokenStatus::Active)
        .count();
    let default_preset = kind.expiry.default.to_string();
    let chosen = form.expires_in.clone().unwrap_or(default_preset);
    let name_error = errors.iter().find(|e| e.starts_with("Token name"));
    let other_errors: Vec<&String> = errors
        .iter()
        .filter(|e| !e.starts_with("Token name"))
        .collect();
    let base = base_url(&signed.client, headers);
    Ok(page(
        "Personal access tokens",
        Some(signed),
        Section::Tokens,
        html! {
            h1 { "Personal access tokens" }
            @if let Some(shown) = shown {
                (secret_panel(shown.heading, shown.issued.token.expose(), &shown.issued.record.name))
            }
            section.card aria-labelledby="tokens-heading" {
                h2 #tokens-heading { "Your tokens" }
                @if tokens.is_empty() {
                    div #empty-state {
                        p { "You have no tokens yet. A personal access token lets a script, a CI job or a tool call this deployment's API as you, without your password. Give each use its own token, so that you can revoke one without breaking the others." }
                        p { "Use it in the " code { "Authorization" } " header (and, to act in one of your workspaces, the " code { (state.config.auth.workspace_header) } " header):" }
                        pre { code { "curl -H \"Authorization: Bearer " (kind.prefix) "…\" \\\n     -H \"" (state.config.auth.workspace_header) ": wsp_…\" \\\n     " (base) "/api/v1/me" } }
                    }
                } @else {
                    div.table-wrap {
                        table.responsive #tokens {
                            thead { tr {
                                th scope="col" { "Name" } th scope="col" { "Token" } th scope="col" { "Created" }
                                th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            } }
                            tbody {
                                @for t in &tokens {
                                    @let status = t.status(now);
                                    tr data-token-id=(t.id) {
                                        td data-label="Name" .token-name { (t.name) }
                                        td data-label="Token" { code.masked { (masked(&t.display_prefix, &t.last4)) } }
                                        td data-label="Created" { time datetime=(rfc3339(t.created_at)) { (short_time(t.created_at)) } }
                                        td data-label="Last used" { (last_used_cell(t)) }
                                        td data-label="Expires" { (expires_cell(t)) }
                                        td data-label="Status" { (status_badge(status)) }
                                        td data-label="Actions" {
                                            @if status == TokenStatus::Active {
                                                div.actions {
                                                    @if kind.allow_rotation {
                                                        a.button.secondary href={ "/settings/tokens/" (t.id) "/rotate" } { "Rotate" span.visually-hidden { " " (t.name) } }
                                                    }
                                                    a.button.danger href={ "/settings/tokens/" (t.id) "/revoke" } { "Revoke" span.visually-hidden { " " (t.name) } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if active > 0 {
                        p { a.button.danger href="/settings/tokens/revoke-all" { "Delete all tokens" } }
                    }
                }
            }
            section.card aria-labelledby="create-heading" {
                h2 #create-heading { "Create token" }
                @if !other_errors.is_empty() {
                    div.alert role="alert" #form-errors { @for e in &other_errors { p { (e) } } }
                }
                form method="post" action="/settings/tokens" novalidate {
                    (csrf_field(signed))
                    input type="hidden" name="form_id" value=(new_form_id());
                    label for="token-name" { "Name" }
                    input #token-name type="text" name="name" value=(form.name) maxlength="100" required
                        aria-describedby="token-name-help" aria-invalid=[name_error.map(|_| "true")];
                    @if let Some(e) = name_error {
                        p.error #token-name-error role="alert" { (e) }
                    }
                    p.muted #token-name-help { "What the token is for, such as “CI deploy”." }
                    label for="token-expiry" { "Expiration" }
                    select #token-expiry name="expires_in" {
                        @for preset in &kind.expiry.presets {
                            @let value = preset.to_string();
                            option value=(value) selected[value == chosen] { (preset_label(&value)) }
                        }
                    }
                    @if kind.allow_narrowing && !permissions.is_empty() {
                        (permission_choices("Permissions (optional: none checked means everything your role allows)", &permissions, &form.permissions))
                    }
                    @if kind.binding == WorkspaceBinding::Bound && !workspaces.is_empty() {
                        // Tokens here belong to one workspace: pick it.
                        label for="token-workspace" { "Workspace" }
                        select #token-workspace name="workspace_id" required {
                            @for (id, name, _) in &workspaces {
                                option value=(id) selected[form.workspace_id.as_deref() == Some(id.as_str())] { (name) }
                            }
                        }
                    } @else if kind.binding != WorkspaceBinding::None && !workspaces.is_empty() {
                        label for="token-workspace" { "Workspace (optional)" }
                        select #token-workspace name="workspace_id" {
                            option value="" { "Any of my workspaces" }
                            @for (id, name, _) in &workspaces {
                                option value=(id) selected[form.workspace_id.as_deref() == Some(id.as_str())] { (name) }
                            }
                        }
                    }
                    p { button type="submit" { "Create token" } }
                }
            }
        },
    ))
}

async fn list(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let markup = render(&state, &signed, &headers, &CreateForm::default(), &[], None)
        .await
        .map_err(|e| signed.error(e))?;
    Ok(respond(StatusCode::OK, markup))
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    let form = CreateForm::from_fields(&fields);
    if !first_post(&state, &signed, &fields).await? {
        // A resubmitted form (a reload): the secret is never shown twice.
        return Ok(Redirect::to("/settings/tokens").into_response());
    }
    match issue(&state, &signed, &form).await {
        Ok(issued) => {
            let shown = Shown {
                heading: "Your new token",
                issued,
            };
            let markup = render(
                &state,
                &signed,
                &headers,
                &CreateForm::default(),
                &[],
                Some(&shown),
            )
            .await
            .map_err(|e| signed.error(e))?;
            Ok(respond_with_secret(markup))
        }
        Err(e) => {
            let message = signed.form_refusal(e)?;
            let markup = render(&state, &signed, &headers, &form, &[message], None)
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup))
        }
    }
}

/// The API's create rules for a signed-in user, in the form's words.
async fn issue(state: &AppState, signed: &Signed, form: &CreateForm) -> AppResult<Issued> {
    let caller = signed.caller();
    let name = serde_json::Value::String(form.name.clone());
    state
        .tokens
        .create_personal(
            &caller,
            &Actor::of(&caller, &signed.client),
            PersonalTokenRequest {
                name: Some(&name),
                expires_in: form.expires_in.as_deref(),
                expires_at: None,
                // None checked means no narrowing.
                permissions: (!form.permissions.is_empty()).then_some(&form.permissions[..]),
                workspace_id: form.workspace_id.clone(),
                kind: None,
                workspace_header: None,
            },
        )
        .await
}

/// A confirmation page: what will happen, a button that does it, a way back.
#[allow(clippy::too_many_arguments)]
pub fn confirm_page(
    signed: &Signed,
    section: Section,
    title: &str,
    explanation: Markup,
    action: &str,
    button: &str,
    back: &str,
    extra: Markup,
) -> Markup {
    page(
        title,
        Some(signed),
        section,
        html! {
            section.card {
                h1 { (title) }
                (explanation)
                form method="post" action=(action) {
                    (csrf_field(signed))
                    (extra)
                    div.actions {
                        button.danger type="submit" { (button) }
                        a.button.secondary href=(back) { "Cancel" }
                    }
                }
            }
        },
    )
}

async fn confirm_revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let record = own_token(&state, &signed, &id)
        .await
        .map_err(|e| signed.error(e))?;
    let markup = confirm_page(
        &signed,
        Section::Tokens,
        &format!("Revoke the token “{}”?", record.name),
        html! {
            p { "The token " code { (masked(&record.display_prefix, &record.last4)) } " stops working at once, for every script or tool that uses it. This cannot be undone." }
        },
        &format!("/settings/tokens/{}/revoke", record.id),
        "Revoke token",
        "/settings/tokens",
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, WebError> {
    let signed = posted.signed;
    let record = own_token(&state, &signed, &id)
        .await
        .map_err(|e| signed.error(e))?;
    state
        .tokens
        .revoke(
            &record,
            &Actor::of(&signed.caller(), &signed.client),
            "revoked",
        )
        .await
        .map_err(|e| signed.error(e))?;
    Ok(Redirect::to("/settings/tokens").into_response())
}

async fn confirm_revoke_all(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, WebError> {
    let now = OffsetDateTime::now_utc();
    let count = own_tokens(&state, &signed)
        .await
        .map_err(|e| signed.error(e))?
        .iter()
        .filter(|t| t.status(now) == TokenStatus::Active)
        .count();
    let noun = if count == 1 { "token" } else { "tokens" };
    let markup = confirm_page(
        &signed,
        Section::Tokens,
        &format!("Delete all {count} active {noun}?"),
        html! {
            p #revoke-all-count { "All " strong { (count) } " of your active personal access " (noun) " will be revoked at once. Every script or tool using them stops working. This cannot be undone." }
        },
        "/settings/tokens/revoke-all",
        &format!("Revoke all {count} {noun}"),
        "/settings/tokens",
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn revoke_all(State(state): State<AppState>, posted: Posted) -> Result<Response, WebError> {
    let signed = posted.signed;
    state
        .tokens
        .revoke_all(
            &signed.user.id,
            &Actor::of(&signed.caller(), &signed.client),
            "revoked_all",
        )
        .await
        .map_err(|e| signed.error(e))?;
    Ok(Redirect::to("/settings/tokens").into_response())
}

/// The overlap choices offered when rotating: (form value, overlap, label).
pub const OVERLAPS: [(&str, Overlap, &str); 4] = [
    ("0", Overlap::Seconds(0), "Immediately"),
    ("3600", Overlap::Seconds(3_600), "After 1 hour"),
    ("86400", Overlap::Seconds(86_400), "After 24 hours"),
    (
        "until_first_use",
        Overlap::UntilFirstUse,
        "When the new secret is first used (a minute after)",
    ),
];

async fn confirm_rotate(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let record = own_token(&state, &signed, &id)
        .await
        .map_err(|e| signed.error(e))?;
    let markup = confirm_page(
        &signed,
        Section::Tokens,
        &format!("Rotate the token “{}”?", record.name),
        html! {
            p { "The token " code { (masked(&record.display_prefix, &record.last4)) } " gets a new secret, shown once. Choose when the old secret stops working, so that you have time to replace it everywhere." }
        },
        &format!("/settings/tokens/{}/rotate", record.id),
        "Rotate token",
        "/settings/tokens",
        html! {
            input type="hidden" name="form_id" value=(new_form_id());
            fieldset {
                legend { "The old secret stops working" }
                @for (value, _, label) in OVERLAPS {
                    label for={ "overlap-" (value) } {
                        input #{ "overlap-" (value) } type="radio" name="overlap_seconds" value=(value) checked[value == "0"];
                        (label)
                    }
                }
            }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    if !first_post(&state, &signed, &fields).await? {
        return Ok(Redirect::to("/settings/tokens").into_response());
    }
    let chosen = fields.get("overlap_seconds").unwrap_or("0");
    let Some(&(_, overlap, _)) = OVERLAPS.iter().find(|(value, ..)| *value == chosen) else {
        return Err(signed.error(AppError::Invalid(
            "Choose when the old secret stops working.".into(),
        )));
    };
    let record = own_token(&state, &signed, &id)
        .await
        .map_err(|e| signed.error(e))?;
    let issued = state
        .tokens
        .rotate(
            &record,
            overlap,
            ExpiryRequest::Default,
            None,
            &Actor::of(&signed.caller(), &signed.client),
        )
        .await
        .map_err(|e| signed.error(e))?;
    let shown = Shown {
        heading: "The new secret of your token",
        issued,
    };
    let markup = render(
        &state,
        &signed,
        &headers,
        &CreateForm::default(),
        &[],
        Some(&shown),
    )
    .await
    .map_err(|e| signed.error(e))?;
    Ok(respond_with_secret(markup))
}

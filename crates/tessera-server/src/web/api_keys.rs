//! `/settings/workspaces/{wid}/api-keys`: a workspace's API keys, for members
//! whose role may manage them (`api_keys:manage`); everyone else gets 403.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use time::OffsetDateTime;

use tessera_core::kind::OwnerType;
use tessera_store::{Page, TokenStatus};

use crate::error::AppResult;
use crate::principal::Actor;
use crate::service::api_keys::PageKeyRequest;
use crate::service::tokens::Issued;
use crate::service::workspaces::Held;
use crate::state::AppState;
use crate::web::forms::{first_post, new_form_id, Posted};
use crate::web::layout::Signed;
use crate::web::layout::{
    csrf_field, expires_cell, last_used_cell, masked, page, preset_label, respond,
    respond_with_secret, rfc3339, secret_panel, short_time, status_badge, Section, WebError,
};
use crate::web::tokens::confirm_page;
use crate::web::workspaces::may_manage_credentials;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/settings/workspaces/{wid}/api-keys",
            get(list).post(create),
        )
        .route(
            "/settings/workspaces/{wid}/api-keys/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
}

struct KeyForm {
    name: String,
    role: Option<String>,
    expires_in: Option<String>,
}

async fn render(
    state: &AppState,
    signed: &Signed,
    wid: &str,
    form: &KeyForm,
    error: Option<&str>,
    issued: Option<&Issued>,
) -> AppResult<maud::Markup> {
    let (workspace_name, held) = may_manage_credentials(state, signed, wid).await?;
    let kind = state.tokens.kind_for(None, OwnerType::Workspace)?;
    let records = state
        .api_keys
        .list(wid, OffsetDateTime::now_utc(), &Page::first(100))
        .await?;
    let roles = state.workspaces.roles_within(&held);
    let now = OffsetDateTime::now_utc();
    let chosen = form
        .expires_in
        .clone()
        .unwrap_or_else(|| kind.expiry.default.to_string());
    let action = format!("/settings/workspaces/{wid}/api-keys");
    Ok(page(
        "Workspace API keys",
        Some(signed),
        Section::Workspaces,
        html! {
            h1 { "API keys of " (workspace_name) }
            @if let Some(issued) = issued {
                (secret_panel("Your new API key", issued.token.expose(), &issued.record.name))
            }
            section.card {
                h2 { "Keys" }
                @if records.is_empty() {
                    p #empty-state { "This workspace has no API keys. An API key belongs to the workspace, not to a person: it keeps working when the member who made it leaves, with the role chosen here." }
                } @else {
                    div.table-wrap { table.responsive #api-keys {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for k in &records {
                                @let status = k.status(now);
                                tr data-token-id=(k.id) {
                                    td data-label="Name" .token-name { (k.name) }
                                    td data-label="Key" { code.masked { (masked(&k.display_prefix, &k.last4)) } }
                                    td data-label="Role" { (k.role.clone().unwrap_or_else(|| k.permissions.clone().unwrap_or_default().join(" "))) }
                                    td data-label="Created" { time datetime=(rfc3339(k.created_at)) { (short_time(k.created_at)) } }
                                    td data-label="Last used" { (last_used_cell(k)) }
                                    td data-label="Expires" { (expires_cell(k)) }
                                    td data-label="Status" { (status_badge(status)) }
                                    td data-label="Actions" {
                                        @if status == TokenStatus::Active {
                                            a.button.danger href={ (action) "/" (k.id) "/revoke" } { "Revoke" span.visually-hidden { " " (k.name) } }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
            section.card {
                h2 { "Create API key" }
                @if let Some(error) = error {
                    p.alert role="alert" #form-errors { (error) }
                }
                form method="post" action=(action) novalidate {
                    (csrf_field(signed))
                    input type="hidden" name="form_id" value=(new_form_id());
                    label for="key-name" { "Name" }
                    input #key-name type="text" name="name" value=(form.name) maxlength="100" required;
                    label for="key-role" { "Role" }
                    select #key-role name="role" required {
                        @for r in &roles {
                            option value=(r) selected[form.role.as_deref() == Some(r.as_str())] { (r) }
                        }
                    }
                    p.muted { "Only roles that grant no more than your own are offered." }
                    label for="key-expiry" { "Expiration" }
                    select #key-expiry name="expires_in" {
                        @for preset in &kind.expiry.presets {
                            @let value = preset.to_string();
                            option value=(value) selected[value == chosen] { (preset_label(&value)) }
                        }
                    }
                    p { button type="submit" { "Create API key" } }
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
    let form = KeyForm {
        name: String::new(),
        role: None,
        expires_in: None,
    };
    let markup = render(&state, &signed, &wid, &form, None, None)
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
    let form = KeyForm {
        name: fields.get("name").unwrap_or("").to_owned(),
        role: fields.non_empty("role").map(str::to_owned),
        expires_in: fields.non_empty("expires_in").map(str::to_owned),
    };
    let (_, held) = may_manage_credentials(&state, &signed, &wid)
        .await
        .map_err(|e| signed.error(e))?;
    if !first_post(&state, &signed, &fields).await? {
        return Ok(Redirect::to(&format!("/settings/workspaces/{wid}/api-keys")).into_response());
    }
    match issue(&state, &signed, &wid, &held, &form).await {
        Ok(issued) => {
            let blank = KeyForm {
                name: String::new(),
                role: None,
                expires_in: None,
            };
            let markup = render(&state, &signed, &wid, &blank, None, Some(&issued))
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond_with_secret(markup))
        }
        Err(e) => {
            let m = signed.form_refusal(e)?;
            let markup = render(&state, &signed, &wid, &form, Some(&m), None)
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup))
        }
    }
}

async fn issue(
    state: &AppState,
    signed: &Signed,
    wid: &str,
    held: &Held,
    form: &KeyForm,
) -> AppResult<Issued> {
    state
        .api_keys
        .create_from_page(
            &Actor::of(&signed.caller(), &signed.client),
            held,
            wid,
            PageKeyRequest {
                name: &form.name,
                role: form.role.as_deref(),
                expires_in: form.expires_in.as_deref(),
            },
        )
        .await
}

async fn confirm_revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path((wid, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let result = async {
        may_manage_credentials(&state, &signed, &wid).await?;
        state.api_keys.find(&wid, &id).await
    }
    .await;
    let record = result.map_err(|e| signed.error(e))?;
    let back = format!("/settings/workspaces/{wid}/api-keys");
    let markup = confirm_page(
        &signed,
        Section::Workspaces,
        &format!("Revoke the API key “{}”?", record.name),
        html! { p { "The key " code { (masked(&record.display_prefix, &record.last4)) } " stops working at once. This cannot be undone." } },
        &format!("{back}/{}/revoke", record.id),
        "Revoke API key",
        &back,
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn revoke(
    State(state): State<AppState>,
    Path((wid, id)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let signed = posted.signed;
    let result = async {
        may_manage_credentials(&state, &signed, &wid).await?;
        let record = state.api_keys.find(&wid, &id).await?;
        state
            .tokens
            .revoke(
                &record,
                &Actor::of(&signed.caller(), &signed.client),
                "revoked",
            )
            .await
    }
    .await;
    result.map_err(|e| signed.error(e))?;
    Ok(Redirect::to(&format!("/settings/workspaces/{wid}/api-keys")).into_response())
}

//! `/admin/verifiers`: the deployment's verifier credentials, for admins —
//! create one (its secret shown once), see who may ask, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::html;

use tessera_store::{Page, VerifierCredential};

use crate::error::{AppError, AppResult};
use crate::principal::Actor;
use crate::service::verifiers::NewVerifier;
use crate::state::AppState;
use crate::web::admin::{admin_nav, require_admin};
use crate::web::forms::{first_post, new_form_id, Posted};
use crate::web::layout::Signed;
use crate::web::layout::{
    csrf_field, page, respond, respond_with_secret, rfc3339, secret_panel, short_time, Section,
    WebError,
};
use crate::web::tokens::confirm_page;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/verifiers", get(list).post(create))
        .route(
            "/admin/verifiers/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
}

/// "all" for an empty restriction, else the names, space-separated.
fn audience_cell(list: &[String]) -> String {
    if list.is_empty() {
        "all".into()
    } else {
        list.join(" ")
    }
}

async fn render(
    state: &AppState,
    signed: &Signed,
    form: &NewVerifier,
    error: Option<&str>,
    created: Option<(&VerifierCredential, &str)>,
) -> AppResult<maud::Markup> {
    let verifiers = state.verifiers.list().await?;
    let workspaces = state.workspaces.list(&Page::first(500)).await?;
    let kinds: Vec<&str> = state.config.kinds.iter().map(|k| k.name.as_str()).collect();
    Ok(page(
        "Verifiers",
        Some(signed),
        Section::Admin,
        html! {
            h1 { "Verifiers" }
            (admin_nav())
            @if let Some((record, secret)) = created {
                (secret_panel("The new verifier's secret", secret, &record.name))
                p { "Send it as the header " code { "Tessera-Verifier: <secret>" } " on " code { "POST /api/v1/verify" } ", " code { "POST /oauth/introspect" } " and " code { "GET /auth" } "." }
            }
            section.card {
                h2 { "Who may ask about tokens" }
                p.muted { "Products and gateways present a verifier credential to verify tokens. One restricted to some workspaces or kinds learns nothing about any other token." }
                @if verifiers.is_empty() {
                    p #empty-state { "No verifier credentials: the verification surfaces answer nobody until you create one." }
                } @else {
                    div.table-wrap { table.responsive #verifiers {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "ID" } th scope="col" { "Workspaces" } th scope="col" { "Kinds" } th scope="col" { "Created" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for v in &verifiers {
                                tr data-verifier-id=(v.id) {
                                    td data-label="Name" .verifier-name { (v.name) }
                                    td data-label="ID" { code { (v.id) } }
                                    td data-label="Workspaces" { (audience_cell(&v.audience.workspace_ids)) }
                                    td data-label="Kinds" { (audience_cell(&v.audience.kinds)) }
                                    td data-label="Created" { time datetime=(rfc3339(v.created_at)) { (short_time(v.created_at)) } }
                                    td data-label="Actions" {
                                        a.button.danger href={ "/admin/verifiers/" (v.id) "/revoke" } { "Revoke" span.visually-hidden { " " (v.name) } }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
            section.card {
                h2 { "Create verifier" }
                @if let Some(error) = error {
                    p.alert role="alert" #form-errors { (error) }
                }
                form method="post" action="/admin/verifiers" novalidate {
                    (csrf_field(signed))
                    input type="hidden" name="form_id" value=(new_form_id());
                    label for="verifier-name" { "Name" }
                    input #verifier-name type="text" name="name" value=(form.name) maxlength="100" required;
                    fieldset {
                        legend { "Workspaces it may ask about (none checked: all)" }
                        @for w in &workspaces {
                            label.checkbox {
                                input type="checkbox" name="workspace_ids" value=(w.id) checked[form.workspace_ids.contains(&w.id)];
                                " " (w.name)
                            }
                        }
                    }
                    fieldset {
                        legend { "Kinds it may ask about (none checked: all)" }
                        @for k in &kinds {
                            label.checkbox {
                                input type="checkbox" name="kinds" value=(k) checked[form.kinds.iter().any(|c| c == k)];
                                " " (k)
                            }
                        }
                    }
                    p { button type="submit" { "Create verifier" } }
                }
            }
        },
    ))
}

async fn list(State(state): State<AppState>, signed: Signed) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let markup = render(&state, &signed, &NewVerifier::default(), None, None)
        .await
        .map_err(|e| signed.error(e))?;
    Ok(respond(StatusCode::OK, markup))
}

async fn create(State(state): State<AppState>, posted: Posted) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    require_admin(&signed)?;
    let form = NewVerifier {
        name: fields.get("name").unwrap_or("").to_owned(),
        workspace_ids: fields.all("workspace_ids"),
        kinds: fields.all("kinds"),
    };
    if !first_post(&state, &signed, &fields).await? {
        return Ok(Redirect::to("/admin/verifiers").into_response());
    }
    let actor = Actor::of(&signed.caller(), &signed.client);
    match state.verifiers.create(form.clone(), &actor).await {
        Ok((record, secret)) => {
            let markup = render(
                &state,
                &signed,
                &NewVerifier::default(),
                None,
                Some((&record, secret.expose())),
            )
            .await
            .map_err(|e| signed.error(e))?;
            Ok(respond_with_secret(markup))
        }
        Err(e) => {
            let message = signed.form_refusal(e)?;
            let markup = render(&state, &signed, &form, Some(&message), None)
                .await
                .map_err(|e| signed.error(e))?;
            Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, markup))
        }
    }
}

async fn confirm_revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let verifiers = state.verifiers.list().await.map_err(|e| signed.error(e))?;
    let record = verifiers
        .iter()
        .find(|v| v.id == id)
        .ok_or_else(|| signed.error(AppError::NotFound))?;
    let markup = confirm_page(
        &signed,
        Section::Admin,
        &format!("Revoke the verifier “{}”?", record.name),
        html! { p { "Every product or gateway asking with it is refused at once, on every instance: their requests fail closed until they get a new credential. This cannot be undone." } },
        &format!("/admin/verifiers/{}/revoke", record.id),
        "Revoke verifier",
        "/admin/verifiers",
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
    require_admin(&signed)?;
    state
        .verifiers
        .revoke(&id, &Actor::of(&signed.caller(), &signed.client))
        .await
        .map_err(|e| signed.error(e))?;
    Ok(Redirect::to("/admin/verifiers").into_response())
}

//! `/admin/…`: deployment administration for admins — users (suspend,
//! reactivate, remove), workspaces and their members, the audit trail
//! (verifier credentials are in [`super::verifiers`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use tessera_core::policy::UserStatus;
use tessera_store::{AuditFilter, Page};

use crate::error::{AppError, AppResult};
use crate::principal::Actor;
use crate::state::AppState;
use crate::web::forms::Posted;
use crate::web::layout::Signed;
use crate::web::layout::{csrf_field, page, respond, rfc3339, short_time, Section, WebError};
use crate::web::tokens::confirm_page;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/users") }))
        .route("/admin/users", get(users))
        .route(
            "/admin/users/{id}/{action}",
            get(confirm_status).post(change_status),
        )
        .route("/admin/workspaces", get(workspaces).post(create_workspace))
        .route("/admin/workspaces/{wid}", get(workspace))
        .route("/admin/workspaces/{wid}/members", post(set_member))
        .route(
            "/admin/workspaces/{wid}/members/{uid}/remove",
            get(confirm_remove_member).post(remove_member),
        )
        .route("/admin/audit", get(audit))
}

pub(super) fn admin_nav() -> maud::Markup {
    html! {
        nav aria-label="Administration" .actions {
            a href="/admin/users" { "Users" }
            a href="/admin/workspaces" { "Workspaces" }
            a href="/admin/verifiers" { "Verifiers" }
            a href="/admin/audit" { "Audit trail" }
        }
    }
}

/// 403 unless the signed-in user is a deployment admin.
pub(super) fn require_admin(signed: &Signed) -> Result<(), WebError> {
    signed
        .caller()
        .require_admin()
        .map(|_| ())
        .map_err(|e| signed.error(e))
}

fn status_name(status: UserStatus) -> &'static str {
    status.as_str()
}

async fn users(State(state): State<AppState>, signed: Signed) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let list = state
        .users
        .list(&Page::first(500))
        .await
        .map_err(|e| signed.error(e))?;
    let markup = page(
        "Users",
        Some(&signed),
        Section::Admin,
        html! {
            h1 { "Users" }
            (admin_nav())
            section.card { div.table-wrap { table.responsive #users {
                thead { tr { th scope="col" { "Username" } th scope="col" { "Name" } th scope="col" { "Admin" } th scope="col" { "Status" } th scope="col" { "Created" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for u in &list {
                        tr data-user-id=(u.id) {
                            td data-label="Username" { (u.username) }
                            td data-label="Name" { (u.display_name) }
                            td data-label="Admin" { @if u.is_admin { "yes" } @else { "no" } }
                            td data-label="Status" { span class={ "badge " (status_name(u.status)) } { (status_name(u.status)) } }
                            td data-label="Created" { time datetime=(rfc3339(u.created_at)) { (short_time(u.created_at)) } }
                            td data-label="Actions" {
                                @if u.id != signed.user.id && u.status != UserStatus::Removed {
                                    div.actions {
                                        @if u.status == UserStatus::Active {
                                            a.button.secondary href={ "/admin/users/" (u.id) "/suspend" } { "Suspend" span.visually-hidden { " " (u.username) } }
                                        } @else {
                                            a.button.secondary href={ "/admin/users/" (u.id) "/reactivate" } { "Reactivate" span.visually-hidden { " " (u.username) } }
                                        }
                                        a.button.danger href={ "/admin/users/" (u.id) "/remove" } { "Remove" span.visually-hidden { " " (u.username) } }
                                    }
                                }
                            }
                        }
                    }
                }
            } } }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

fn status_action(action: &str) -> AppResult<(UserStatus, &'static str, &'static str)> {
    match action {
        "suspend" => Ok((
            UserStatus::Suspended,
            "Suspend",
            "Their sessions end and their personal tokens stop working at once, until they are reactivated.",
        )),
        "reactivate" => Ok((
            UserStatus::Active,
            "Reactivate",
            "They can sign in again and their unexpired tokens work again.",
        )),
        "remove" => Ok((
            UserStatus::Removed,
            "Remove",
            "Their personal tokens are revoked and they leave every workspace; workspace API keys they created live on. This cannot be undone.",
        )),
        _ => Err(AppError::NotFound),
    }
}

async fn confirm_status(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let (_, verb, effect) = status_action(&action).map_err(|e| signed.error(e))?;
    let user = state.users.find(&id).await.map_err(|e| signed.error(e))?;
    let markup = confirm_page(
        &signed,
        Section::Admin,
        &format!("{verb} the user “{}”?", user.username),
        html! { p { (effect) } },
        &format!("/admin/users/{}/{action}", user.id),
        &format!("{verb} {}", user.username),
        "/admin/users",
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn change_status(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let signed = posted.signed;
    require_admin(&signed)?;
    let result = async {
        let (status, _, _) = status_action(&action)?;
        let actor = Actor::of(&signed.caller(), &signed.client);
        state
            .users
            .change_status(&signed.user, &id, status, &actor)
            .await
    }
    .await;
    result.map_err(|e| signed.error(e))?;
    Ok(Redirect::to("/admin/users").into_response())
}

async fn workspaces(State(state): State<AppState>, signed: Signed) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let list = state
        .workspaces
        .list(&Page::first(500))
        .await
        .map_err(|e| signed.error(e))?;
    let markup = page(
        "Workspaces",
        Some(&signed),
        Section::Admin,
        html! {
            h1 { "Workspaces" }
            (admin_nav())
            section.card {
                @if list.is_empty() { p { "No workspaces yet." } } @else {
                    div.table-wrap { table.responsive #workspaces {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" } } }
                        tbody { @for w in &list { tr {
                            td data-label="Name" { a href={ "/admin/workspaces/" (w.id) } { (w.name) } }
                            td data-label="Id" { code { (w.id) } }
                            td data-label="Created" { (short_time(w.created_at)) }
                        } } }
                    } }
                }
            }
            section.card {
                h2 { "Create workspace" }
                form method="post" action="/admin/workspaces" {
                    (csrf_field(&signed))
                    label for="workspace-name" { "Name" }
                    input #workspace-name type="text" name="name" maxlength="100" required;
                    p { button type="submit" { "Create workspace" } }
                }
            }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn create_workspace(
    State(state): State<AppState>,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    require_admin(&signed)?;
    let workspace = state
        .workspaces
        .create(
            fields.get("name").unwrap_or(""),
            &Actor::of(&signed.caller(), &signed.client),
        )
        .await
        .map_err(|e| signed.error(e))?;
    Ok(Redirect::to(&format!("/admin/workspaces/{}", workspace.id)).into_response())
}

async fn workspace(
    State(state): State<AppState>,
    signed: Signed,
    Path(wid): Path<String>,
) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let result = async {
        let workspace = state.workspaces.find(&wid).await?;
        let mut members = Vec::new();
        for m in state.workspaces.members(&wid).await? {
            let username = match state.users.find(&m.user_id).await {
                Ok(user) => user.username,
                // A member whose user record is gone is shown by id.
                Err(AppError::NotFound) => m.user_id.clone(),
                Err(e) => return Err(e),
            };
            members.push((m, username));
        }
        Ok::<_, AppError>((workspace, members))
    }
    .await;
    let (workspace, members) = result.map_err(|e| signed.error(e))?;
    let roles: Vec<&str> = state.config.roles.role_names().collect();
    let action = format!("/admin/workspaces/{}/members", workspace.id);
    let markup = page(
        "Workspace",
        Some(&signed),
        Section::Admin,
        html! {
            h1 { "Workspace " (workspace.name) }
            (admin_nav())
            section.card {
                h2 { "Members" }
                @if members.is_empty() { p { "No members yet." } } @else {
                    div.table-wrap { table.responsive #members {
                        thead { tr { th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody { @for (m, username) in &members {
                            tr data-user-id=(m.user_id) {
                                td data-label="User" { (username) }
                                td data-label="Role" {
                                    form.actions method="post" action=(action) {
                                        (csrf_field(&signed))
                                        input type="hidden" name="username" value=(username);
                                        label.visually-hidden for={ "role-" (m.user_id) } { "Role of " (username) }
                                        select #{ "role-" (m.user_id) } name="role" {
                                            @for r in &roles { option value=(r) selected[*r == m.role] { (r) } }
                                        }
                                        button.secondary type="submit" { "Change role" span.visually-hidden { " of " (username) } }
                                    }
                                }
                                td data-label="Actions" {
                                    a.button.danger href={ (action) "/" (m.user_id) "/remove" } { "Remove" span.visually-hidden { " " (username) } }
                                }
                            }
                        } }
                    } }
                }
            }
            section.card {
                h2 { "Add a member" }
                form method="post" action=(action) {
                    (csrf_field(&signed))
                    label for="member-username" { "Username" }
                    input #member-username type="text" name="username" required;
                    label for="member-role" { "Role" }
                    select #member-role name="role" {
                        @for r in &roles { option value=(r) { (r) } }
                    }
                    p { button type="submit" { "Add member" } }
                }
            }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn set_member(
    State(state): State<AppState>,
    Path(wid): Path<String>,
    posted: Posted,
) -> Result<Response, WebError> {
    let Posted { signed, fields } = posted;
    require_admin(&signed)?;
    let result = async {
        state.workspaces.find(&wid).await?;
        let username = fields.get("username").unwrap_or("").trim();
        let user = state
            .users
            .by_username(username)
            .await?
            .filter(|u| u.status != UserStatus::Removed)
            .ok_or_else(|| AppError::Invalid(format!("There is no user “{username}”.")))?;
        state
            .workspaces
            .set_member_role(
                &wid,
                &user.id,
                fields.get("role").unwrap_or(""),
                &Actor::of(&signed.caller(), &signed.client),
            )
            .await
    }
    .await;
    result.map_err(|e| signed.error(e))?;
    Ok(Redirect::to(&format!("/admin/workspaces/{wid}")).into_response())
}

async fn confirm_remove_member(
    State(state): State<AppState>,
    signed: Signed,
    Path((wid, uid)): Path<(String, String)>,
) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let result = async {
        Ok::<_, AppError>((
            state.workspaces.find(&wid).await?,
            state.users.find(&uid).await?,
        ))
    }
    .await;
    let (workspace, user) = result.map_err(|e| signed.error(e))?;
    let markup = confirm_page(
        &signed,
        Section::Admin,
        &format!("Remove {} from {}?", user.username, workspace.name),
        html! { p { "Their personal tokens stop working in this workspace on their next request." } },
        &format!("/admin/workspaces/{wid}/members/{uid}/remove"),
        "Remove member",
        &format!("/admin/workspaces/{wid}"),
        html! {},
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn remove_member(
    State(state): State<AppState>,
    Path((wid, uid)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, WebError> {
    let signed = posted.signed;
    require_admin(&signed)?;
    let result = async {
        state.workspaces.find(&wid).await?;
        state.users.find(&uid).await?;
        let actor = Actor::of(&signed.caller(), &signed.client);
        if !state.workspaces.remove_member(&wid, &uid, &actor).await? {
            return Err(AppError::NotFound);
        }
        Ok(())
    }
    .await;
    result.map_err(|e| signed.error(e))?;
    Ok(Redirect::to(&format!("/admin/workspaces/{wid}")).into_response())
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    action: Option<String>,
    workspace_id: Option<String>,
    actor: Option<String>,
}

async fn audit(
    State(state): State<AppState>,
    signed: Signed,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, WebError> {
    require_admin(&signed)?;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let clean = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 100 && !v.contains('\0'))
            .map(str::to_owned)
    };
    let action = clean(&query.action);
    let workspace_id = clean(&query.workspace_id);
    let actor = clean(&query.actor);
    let result = async {
        let actor_user_id = match &actor {
            Some(name) => Some(
                state
                    .users
                    .by_username(name)
                    .await?
                    .map(|u| u.id)
                    .unwrap_or_else(|| "usr_none".into()),
            ),
            None => None,
        };
        state
            .audit
            .list(
                &AuditFilter {
                    workspace_id: workspace_id.clone(),
                    actor_user_id,
                    action: action.clone(),
                    ..Default::default()
                },
                &Page::first(200),
            )
            .await
    }
    .await;
    let events = result.map_err(|e| signed.error(e))?;
    let markup = page(
        "Audit trail",
        Some(&signed),
        Section::Admin,
        html! {
            h1 { "Audit trail" }
            (admin_nav())
            section.card {
                form method="get" action="/admin/audit" {
                    label for="audit-action" { "Action" }
                    input #audit-action type="text" name="action" value=(action.clone().unwrap_or_default()) placeholder="token.revoke";
                    label for="audit-actor" { "Actor (username)" }
                    input #audit-actor type="text" name="actor" value=(actor.clone().unwrap_or_default());
                    label for="audit-workspace" { "Workspace id" }
                    input #audit-workspace type="text" name="workspace_id" value=(workspace_id.clone().unwrap_or_default());
                    p { button type="submit" { "Filter" } }
                }
            }
            section.card { div.table-wrap { table.responsive #audit {
                thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Actor" } th scope="col" { "Target" } th scope="col" { "Address" } } }
                tbody { @for e in &events { tr {
                    td data-label="When" { time datetime=(rfc3339(e.at)) { (short_time(e.at)) } }
                    td data-label="Action" { code { (e.action) } }
                    td data-label="Actor" { (e.actor_label.clone().or(e.actor_user_id.clone()).unwrap_or_else(|| "anonymous".into())) }
                    td data-label="Target" { (e.target_type.clone().unwrap_or_default()) " " code { (e.target_id.clone().unwrap_or_default()) } }
                    td data-label="Address" { (e.client_ip.clone().unwrap_or_default()) }
                } } }
            } } }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

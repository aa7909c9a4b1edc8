//! Deployment administration: users, workspaces, memberships. Every route
//! here needs a deployment admin with full authority.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::policy::UserStatus;
use tessera_store::{NewUser, StoreError, Workspace};

use crate::cache::Invalidation;
use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::password;
use crate::principal::Caller;
use crate::principal::{Actor, Target};
use crate::routes::views::{MemberView, UserView, WorkspaceView};
use crate::routes::{List, PageQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, remove_user))
        .routes(routes!(suspend_user))
        .routes(routes!(reactivate_user))
        .routes(routes!(create_workspace, list_workspaces))
        .routes(routes!(list_members))
        .routes(routes!(set_member, remove_member))
}

/// Usernames: 1–64 of letters, digits, `.`, `_`, `-` (and `@` for emails).
pub fn validate_username(username: &str) -> AppResult<()> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(
            "username must be 1-64 letters, digits, `.`, `_`, `-` or `@`.".into(),
        ))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
    display_name: Option<String>,
}

impl AppState {
    /// Creates a user; shared by the API and `tessera admin user add`.
    pub async fn create_user(
        &self,
        username: &str,
        password: String,
        admin: bool,
        display_name: Option<String>,
        actor: &Actor,
    ) -> AppResult<tessera_store::User> {
        validate_username(username)?;
        password::validate(&password).map_err(AppError::Invalid)?;
        let display_name = display_name.unwrap_or_else(|| username.to_owned());
        if display_name.chars().count() > 100 {
            return Err(AppError::Invalid(
                "display_name must be at most 100 characters.".into(),
            ));
        }
        let user = self
            .store
            .create_user(&NewUser {
                id: new_id(IdKind::User),
                username: username.to_owned(),
                display_name,
                password_hash: password::hash(password).await?,
                is_admin: admin,
                created_at: OffsetDateTime::now_utc(),
            })
            .await?;
        self.audit(
            actor,
            "user.create",
            Some(Target {
                kind: "user",
                id: &user.id,
                workspace_id: None,
            }),
            json!({ "username": user.username, "admin": admin }),
        )
        .await;
        Ok(user)
    }

    /// Suspends, reactivates or removes a user. Suspension and removal end
    /// their sessions; removal also revokes their personal tokens and their
    /// memberships (the workspace API keys they created live on).
    pub async fn set_user_status(
        &self,
        id: &str,
        status: UserStatus,
        actor: &Actor,
    ) -> AppResult<tessera_store::User> {
        let (user, _revoked) = self.apply_user_status(id, status, actor).await?;
        let action = match status {
            UserStatus::Active => "user.reactivate",
            UserStatus::Suspended => "user.suspend",
            UserStatus::Removed => "user.remove",
        };
        self.audit(
            actor,
            action,
            Some(Target {
                kind: "user",
                id,
                workspace_id: None,
            }),
            json!({ "username": user.username }),
        )
        .await;
        Ok(user)
    }

    /// What a status change does, without its audit event (an agent's
    /// removal is audited as the agent's): the status, at once on every
    /// instance, then sessions, tokens and memberships as it requires.
    /// Returns the user and how many tokens a removal revoked.
    pub async fn apply_user_status(
        &self,
        id: &str,
        status: UserStatus,
        actor: &Actor,
    ) -> AppResult<(tessera_store::User, usize)> {
        let user = self
            .store
            .set_user_status(id, status, OffsetDateTime::now_utc())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AppError::Conflict("A removed user cannot be changed.".into())
                }
                other => other.into(),
            })?;
        self.invalidate(Invalidation::User(id.to_owned())).await;
        if status != UserStatus::Active {
            self.store.delete_user_sessions(id).await?;
        }
        let mut revoked = 0;
        if status == UserStatus::Removed {
            revoked = self.revoke_all(id, actor, "owner_removed").await?;
            for m in self.store.memberships_of(id).await? {
                self.remove_member(&m.workspace_id, id).await?;
            }
        }
        Ok((user, revoked))
    }

    /// Sets a member's role; it takes effect on the member's next request.
    pub async fn set_member_role(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: &str,
        actor: &Actor,
    ) -> AppResult<Option<String>> {
        if !self.config.roles.contains_role(role) {
            let known: Vec<&str> = self.config.roles.role_names().collect();
            return Err(AppError::Invalid(format!(
                "role must be one of: {}.",
                known.join(", ")
            )));
        }
        let previous = self.apply_member_role(workspace_id, user_id, role).await?;
        self.audit(
            actor,
            "member.role_change",
            Some(Target {
                kind: "user",
                id: user_id,
                workspace_id: Some(workspace_id),
            }),
            json!({ "role": role, "previous_role": previous }),
        )
        .await;
        Ok(previous)
    }

    /// Sets a role, effective on the member's next request on every
    /// instance, without an audit event; returns the previous role.
    pub async fn apply_member_role(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: &str,
    ) -> AppResult<Option<String>> {
        let previous = self
            .store
            .set_membership(workspace_id, user_id, role, OffsetDateTime::now_utc())
            .await?;
        self.invalidate(Invalidation::Membership(
            workspace_id.to_owned(),
            user_id.to_owned(),
        ))
        .await;
        Ok(previous)
    }

    /// Removes a membership; returns whether there was one.
    pub async fn remove_member(&self, workspace_id: &str, user_id: &str) -> AppResult<bool> {
        let removed = self.store.remove_membership(workspace_id, user_id).await?;
        self.invalidate(Invalidation::Membership(
            workspace_id.to_owned(),
            user_id.to_owned(),
        ))
        .await;
        Ok(removed)
    }

    pub async fn create_workspace(&self, name: &str, actor: &Actor) -> AppResult<Workspace> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::Invalid(
                "Workspace name must be 1-100 characters.".into(),
            ));
        }
        let workspace = Workspace {
            id: new_id(IdKind::Workspace),
            name: name.to_owned(),
            created_at: OffsetDateTime::now_utc(),
        };
        self.store.create_workspace(&workspace).await?;
        self.audit(
            actor,
            "workspace.create",
            Some(Target {
                kind: "workspace",
                id: &workspace.id,
                workspace_id: Some(&workspace.id),
            }),
            json!({ "name": workspace.name }),
        )
        .await;
        Ok(workspace)
    }
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = CreateUser,
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = UserView), (status = 409, description = "The username is taken", body = crate::error::ErrorBody), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppJson(body): AppJson<CreateUser>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    caller.require_admin()?;
    let user = state
        .create_user(
            &body.username,
            body.password,
            body.admin,
            body.display_name,
            &Actor::of(&caller, &client),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "admin", params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = List<UserView>), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<UserView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let users = state.store.list_users(&page).await?;
    let items: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(List::paged(items, &page, |u| &u.id)))
}

async fn find_user(state: &AppState, id: &str) -> AppResult<tessera_store::User> {
    if !looks_like(IdKind::User, id) {
        return Err(AppError::NotFound);
    }
    state.store.user(id).await?.ok_or(AppError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "admin", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = UserView), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<UserView>> {
    caller.require_admin()?;
    Ok(Json(UserView::from(&find_user(&state, &id).await?)))
}

async fn change_status(
    state: AppState,
    caller: Caller,
    client: ClientInfo,
    id: String,
    status: UserStatus,
) -> AppResult<Json<UserView>> {
    let admin = caller.require_admin()?;
    if admin.id == id && status != UserStatus::Active {
        return Err(AppError::Invalid(
            "You cannot suspend or remove yourself.".into(),
        ));
    }
    find_user(&state, &id).await?;
    let user = state
        .set_user_status(&id, status, &Actor::of(&caller, &client))
        .await?;
    Ok(Json(UserView::from(&user)))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/suspend", tag = "admin", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Suspended: their tokens stop at once", body = UserView), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn suspend_user(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<UserView>> {
    change_status(state, caller, client, id, UserStatus::Suspended).await
}

#[utoipa::path(post, path = "/api/v1/users/{id}/reactivate", tag = "admin", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = UserView), (status = 409, description = "Removed users cannot come back", body = crate::error::ErrorBody), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn reactivate_user(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
) -> AppResult<Json<UserView>> {
    change_status(state, caller, client, id, UserStatus::Active).await
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "admin", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Removed: personal tokens die; API keys they created live on"), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath(id): AppPath<String>,
) -> AppResult<StatusCode> {
    let _removed = change_status(state, caller, client, id, UserStatus::Removed).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    name: String,
}

#[utoipa::path(post, path = "/api/v1/workspaces", tag = "admin", request_body = CreateWorkspace,
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, body = WorkspaceView), (status = 409, body = crate::error::ErrorBody), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppJson(body): AppJson<CreateWorkspace>,
) -> AppResult<(StatusCode, Json<WorkspaceView>)> {
    caller.require_admin()?;
    let workspace = state
        .create_workspace(&body.name, &Actor::of(&caller, &client))
        .await?;
    Ok((StatusCode::CREATED, Json(WorkspaceView::from(&workspace))))
}

#[utoipa::path(get, path = "/api/v1/workspaces", tag = "admin", params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = List<WorkspaceView>), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<PageQuery>,
) -> AppResult<Json<List<WorkspaceView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let workspaces = state.store.list_workspaces(&page).await?;
    let items: Vec<WorkspaceView> = workspaces.iter().map(WorkspaceView::from).collect();
    Ok(Json(List::paged(items, &page, |w| &w.id)))
}

/// The workspace with this id, or 404. An id that is not shaped like one
/// never reaches the store (PostgreSQL refuses a NUL byte with an error).
async fn find_workspace(state: &AppState, id: &str) -> AppResult<Workspace> {
    if !looks_like(IdKind::Workspace, id) {
        return Err(AppError::NotFound);
    }
    state.store.workspace(id).await?.ok_or(AppError::NotFound)
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/members", tag = "admin", params(("wid" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = List<MemberView>), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
) -> AppResult<Json<List<MemberView>>> {
    caller.require_admin()?;
    find_workspace(&state, &workspace_id).await?;
    let members = state.store.list_members(&workspace_id).await?;
    Ok(Json(List {
        items: members.iter().map(MemberView::from).collect(),
        next_cursor: None,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    role: String,
}

#[utoipa::path(put, path = "/api/v1/workspaces/{wid}/members/{uid}", tag = "admin", params(("wid" = String, Path), ("uid" = String, Path)), request_body = SetRole,
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The role takes effect on the member's next request", body = MemberView), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, user_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<SetRole>,
) -> AppResult<Json<MemberView>> {
    caller.require_admin()?;
    find_workspace(&state, &workspace_id).await?;
    let user = find_user(&state, &user_id).await?;
    if user
        .agent_workspace_id
        .as_deref()
        .is_some_and(|own| own != workspace_id)
    {
        return Err(AppError::Conflict(
            "An agent belongs to its one workspace and cannot join another.".into(),
        ));
    }
    if user.status == UserStatus::Removed {
        return Err(AppError::Conflict(
            "A removed user cannot join a workspace.".into(),
        ));
    }
    state
        .set_member_role(
            &workspace_id,
            &user_id,
            &body.role,
            &Actor::of(&caller, &client),
        )
        .await?;
    let membership = state
        .store
        .membership(&workspace_id, &user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(MemberView::from(&membership)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{wid}/members/{uid}", tag = "admin", params(("wid" = String, Path), ("uid" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Removed from the workspace"), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, user_id)): AppPath<(String, String)>,
) -> AppResult<StatusCode> {
    caller.require_admin()?;
    find_workspace(&state, &workspace_id).await?;
    find_user(&state, &user_id).await?;
    if !state.remove_member(&workspace_id, &user_id).await? {
        return Err(AppError::NotFound);
    }
    state
        .audit(
            &Actor::of(&caller, &client),
            "member.remove",
            Some(Target {
                kind: "user",
                id: &user_id,
                workspace_id: Some(&workspace_id),
            }),
            json!({}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

//! Deployment administration: users, workspaces, memberships. Every route
//! here needs a deployment admin with full authority, but memberships,
//! which a workspace member holding `members:manage` may also manage within
//! their own rank.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::policy::UserStatus;

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::principal::{Actor, Caller};
use crate::routes::shared::{List, PageQuery};
use crate::routes::views::{MemberView, UserView, WorkspaceView};
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1–64 letters, digits, `.`, `_`, `-` or `@`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$")]
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
    #[schema(max_length = 100)]
    display_name: Option<String>,
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
        .users
        .create(
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
    let users = state.users.list(&page).await?;
    let items: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(List::paged(items, &page, |u| &u.id)))
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
    Ok(Json(UserView::from(&state.users.find(&id).await?)))
}

async fn change_status(
    state: AppState,
    caller: Caller,
    client: ClientInfo,
    id: String,
    status: UserStatus,
) -> AppResult<Json<UserView>> {
    let admin = caller.require_admin()?;
    let user = state
        .users
        .change_status(admin, &id, status, &Actor::of(&caller, &client))
        .await?;
    Ok(Json(UserView::from(&user)))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/suspend", tag = "admin", params(("id" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Suspended: their tokens stop at once", body = UserView), (status = 409, description = "Removed users cannot be suspended", body = crate::error::ErrorBody), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
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
    #[schema(min_length = 1, max_length = 100)]
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
        .workspaces
        .create(&body.name, &Actor::of(&caller, &client))
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
    let workspaces = state.workspaces.list(&page).await?;
    let items: Vec<WorkspaceView> = workspaces.iter().map(WorkspaceView::from).collect();
    Ok(Json(List::paged(items, &page, |w| &w.id)))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/members", tag = "admin", params(("wid" = String, Path)),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = List<MemberView>), (status = 403, description = "Needs a deployment administrator", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
) -> AppResult<Json<List<MemberView>>> {
    state
        .workspaces
        .members_manager(&caller, &workspace_id)
        .await?;
    state.workspaces.find(&workspace_id).await?;
    let members = state.workspaces.members(&workspace_id).await?;
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
    responses((status = 200, description = "The role takes effect on the member's next request", body = MemberView), (status = 403, description = "Needs a deployment administrator, or members:manage in the workspace and a rank no lower than both the member's role and the new one (permission_denied naming the role)", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientInfo,
    AppPath((workspace_id, user_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<SetRole>,
) -> AppResult<Json<MemberView>> {
    state.workspaces.find(&workspace_id).await?;
    let user = state.users.find(&user_id).await?;
    state
        .workspaces
        .may_manage_member(&caller, &workspace_id, &user.id, Some(&body.role))
        .await?;
    let membership = state
        .workspaces
        .set_member(
            &workspace_id,
            &user,
            &body.role,
            &Actor::of(&caller, &client),
        )
        .await?;
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
    state.workspaces.find(&workspace_id).await?;
    state.users.find(&user_id).await?;
    state
        .workspaces
        .may_manage_member(&caller, &workspace_id, &user_id, None)
        .await?;
    let removed = state
        .workspaces
        .remove_member(&workspace_id, &user_id, &Actor::of(&caller, &client))
        .await?;
    if !removed {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

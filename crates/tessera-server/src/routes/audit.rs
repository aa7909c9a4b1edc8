//! `GET /api/v1/workspaces/{wid}/audit`: the workspace's events, newest first.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::permissions::AUDIT_READ;
use tessera_store::{AuditFilter, Page};

use crate::error::{AppError, AppResult};
use crate::extract::{AppPath, AppQuery};
use crate::principal::Caller;
use crate::routes::shared::List;
use crate::routes::views::AuditView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Filters: `actor` (user id), `target` (any id), `action`, `since`, `until`
/// (RFC 3339), with `limit` and `cursor`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// As [`crate::routes::shared::PageQuery`]'s.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl AuditQuery {
    pub fn filter(&self, workspace_id: Option<String>) -> AppResult<AuditFilter> {
        let time = |field: &str, v: &Option<String>| -> AppResult<Option<OffsetDateTime>> {
            v.as_deref()
                .map(|s| {
                    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                        AppError::Invalid(format!("{field} must be an RFC 3339 date-time."))
                    })
                })
                .transpose()
        };
        Ok(AuditFilter {
            workspace_id,
            actor_user_id: self.actor.clone(),
            target_id: self.target.clone(),
            action: self.action.clone(),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }

    pub fn page(&self) -> AppResult<Page> {
        crate::routes::shared::PageQuery {
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
        }
        .page()
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{wid}/audit", tag = "audit", params(("wid" = String, Path), AuditQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Events, newest first", body = List<AuditView>), (status = 403, description = "Needs audit:read in the workspace", body = crate::error::ErrorBody), (status = 422, description = "An unusable limit, cursor or date", body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(workspace_id): AppPath<String>,
    AppQuery(query): AppQuery<AuditQuery>,
) -> AppResult<Json<List<AuditView>>> {
    state
        .workspaces
        .require_in(&caller, &workspace_id, AUDIT_READ)
        .await?;
    let page = query.page()?;
    let events = state
        .audit
        .list(&query.filter(Some(workspace_id))?, &page)
        .await?;
    let items = events.into_iter().map(AuditView::from).collect();
    Ok(Json(List::paged(items, &page, |e| &e.id)))
}

//! Workspaces and their members: creating workspaces, giving members their
//! roles, and what a caller holds in a workspace now.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::policy::{Denial, Grants, UserStatus};
use tessera_core::PermissionSet;
use tessera_store::{Membership, Page, Store, User, Workspace};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::principal::{Actor, Caller, Target};
use crate::service::audit::Audit;
use crate::service::changes::Changes;
use crate::service::validate;
use crate::verification::Invalidation;

/// One of a user's memberships, with its workspace's name (`None` if the
/// workspace is gone).
pub struct MemberOf {
    pub membership: Membership,
    pub workspace_name: Option<String>,
}

#[derive(Clone)]
pub struct Workspaces {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    changes: Changes,
    audit: Audit,
}

impl Workspaces {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, changes: Changes, audit: Audit) -> Self {
        Workspaces {
            config,
            store,
            changes,
            audit,
        }
    }

    pub async fn create(&self, name: &str, actor: &Actor) -> AppResult<Workspace> {
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
        self.audit
            .record(
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

    /// The workspace with this id, or 404. An id that is not shaped like one
    /// never reaches the store (PostgreSQL refuses a NUL byte with an error).
    pub async fn find(&self, id: &str) -> AppResult<Workspace> {
        if !looks_like(IdKind::Workspace, id) {
            return Err(AppError::NotFound);
        }
        self.store.workspace(id).await?.ok_or(AppError::NotFound)
    }

    /// One page of the deployment's workspaces.
    pub async fn list(&self, page: &Page) -> AppResult<Vec<Workspace>> {
        Ok(self.store.list_workspaces(page).await?)
    }

    pub async fn members(&self, workspace_id: &str) -> AppResult<Vec<Membership>> {
        Ok(self.store.list_members(workspace_id).await?)
    }

    pub async fn membership(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> AppResult<Option<Membership>> {
        Ok(self.store.membership(workspace_id, user_id).await?)
    }

    /// The user's memberships, with their workspaces' names.
    pub async fn memberships_of(&self, user_id: &str) -> AppResult<Vec<MemberOf>> {
        let mut out = Vec::new();
        for membership in self.store.memberships_of(user_id).await? {
            let workspace_name = self
                .store
                .workspace(&membership.workspace_id)
                .await?
                .map(|w| w.name);
            out.push(MemberOf {
                membership,
                workspace_name,
            });
        }
        Ok(out)
    }

    /// Makes `user` a member of the workspace with `role` (or gives them
    /// that role), as an administrator asks: an agent stays in its one
    /// workspace, and a removed user joins none. Returns the membership.
    pub async fn set_member(
        &self,
        workspace_id: &str,
        user: &User,
        role: &str,
        actor: &Actor,
    ) -> AppResult<Membership> {
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
        self.set_member_role(workspace_id, &user.id, role, actor)
            .await?;
        self.membership(workspace_id, &user.id)
            .await?
            .ok_or(AppError::NotFound)
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
            return Err(validate::unknown_role("role", &self.config.roles));
        }
        let previous = self.apply_member_role(workspace_id, user_id, role).await?;
        self.audit
            .record(
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
        self.changes
            .apply(Invalidation::Membership(
                workspace_id.to_owned(),
                user_id.to_owned(),
            ))
            .await;
        Ok(previous)
    }

    /// Removes a member from the workspace, effective on their next request;
    /// returns whether there was one (and only then records the event).
    pub async fn remove_member(
        &self,
        workspace_id: &str,
        user_id: &str,
        actor: &Actor,
    ) -> AppResult<bool> {
        let removed = self.end_membership(workspace_id, user_id).await?;
        if removed {
            self.audit
                .record(
                    actor,
                    "member.remove",
                    Some(Target {
                        kind: "user",
                        id: user_id,
                        workspace_id: Some(workspace_id),
                    }),
                    json!({}),
                )
                .await;
        }
        Ok(removed)
    }

    /// Removes a membership without an audit event (a user's removal is
    /// audited as the user's); returns whether there was one.
    pub async fn end_membership(&self, workspace_id: &str, user_id: &str) -> AppResult<bool> {
        let removed = self.store.remove_membership(workspace_id, user_id).await?;
        self.changes
            .apply(Invalidation::Membership(
                workspace_id.to_owned(),
                user_id.to_owned(),
            ))
            .await;
        Ok(removed)
    }

    /// The permissions the caller has in workspace `workspace_id` now.
    /// A token must have selected that workspace (header or binding).
    pub async fn permissions_in(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> AppResult<PermissionSet> {
        match caller {
            Caller::Session { user, .. } => {
                let membership = self
                    .store
                    .membership(workspace_id, &user.id)
                    .await?
                    .ok_or_else(|| self.deny(Denial::NotAMember))?;
                Ok(self
                    .config
                    .roles
                    .get(&membership.role)
                    .cloned()
                    .unwrap_or_default())
            }
            Caller::Token(v) => match (&v.identity().workspace_id, &v.identity().grants) {
                (None, _) => Err(self.deny(Denial::WorkspaceRequired)),
                (Some(selected), Grants::Workspace(set)) if selected == workspace_id => {
                    Ok(set.clone())
                }
                _ => Err(self.deny(Denial::NotAMember)),
            },
        }
    }

    /// What the caller holds in the workspace, or 403 `permission_denied`
    /// unless that includes `permission`.
    pub async fn require_in(
        &self,
        caller: &Caller,
        workspace_id: &str,
        permission: &str,
    ) -> AppResult<PermissionSet> {
        let held = self.permissions_in(caller, workspace_id).await?;
        if held.contains(permission) {
            Ok(held)
        } else {
            Err(self.deny(Denial::PermissionDenied))
        }
    }

    /// The roles a member holding `held` may give a key or an agent: those
    /// granting no more.
    pub fn roles_within(&self, held: &PermissionSet) -> Vec<String> {
        let roles = &self.config.roles;
        roles
            .role_names()
            .filter(|r| roles.get(r).is_some_and(|p| p.is_subset(held)))
            .map(str::to_owned)
            .collect()
    }

    fn deny(&self, denial: Denial) -> AppError {
        AppError::denied(denial, self.config.auth.reveal_failure_reasons)
    }
}

//! Workspaces and their members: creating workspaces, giving members their
//! roles, and what a caller holds in a workspace now.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use tessera_core::granting::{self, Granter};
use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::kind::OwnerType;
use tessera_core::permissions::MEMBERS_MANAGE;
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

/// What a caller holds in a workspace now ([`Workspaces::permissions_in`]):
/// its permissions there, and the rank it grants roles from. Dereferences to
/// the permissions.
#[derive(Debug, Clone)]
pub struct Held {
    pub permissions: PermissionSet,
    /// The role it acts with: a member's or an agent's, or an API key's
    /// fixed role (`None` for a key made with a permission list).
    pub role: Option<String>,
    /// A deployment admin with full authority may grant any role.
    pub deployment_admin: bool,
}

impl Held {
    pub fn granter(&self) -> Granter<'_> {
        if self.deployment_admin {
            Granter::DeploymentAdmin
        } else {
            Granter::Member {
                role: self.role.as_deref(),
                holds: &self.permissions,
            }
        }
    }
}

impl std::ops::Deref for Held {
    type Target = PermissionSet;
    fn deref(&self) -> &PermissionSet {
        &self.permissions
    }
}

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

    /// What the caller holds in workspace `workspace_id` now, and the role
    /// it acts with there. A token must have selected that workspace
    /// (header or binding).
    pub async fn permissions_in(&self, caller: &Caller, workspace_id: &str) -> AppResult<Held> {
        let deployment_admin = caller.require_admin().is_ok();
        match caller {
            Caller::Session { user, .. } => {
                let membership = self
                    .store
                    .membership(workspace_id, &user.id)
                    .await?
                    .ok_or_else(|| self.deny(Denial::NotAMember))?;
                Ok(Held {
                    permissions: self
                        .config
                        .roles
                        .get(&membership.role)
                        .cloned()
                        .unwrap_or_default(),
                    role: Some(membership.role),
                    deployment_admin,
                })
            }
            Caller::Token(v) => match (&v.identity().workspace_id, &v.identity().grants) {
                (None, _) => Err(self.deny(Denial::WorkspaceRequired)),
                (Some(selected), Grants::Workspace(set)) if selected == workspace_id => {
                    // The role the token acts with: an API key's own, or its
                    // owner's (a person's or an agent's) membership now.
                    let role = match (v.identity().owner, &v.identity().user_id) {
                        (OwnerType::Workspace, _) => v.record().role.clone(),
                        (_, Some(user_id)) => self
                            .store
                            .membership(workspace_id, user_id)
                            .await?
                            .map(|m| m.role),
                        (_, None) => None,
                    };
                    Ok(Held {
                        permissions: set.clone(),
                        role,
                        deployment_admin,
                    })
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
    ) -> AppResult<Held> {
        let held = self.permissions_in(caller, workspace_id).await?;
        if held.contains(permission) {
            Ok(held)
        } else {
            Err(self.deny(Denial::PermissionDenied))
        }
    }

    /// The roles a caller holding `held` may give a key, an agent or a
    /// member: ranked no higher than its own and granting no more.
    pub fn roles_within(&self, held: &Held) -> Vec<String> {
        granting::grantable(&self.config.roles, held.granter())
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Refuses, with 403 naming the role, a grant of `role` the caller may
    /// not make (422 for a role not configured).
    pub fn may_grant(&self, held: &Held, role: &str) -> AppResult<()> {
        validate::may_grant(&self.config.roles, held.granter(), role)
    }

    /// Whether the caller may manage the workspace's members: `None` for a
    /// deployment admin (who may do anything), else what the caller holds
    /// there, which must include `members:manage`. A token acting in no
    /// workspace is refused as a non-admin.
    pub async fn members_manager(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> AppResult<Option<Held>> {
        let not_admin = match caller.require_admin() {
            Ok(_) => return Ok(None),
            Err(not_admin) => not_admin,
        };
        if matches!(caller, Caller::Token(_)) && caller.token_workspace().is_none() {
            return Err(not_admin);
        }
        self.require_in(caller, workspace_id, MEMBERS_MANAGE)
            .await
            .map(Some)
    }

    /// Whether the caller may give a member of the workspace `new_role`
    /// (`None`: remove them): a deployment admin may; a member needs
    /// `members:manage`, to be able to grant the new role, and a rank no
    /// lower than the member's current one, so that nobody changes or
    /// removes a member ranked above them (an admin cannot touch an owner).
    pub async fn may_manage_member(
        &self,
        caller: &Caller,
        workspace_id: &str,
        user_id: &str,
        new_role: Option<&str>,
    ) -> AppResult<()> {
        let Some(held) = self.members_manager(caller, workspace_id).await? else {
            return Ok(());
        };
        if let Some(role) = new_role {
            self.may_grant(&held, role)?;
        }
        if let Some(current) = self.store.membership(workspace_id, user_id).await? {
            // A role no longer configured ranks nowhere: anyone may replace it.
            if self.config.roles.contains_role(&current.role) {
                validate::may_outrank(&self.config.roles, held.granter(), &current.role)?;
            }
        }
        Ok(())
    }

    fn deny(&self, denial: Denial) -> AppError {
        AppError::denied(denial, self.config.auth.reveal_failure_reasons)
    }
}

//! Users of the deployment: creating them, and suspending, reactivating or
//! removing them, each at once on every instance.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::policy::UserStatus;
use tessera_store::{NewUser, Page, Store, StoreError, User};

use crate::error::{AppError, AppResult};
use crate::password;
use crate::principal::{Actor, Target};
use crate::service::audit::Audit;
use crate::service::changes::Changes;
use crate::service::tokens::Tokens;
use crate::service::validate;
use crate::service::workspaces::Workspaces;
use crate::verification::Invalidation;

#[derive(Clone)]
pub struct Users {
    store: Arc<dyn Store>,
    changes: Changes,
    audit: Audit,
    tokens: Tokens,
    workspaces: Workspaces,
}

impl Users {
    pub fn new(
        store: Arc<dyn Store>,
        changes: Changes,
        audit: Audit,
        tokens: Tokens,
        workspaces: Workspaces,
    ) -> Self {
        Users {
            store,
            changes,
            audit,
            tokens,
            workspaces,
        }
    }

    /// Creates a user; shared by the API and `tessera admin user add`.
    pub async fn create(
        &self,
        username: &str,
        password: String,
        admin: bool,
        display_name: Option<String>,
        actor: &Actor,
    ) -> AppResult<User> {
        validate::username(username)?;
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
        self.audit
            .record(
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

    /// The user with this id, or 404; an id not shaped like one never
    /// reaches the store.
    pub async fn find(&self, id: &str) -> AppResult<User> {
        if !looks_like(IdKind::User, id) {
            return Err(AppError::NotFound);
        }
        self.store.user(id).await?.ok_or(AppError::NotFound)
    }

    pub async fn by_username(&self, username: &str) -> AppResult<Option<User>> {
        Ok(self.store.user_by_username(username).await?)
    }

    /// One page of the deployment's users.
    pub async fn list(&self, page: &Page) -> AppResult<Vec<User>> {
        Ok(self.store.list_users(page).await?)
    }

    /// An administrator changes a user's status (see [`Users::set_status`]):
    /// never their own to anything but active, and only a user there is.
    pub async fn change_status(
        &self,
        admin: &User,
        id: &str,
        status: UserStatus,
        actor: &Actor,
    ) -> AppResult<User> {
        if admin.id == id && status != UserStatus::Active {
            return Err(AppError::Invalid(
                "You cannot suspend or remove yourself.".into(),
            ));
        }
        self.find(id).await?;
        self.set_status(id, status, actor).await
    }

    /// Suspends, reactivates or removes a user. Suspension and removal end
    /// their sessions; removal also revokes their personal tokens and their
    /// memberships (the workspace API keys they created live on).
    pub async fn set_status(&self, id: &str, status: UserStatus, actor: &Actor) -> AppResult<User> {
        let (user, _revoked) = self.apply_status(id, status, actor).await?;
        let action = match status {
            UserStatus::Active => "user.reactivate",
            UserStatus::Suspended => "user.suspend",
            UserStatus::Removed => "user.remove",
        };
        self.audit
            .record(
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
    pub async fn apply_status(
        &self,
        id: &str,
        status: UserStatus,
        actor: &Actor,
    ) -> AppResult<(User, usize)> {
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
        self.changes.apply(Invalidation::User(id.to_owned())).await;
        if status != UserStatus::Active {
            self.store.delete_user_sessions(id).await?;
        }
        let mut revoked = 0;
        if status == UserStatus::Removed {
            revoked = self.tokens.revoke_all(id, actor, "owner_removed").await?;
            for m in self.store.memberships_of(id).await? {
                self.workspaces.end_membership(&m.workspace_id, id).await?;
            }
        }
        Ok((user, revoked))
    }
}

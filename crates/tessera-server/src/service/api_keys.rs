//! Workspace API keys. A key belongs to its workspace, has a role or
//! permissions fixed at creation (never more than its creator held then),
//! and outlives its creator. Each caller has already checked that the actor
//! may manage the workspace's keys (`api_keys:manage`) and passes what the
//! actor `held` there.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;

use tessera_core::kind::OwnerType;
use tessera_store::{Page, TokenRecord};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::principal::Actor;
use crate::service::tokens::{IssueRequest, Issued, TokenScope, Tokens};
use crate::service::validate;
use crate::service::workspaces::Held;

/// A new key as the API asks for it: a role or a permission list.
pub struct ApiKeyRequest<'a> {
    pub name: Option<&'a Value>,
    pub role: Option<String>,
    pub permissions: Option<&'a [String]>,
    pub expires_in: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    /// A workspace kind other than the default.
    pub kind: Option<&'a str>,
    /// The latest expiry the caller may give, as for any token it creates.
    pub ceiling: Option<OffsetDateTime>,
}

/// A new key as the settings page's form asks for it: a name, one of the
/// roles offered, an expiry preset. Refusals name the form's fields.
pub struct PageKeyRequest<'a> {
    pub name: &'a str,
    pub role: Option<&'a str>,
    pub expires_in: Option<&'a str>,
}

#[derive(Clone)]
pub struct ApiKeys {
    config: Arc<Config>,
    tokens: Tokens,
}

impl ApiKeys {
    pub fn new(config: Arc<Config>, tokens: Tokens) -> Self {
        ApiKeys { config, tokens }
    }

    /// A new key of `workspace_id`, holding no more than the actor `held`.
    pub async fn create(
        &self,
        actor: &Actor,
        held: &Held,
        workspace_id: &str,
        request: ApiKeyRequest<'_>,
    ) -> AppResult<Issued> {
        let name = validate::token_name(request.name)?;
        let kind = self.tokens.kind_for(request.kind, OwnerType::Workspace)?;
        let grants = match (&request.role, request.permissions) {
            (Some(_), Some(_)) => {
                return Err(AppError::Invalid(
                    "Send either role or permissions, not both.".into(),
                ))
            }
            (Some(role), None) => {
                // A role is granted: rank and permissions within the creator's.
                let grants = validate::role_permissions(&self.config.roles, role)?;
                validate::may_grant(&self.config.roles, held.granter(), role)?;
                grants
            }
            (None, Some(list)) => validate::permission_list("permissions", list)?,
            (None, None) => {
                return Err(AppError::Invalid(
                    "An API key needs a role or a list of permissions.".into(),
                ))
            }
        };
        // The key may hold no more than its creator holds right now.
        validate::no_more_than_held(&grants, held)?;
        let expiry = validate::expiry_request(request.expires_in, request.expires_at)?;
        self.tokens
            .issue(
                IssueRequest {
                    kind,
                    name,
                    expiry,
                    permissions: request.role.is_none().then_some(grants),
                    role: request.role,
                    workspace_id: Some(workspace_id.to_owned()),
                    user_id: None,
                    created_by: actor.user_id.clone(),
                    ceiling: request.ceiling,
                },
                actor,
            )
            .await
    }

    /// A new key of `workspace_id` with a role, as the settings page makes
    /// it: the role must grant no more than the actor `held`.
    pub async fn create_from_page(
        &self,
        actor: &Actor,
        held: &Held,
        workspace_id: &str,
        request: PageKeyRequest<'_>,
    ) -> AppResult<Issued> {
        let name = validate::token_name(Some(&Value::String(request.name.to_owned())))?;
        let kind = self.tokens.kind_for(None, OwnerType::Workspace)?;
        let role = request
            .role
            .ok_or_else(|| AppError::Invalid("Choose a role for the key.".into()))?;
        if !self.config.roles.contains_role(role) {
            return Err(validate::unknown_role("Role", &self.config.roles));
        }
        if validate::may_grant(&self.config.roles, held.granter(), role).is_err() {
            return Err(AppError::Forbidden(format!(
                "You cannot grant the role \"{role}\": choose one of the roles offered."
            )));
        }
        let expiry = validate::expiry_request(request.expires_in, None)?;
        self.tokens
            .issue(
                IssueRequest {
                    kind,
                    name,
                    expiry,
                    permissions: None,
                    role: Some(role.to_owned()),
                    workspace_id: Some(workspace_id.to_owned()),
                    user_id: None,
                    created_by: actor.user_id.clone(),
                    ceiling: None,
                },
                actor,
            )
            .await
    }

    /// Whether the caller holding `held` may take the key's secret by
    /// rotating it: a rotation hands out what the key holds, like a new key.
    pub fn may_rotate(&self, held: &Held, key: &TokenRecord) -> AppResult<()> {
        match (&key.role, &key.permissions) {
            (Some(role), _) => validate::may_grant(&self.config.roles, held.granter(), role),
            // As at creation, a permission list must be held.
            (None, Some(list)) => {
                validate::no_more_than_held(&validate::permission_list("permissions", list)?, held)
            }
            (None, None) => Ok(()),
        }
    }

    /// One page of the workspace's keys as lists show them.
    pub async fn list(
        &self,
        workspace_id: &str,
        now: OffsetDateTime,
        page: &Page,
    ) -> AppResult<Vec<TokenRecord>> {
        self.tokens
            .list(&TokenScope::workspace_keys(workspace_id), now, page)
            .await
    }

    /// The workspace's key with this id, or 404.
    pub async fn find(&self, workspace_id: &str, id: &str) -> AppResult<TokenRecord> {
        self.tokens
            .find(&TokenScope::workspace_keys(workspace_id), id)
            .await
    }
}

//! Agents: service accounts of one workspace. An agent is a user record
//! marked as that workspace's agent, with no password (it can never sign
//! in) and a membership there giving its role. Its tokens (a kind with
//! `owner = "agent"`) are bound to the workspace and act with the agent's
//! *current* role, within their narrowing; removing or suspending the agent
//! stops them at once. The agent and its tokens outlive the member who
//! created them.
//!
//! Workspace credentials are managed together: each caller has already
//! checked that the actor may manage the workspace's agents
//! (`api_keys:manage`) and passes what the actor `held` there, since nothing
//! an agent holds may exceed it.

use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;

use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::kind::OwnerType;
use tessera_core::policy::UserStatus;
use tessera_core::PermissionSet;
use tessera_store::{Agent, NewAgent, Page, Store};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::principal::{Actor, Target};
use crate::service::audit::Audit;
use crate::service::tokens::{IssueRequest, Issued, Tokens};
use crate::service::users::Users;
use crate::service::validate;
use crate::service::workspaces::Held;
use crate::service::workspaces::Workspaces;

/// What a new agent token asks for, as the API's body or the settings
/// page's form gave it.
pub struct AgentTokenRequest<'a> {
    pub name: Option<&'a Value>,
    pub expires_in: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    /// A narrowing of the agent's role; `None` acts with the whole role.
    pub permissions: Option<&'a [String]>,
    pub kind: Option<&'a str>,
    /// The latest expiry the caller may give, as for any token it creates.
    pub ceiling: Option<OffsetDateTime>,
}

#[derive(Clone)]
pub struct Agents {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    audit: Audit,
    tokens: Tokens,
    users: Users,
    workspaces: Workspaces,
}

impl Agents {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        audit: Audit,
        tokens: Tokens,
        users: Users,
        workspaces: Workspaces,
    ) -> Self {
        Agents {
            config,
            store,
            audit,
            tokens,
            users,
            workspaces,
        }
    }

    /// Whether this deployment issues agent tokens: without them an agent
    /// is of no use, and none is offered.
    pub fn offered(&self) -> bool {
        self.tokens.kind_for(None, OwnerType::Agent).is_ok()
    }

    /// A new agent of `workspace_id` with `role`.
    pub async fn create(
        &self,
        actor: &Actor,
        held: &Held,
        workspace_id: &str,
        name: Option<&Value>,
        role: Option<&Value>,
    ) -> AppResult<Agent> {
        let name = validate::name_field("Agent name", name)?;
        let (role, _) = self.role_field(role)?;
        validate::may_grant(&self.config.roles, held.granter(), &role)?;
        // An agent is only of use with tokens: the deployment must issue them.
        self.tokens.kind_for(None, OwnerType::Agent)?;
        let agent = self
            .store
            .create_agent(&NewAgent {
                id: new_id(IdKind::User),
                name,
                workspace_id: workspace_id.to_owned(),
                role,
                created_by: actor.user_id.clone(),
                created_at: OffsetDateTime::now_utc(),
            })
            .await?;
        self.audit
            .record(
                actor,
                "agent.create",
                Some(agent_target(&agent)),
                json!({ "name": agent.name, "role": agent.role }),
            )
            .await;
        Ok(agent)
    }

    /// One page of the workspace's agents, newest first.
    pub async fn list(&self, workspace_id: &str, page: &Page) -> AppResult<Vec<Agent>> {
        Ok(self.store.list_agents(workspace_id, page).await?)
    }

    /// The workspace's agent with this id, unless removed; 404 otherwise.
    /// An id not shaped like one never reaches the store.
    pub async fn find(&self, workspace_id: &str, id: &str) -> AppResult<Agent> {
        if !looks_like(IdKind::User, id) {
            return Err(AppError::NotFound);
        }
        self.store
            .agent(id)
            .await?
            .filter(|a| a.workspace_id == workspace_id && a.status != UserStatus::Removed)
            .ok_or(AppError::NotFound)
    }

    /// Gives the agent another role; its tokens act with it from their next
    /// request, on every instance. Returns the agent as it is now.
    pub async fn change_role(
        &self,
        actor: &Actor,
        held: &Held,
        agent: &Agent,
        role: Option<&Value>,
    ) -> AppResult<Agent> {
        let (role, _) = self.role_field(role)?;
        validate::may_grant(&self.config.roles, held.granter(), &role)?;
        // Nor may anyone change the role of an agent ranked above them.
        self.may_act_for(held, agent)?;
        let previous = self
            .workspaces
            .apply_member_role(&agent.workspace_id, &agent.id, &role)
            .await?;
        self.audit
            .record(
                actor,
                "agent.role_change",
                Some(agent_target(agent)),
                json!({ "name": agent.name, "role": role, "previous_role": previous }),
            )
            .await;
        self.find(&agent.workspace_id, &agent.id).await
    }

    /// Removes the agent; returns how many of its tokens that revoked.
    pub async fn remove(&self, actor: &Actor, agent: &Agent) -> AppResult<usize> {
        // As a user's removal: the status first (no token of the agent verifies
        // from then on, on any instance), then its tokens and its membership.
        let (_, revoked) = self
            .users
            .apply_status(&agent.id, UserStatus::Removed, actor)
            .await?;
        self.audit
            .record(
                actor,
                "agent.remove",
                Some(agent_target(agent)),
                json!({ "name": agent.name, "revoked_tokens": revoked }),
            )
            .await;
        Ok(revoked)
    }

    /// A new token for the agent, acting with its role (or a narrowing of
    /// it), which the actor must hold too.
    pub async fn issue_token(
        &self,
        actor: &Actor,
        held: &Held,
        agent: &Agent,
        request: AgentTokenRequest<'_>,
    ) -> AppResult<Issued> {
        // The token acts with the agent's rank: no higher than the minter's.
        self.may_act_for(held, agent)?;
        let name = validate::token_name(request.name)?;
        let kind = self.tokens.kind_for(request.kind, OwnerType::Agent)?;
        let expiry = validate::expiry_request(request.expires_in, request.expires_at)?;
        let role = self.role_of(agent);
        let permissions = request
            .permissions
            .map(|list| validate::permission_list("permissions", list))
            .transpose()?;
        if let Some(asked) = &permissions {
            validate::only_narrowing(
                "permissions",
                asked,
                &role,
                "an agent token can only narrow its agent's role",
            )?;
        }
        // Whoever mints the token must hold what it will act with.
        let acts_with = match &permissions {
            Some(narrowing) => role.intersection(narrowing),
            None => role,
        };
        validate::no_more_than_held(&acts_with, held)?;
        self.tokens
            .issue(
                IssueRequest {
                    kind,
                    name,
                    expiry,
                    permissions,
                    role: None,
                    workspace_id: Some(agent.workspace_id.clone()),
                    user_id: Some(agent.id.clone()),
                    created_by: actor.user_id.clone(),
                    ceiling: request.ceiling,
                },
                actor,
            )
            .await
    }

    /// Refuses (403 naming the role) a caller ranked below the agent's
    /// current role: it may neither mint its tokens nor change its role.
    /// (What a token acts with is checked against what the caller holds.)
    /// An agent whose role is no longer configured acts with nothing.
    fn may_act_for(&self, held: &Held, agent: &Agent) -> AppResult<()> {
        match agent.role.as_deref() {
            Some(role) if self.config.roles.contains_role(role) => {
                validate::may_outrank(&self.config.roles, held.granter(), role)
            }
            _ => Ok(()),
        }
    }

    /// What the agent's role grants now (nothing, for a role no longer configured).
    pub fn role_of(&self, agent: &Agent) -> PermissionSet {
        agent
            .role
            .as_deref()
            .and_then(|r| self.config.roles.get(r))
            .cloned()
            .unwrap_or_default()
    }

    /// Reads a role field: required, a string naming a configured role.
    fn role_field(&self, value: Option<&Value>) -> AppResult<(String, PermissionSet)> {
        match value {
            Some(Value::String(role)) => Ok((
                role.clone(),
                validate::role_permissions(&self.config.roles, role)?,
            )),
            None | Some(Value::Null) => Err(AppError::Invalid("role is required.".into())),
            Some(_) => Err(AppError::Invalid("role must be a string.".into())),
        }
    }
}

fn agent_target(agent: &Agent) -> Target<'_> {
    Target {
        kind: "agent",
        id: &agent.id,
        workspace_id: Some(&agent.workspace_id),
    }
}

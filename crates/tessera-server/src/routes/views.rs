//! The JSON shapes of the API's records. Secrets and hashes have no field here.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use tessera_store::{Membership, TokenRecord, TokenStatus, User, VerifierCredential, Workspace};

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The first characters of the token (not secret), to recognise it.
    pub prefix: String,
    pub last4: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_ip: Option<String>,
    pub last_used_ips: Vec<String>,
    pub last_used_user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// `active`, `expired` or `revoked`.
    #[schema(value_type = String)]
    pub status: TokenStatus,
    pub permissions: Option<Vec<String>>,
    pub role: Option<String>,
    pub user_id: Option<String>,
    pub workspace_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
}

impl TokenView {
    pub fn new(record: TokenRecord, now: OffsetDateTime) -> Self {
        let status = record.status(now);
        TokenView {
            id: record.id,
            name: record.name,
            kind: record.kind,
            prefix: record.display_prefix,
            last4: record.last4,
            created_at: record.created_at,
            created_by: record.created_by,
            last_used_at: record.last_used_at,
            last_used_ip: record.last_used_ip,
            last_used_ips: record.last_used_ips,
            last_used_user_agent: record.last_used_user_agent,
            expires_at: record.expires_at,
            status,
            permissions: record.permissions,
            role: record.role,
            user_id: record.user_id,
            workspace_id: record.workspace_id,
            revoked_at: record.revoked_at,
            revoked_reason: record.revoked_reason,
            rotated_at: record.rotated_at,
        }
    }
}

/// A token just created or rotated: the record and, this once, the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedView {
    #[serde(flatten)]
    pub record: TokenView,
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub admin: bool,
    /// `active`, `suspended` or `removed`.
    #[schema(value_type = String)]
    pub status: tessera_core::policy::UserStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Only for an agent (a service account that cannot sign in): the one
    /// workspace it belongs to. Absent for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_workspace_id: Option<String>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            admin: u.is_admin,
            status: u.status,
            created_at: u.created_at,
            agent_workspace_id: u.agent_workspace_id.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Workspace> for WorkspaceView {
    fn from(w: &Workspace) -> Self {
        WorkspaceView {
            id: w.id.clone(),
            name: w.name.clone(),
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        MemberView {
            workspace_id: m.workspace_id.clone(),
            user_id: m.user_id.clone(),
            role: m.role.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub action: String,
    pub actor_user_id: Option<String>,
    pub actor_token_id: Option<String>,
    pub actor_label: Option<String>,
    pub workspace_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<tessera_store::AuditEvent> for AuditView {
    fn from(e: tessera_store::AuditEvent) -> Self {
        AuditView {
            id: e.id,
            at: e.at,
            action: e.action,
            actor_user_id: e.actor_user_id,
            actor_token_id: e.actor_token_id,
            actor_label: e.actor_label,
            workspace_id: e.workspace_id,
            target_type: e.target_type,
            target_id: e.target_id,
            client_ip: e.client_ip,
            user_agent: e.user_agent,
            details: e.details,
        }
    }
}

/// A verifier credential as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifierView {
    /// `vfr_…`
    pub id: String,
    pub name: String,
    /// Only tokens acting in these workspaces are answered; empty for all.
    pub workspace_ids: Vec<String>,
    /// Only tokens of these kinds are answered; empty for all.
    pub kinds: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Option<String>,
}

impl From<&VerifierCredential> for VerifierView {
    fn from(v: &VerifierCredential) -> Self {
        VerifierView {
            id: v.id.clone(),
            name: v.name.clone(),
            workspace_ids: v.audience.workspace_ids.clone(),
            kinds: v.audience.kinds.clone(),
            created_at: v.created_at,
            created_by: v.created_by.clone(),
        }
    }
}

/// A verifier credential just created: the record and, this once, the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedVerifierView {
    #[serde(flatten)]
    pub record: VerifierView,
    /// `tsr_vfr_…`: send it as `Tessera-Verifier: <secret>`. Shown this once.
    pub secret: String,
}

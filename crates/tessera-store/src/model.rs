//! The records the store keeps. Secrets never appear here: tokens are kept as
//! hashes, passwords as argon2id hashes, sessions by the hash of their id.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::verifier_credential::Audience;
use tessera_core::TokenHash;

/// How many distinct client addresses a token remembers.
pub const LAST_USED_IPS_KEPT: usize = 5;

/// The most rows one page may hold.
pub const MAX_PAGE: u32 = 500;

/// Keyset pagination: ids sort by creation time, so "after" is the last id
/// of the previous page (lists are newest first: the next page holds ids
/// smaller than it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub after: Option<String>,
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Self {
        Self {
            after: None,
            limit: limit.clamp(1, MAX_PAGE),
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(100)
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// An argon2id PHC string.
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub is_admin: bool,
    pub status: UserStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Set for an agent: the one workspace it is a service account of. An
    /// agent has no usable password and can never sign in.
    pub agent_workspace_id: Option<String>,
}

impl User {
    pub fn is_agent(&self) -> bool {
        self.agent_workspace_id.is_some()
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_admin", &self.is_admin)
            .field("status", &self.status)
            .field("agent_workspace_id", &self.agent_workspace_id)
            .finish_non_exhaustive()
    }
}

/// An agent: a service account of one workspace, kept as a user record
/// (its id is a user id) with a membership giving its role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    /// Its role in its workspace now; `None` once it is no longer a member
    /// (after removal).
    pub role: Option<String>,
    pub status: UserStatus,
    pub created_at: OffsetDateTime,
    /// The member who created it; the agent outlives them.
    pub created_by: Option<String>,
}

/// An agent to create, with its membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    pub role: String,
    pub created_by: Option<String>,
    pub created_at: OffsetDateTime,
}

/// The username an agent's user record holds: not a valid username for a
/// person (`:` is refused), so it can neither collide nor be signed in with.
pub fn agent_username(agent_id: &str) -> String {
    format!("agent:{agent_id}")
}

#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A token as listed and verified: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    /// The credential kind's name (`pat`, `api_key`, …).
    pub kind: String,
    /// The owning user of a personal token, or the agent of an agent token;
    /// `None` for a workspace API key.
    pub user_id: Option<String>,
    /// The workspace a token is bound to; for an API key, its owner.
    pub workspace_id: Option<String>,
    pub name: String,
    pub display_prefix: String,
    pub last4: String,
    /// A personal token's narrowing or an API key's fixed permissions.
    pub permissions: Option<Vec<String>>,
    /// An API key's fixed role.
    pub role: Option<String>,
    pub created_at: OffsetDateTime,
    /// The user who created it (for an API key, the member who made it).
    pub created_by: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    /// The last distinct client addresses, newest first, at most five.
    pub last_used_ips: Vec<String>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<String>,
    /// Why it was revoked: `revoked`, `revoked_all`, `owner_removed`, `reuse_detected`, …
    pub revoked_reason: Option<String>,
    pub rotated_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    pub fn status(&self, now: OffsetDateTime) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|t| now >= t) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

/// A token to store, with the hash of its first secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub workspace_id: Option<String>,
    pub name: String,
    pub display_prefix: String,
    pub last4: String,
    pub permissions: Option<Vec<String>>,
    pub role: Option<String>,
    pub created_at: OffsetDateTime,
    pub created_by: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub hash: TokenHash,
}

/// A token found by the hash of a presented secret.
#[derive(Debug, Clone)]
pub struct FoundToken {
    pub record: TokenRecord,
    /// The stored digest that matched, for a constant-time re-check.
    pub digest: Vec<u8>,
    /// When this secret stops working because the token was rotated.
    pub secret_retires_at: Option<OffsetDateTime>,
    /// This secret is a hand-off rotation's new one, not used yet: its first
    /// use ends the old secrets' wait (see [`Store::complete_handoff`](crate::Store::complete_handoff)).
    pub ends_handoff: bool,
    /// The token's owning user or agent, read in the same query (the
    /// verifier needs their status on every miss).
    pub owner: Option<User>,
}

#[derive(Debug, Clone)]
pub struct Revocation {
    pub at: OffsetDateTime,
    /// The user who revoked it, if a user did.
    pub by: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Rotation {
    pub token_id: String,
    pub at: OffsetDateTime,
    pub new_hash: TokenHash,
    pub display_prefix: String,
    pub last4: String,
    pub expires_at: Option<OffsetDateTime>,
    /// When every earlier secret stops working (`at` for no overlap; for a
    /// hand-off, the longest they wait for the new secret's first use).
    pub old_secret_retires_at: OffsetDateTime,
    /// A hand-off rotation: the earlier secrets keep working until the new
    /// one is first used (then [`Store::complete_handoff`](crate::Store::complete_handoff)).
    pub handoff: bool,
}

/// One use of a token, buffered by the verifier and written in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUsage {
    pub token_id: String,
    pub at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Personal tokens of this user.
    pub user_id: Option<String>,
    /// Tokens bound to (or owned by) this workspace.
    pub workspace_id: Option<String>,
    /// Only tokens of these kinds; empty means every kind.
    pub kinds: Vec<String>,
    /// Leave out revoked tokens revoked before this moment (retention).
    pub hide_revoked_before: Option<OffsetDateTime>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the session secret held in the cookie.
    pub id_hash: String,
    pub user_id: String,
    /// What the server stores here is a digest of the session's CSRF value
    /// (which it derives from the cookie's secret); a session the server has
    /// resumed holds the value itself.
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Something that happened, who did it and to what. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub at: OffsetDateTime,
    /// `token.create`, `token.revoke`, `member.role_change`, `user.suspend`, …
    pub action: String,
    pub actor_user_id: Option<String>,
    /// The credential used, when a token acted.
    pub actor_token_id: Option<String>,
    /// A readable name for the actor: a username, or an API key's name.
    pub actor_label: Option<String>,
    pub workspace_id: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Anything else worth keeping, as JSON (never a secret or a hash).
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub workspace_id: Option<String>,
    pub actor_user_id: Option<String>,
    pub target_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// A verifier credential: what a product or gateway presents to ask about
/// tokens. Kept by the hash of its secret, which is shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierCredential {
    pub id: String,
    pub name: String,
    /// The tokens it is answered about: some workspaces and kinds, or all.
    pub audience: Audience,
    pub created_at: OffsetDateTime,
    /// The deployment admin who created it.
    pub created_by: Option<String>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A verifier credential to store, with the SHA-256 (hex) of its secret.
#[derive(Clone)]
pub struct NewVerifierCredential {
    pub credential: VerifierCredential,
    pub secret_hash: String,
}

impl fmt::Debug for NewVerifierCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewVerifierCredential")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

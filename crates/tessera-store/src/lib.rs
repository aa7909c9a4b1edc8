//! Tessera's storage: one [`Store`] trait and two real implementations,
//! SQLite (the embedded default) and PostgreSQL (for several instances),
//! each with its own migrations. The backend is picked from the database URL.
//!
//! The same behaviour suite (`tests/contract.rs`) runs against both.

mod coalesce;
mod codec;
mod database_url;
mod error;
mod listing;
mod model;
mod postgres;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::TokenHash;

pub use database_url::DatabaseUrl;
pub use error::{StoreError, StoreResult};
pub use model::*;
pub use postgres::PostgresStore;
pub use sqlite::{DirectReadCounts, SqliteStore};

/// Everything Tessera keeps. Implementations decide validity in their queries
/// where they can, and run each method as one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations. Safe to call on every start.
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip: is the database reachable?
    async fn ping(&self) -> StoreResult<()>;

    // --- users ---------------------------------------------------------------

    /// `Conflict` when the username is taken.
    async fn create_user(&self, user: &NewUser) -> StoreResult<User>;
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Newest first.
    async fn list_users(&self, page: &Page) -> StoreResult<Vec<User>>;
    async fn count_users(&self) -> StoreResult<u64>;
    /// `NotFound` when there is no such user. Removing is final: a removed
    /// user cannot be set to another status (`Conflict`).
    async fn set_user_status(
        &self,
        id: &str,
        status: UserStatus,
        at: OffsetDateTime,
    ) -> StoreResult<User>;
    /// `NotFound` when there is no such user.
    async fn set_password(
        &self,
        id: &str,
        password_hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()>;

    // --- agents (service accounts of one workspace) ----------------------------

    /// Creates an agent: a user record that can never sign in, marked as an
    /// agent of its workspace, and its membership there with `role`, in one
    /// transaction. `NotFound` when the workspace does not exist.
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<Agent>;
    /// The agent with this id (removed ones too); `None` for a person.
    async fn agent(&self, id: &str) -> StoreResult<Option<Agent>>;
    /// A workspace's agents that are not removed, newest first.
    async fn list_agents(&self, workspace_id: &str, page: &Page) -> StoreResult<Vec<Agent>>;

    // --- workspaces and memberships -------------------------------------------

    /// `Conflict` when the name is taken.
    async fn create_workspace(&self, workspace: &Workspace) -> StoreResult<()>;
    async fn workspace(&self, id: &str) -> StoreResult<Option<Workspace>>;
    /// Newest first.
    async fn list_workspaces(&self, page: &Page) -> StoreResult<Vec<Workspace>>;
    /// Creates or changes a membership; returns the previous role, if any.
    /// `NotFound` when the workspace or the user does not exist.
    async fn set_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: &str,
        at: OffsetDateTime,
    ) -> StoreResult<Option<String>>;
    /// Returns whether there was a membership to remove.
    async fn remove_membership(&self, workspace_id: &str, user_id: &str) -> StoreResult<bool>;
    async fn membership(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>>;
    /// Ordered by when the member joined.
    async fn list_members(&self, workspace_id: &str) -> StoreResult<Vec<Membership>>;
    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<Membership>>;

    // --- tokens -----------------------------------------------------------------

    /// Stores a token and its first secret hash. With `max_active_for_owner`,
    /// refuses (`LimitReached`, nothing written) when the owning user already
    /// holds that many active (unrevoked, unexpired at `token.created_at`)
    /// tokens; the count and the insert are one transaction.
    async fn insert_token(
        &self,
        token: &NewToken,
        max_active_for_owner: Option<u32>,
    ) -> StoreResult<TokenRecord>;
    /// Finds the token one of `candidates` (the hashes a presented token may
    /// have been stored under) belongs to, with the state of that secret.
    async fn find_token_by_hash(&self, candidates: &[TokenHash])
        -> StoreResult<Option<FoundToken>>;
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;
    /// Newest first.
    async fn list_tokens(&self, filter: &TokenFilter, page: &Page)
        -> StoreResult<Vec<TokenRecord>>;
    /// Marks a token revoked. Returns `false` (and changes nothing) when it
    /// was already revoked; `NotFound` when it does not exist.
    async fn revoke_token(&self, id: &str, revocation: &Revocation) -> StoreResult<bool>;
    /// Revokes every unrevoked personal token of a user; returns their ids.
    async fn revoke_user_tokens(
        &self,
        user_id: &str,
        revocation: &Revocation,
    ) -> StoreResult<Vec<String>>;
    /// Gives an unrevoked token a new secret: the new hash is stored, every
    /// earlier secret of the token retires at `old_secret_retires_at`, and the
    /// display fields and expiry are replaced. `NotFound` when the token does
    /// not exist or is revoked.
    async fn rotate_token(&self, rotation: &Rotation) -> StoreResult<TokenRecord>;
    /// The first use of a hand-off rotation's new secret (`digest`): its
    /// mark is cleared and the token's earlier secrets retire at
    /// `old_secrets_retire_at` (if they would retire later). True for the
    /// call that ended the hand-off; false if it had already ended.
    async fn complete_handoff(
        &self,
        token_id: &str,
        digest: &[u8],
        old_secrets_retire_at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Applies buffered usage: last-used time, address and user agent, and
    /// the last five distinct addresses. Entries for unknown tokens are skipped.
    async fn record_usage(&self, usage: &[TokenUsage]) -> StoreResult<()>;

    // --- sessions (signed-in browsers) --------------------------------------------

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// Looked up by the hash of the session secret; expired sessions are not returned.
    async fn session(&self, id_hash: &str, now: OffsetDateTime) -> StoreResult<Option<Session>>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Ends every session of a user (on suspension, removal or a new password).
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()>;
    /// Claims a one-time form id for a session: true the first time, false
    /// when the id was claimed before (a resubmitted form). Claims made
    /// before `forget_before` are pruned first.
    async fn claim_form_id(
        &self,
        session_id_hash: &str,
        form_id: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> StoreResult<bool>;

    // --- verifier credentials (who may ask about tokens) -----------------------------

    /// `Conflict` when the id or the secret hash is taken.
    async fn create_verifier(
        &self,
        verifier: &NewVerifierCredential,
    ) -> StoreResult<VerifierCredential>;
    /// The unrevoked verifier whose secret has this SHA-256 (hex).
    async fn verifier_by_secret_hash(
        &self,
        secret_hash: &str,
    ) -> StoreResult<Option<VerifierCredential>>;
    /// Unrevoked verifiers, newest first.
    async fn list_verifiers(&self) -> StoreResult<Vec<VerifierCredential>>;
    /// Marks a verifier revoked. Returns `false` (and changes nothing) when
    /// it was already revoked; `NotFound` when it does not exist.
    async fn revoke_verifier(&self, id: &str, at: OffsetDateTime) -> StoreResult<bool>;

    // --- change notifications between instances ------------------------------------

    /// Tells every other instance sharing this database that something
    /// changed (PostgreSQL: `NOTIFY`). A single-process store has no one to
    /// tell.
    async fn publish_invalidation(&self, _message: &str) -> StoreResult<()> {
        Ok(())
    }

    /// Messages published by any instance, this one included; `None` when
    /// the backend has no such channel. After a lost connection the channel
    /// yields `"all"`, since messages may have been missed.
    async fn subscribe_invalidations(
        &self,
    ) -> StoreResult<Option<tokio::sync::mpsc::Receiver<String>>> {
        Ok(None)
    }

    // --- audit ------------------------------------------------------------------

    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, filter: &AuditFilter, page: &Page) -> StoreResult<Vec<AuditEvent>>;
}

/// Opens the store the URL names (`sqlite:…` or a file path; `postgres://…`).
/// Does not migrate.
pub async fn connect(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, ConnectOptions::default()).await
}

/// How to open a store, beyond its URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectOptions {
    /// Map a SQLite database file into memory for the verifier's direct
    /// reads. Worth it when every verification reads the store (the verify
    /// cache off): a read of a mapped page is a memory read, where a read
    /// through SQLite's own small page cache is often a system call. With
    /// the cache on the store is read only on a miss, and the mapped pages
    /// would only add to the process's resident size. PostgreSQL ignores it.
    pub map_sqlite_file: bool,
}

/// [`connect`], with options.
pub async fn connect_with(
    url: &DatabaseUrl,
    options: ConnectOptions,
) -> StoreResult<Arc<dyn Store>> {
    match url {
        DatabaseUrl::Sqlite { .. } => Ok(Arc::new(SqliteStore::connect_with(url, options).await?)),
        DatabaseUrl::Postgres { .. } => Ok(Arc::new(PostgresStore::connect(url).await?)),
    }
}

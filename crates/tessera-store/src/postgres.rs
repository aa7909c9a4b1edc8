//! The PostgreSQL store, for several Tessera instances sharing one database.
//!
//! Times are `TIMESTAMPTZ` columns, exchanged with the code as microseconds
//! through `tessera_ts()` and `tessera_us()` (see the migration), so rows
//! decode into the same structs as SQLite's. Read-then-write transactions
//! lock the row they depend on (`FOR NO KEY UPDATE`: it serialises writers
//! of that row without blocking inserts elsewhere that merely reference it).

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool, Postgres, Transaction};
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::TokenHash;

use crate::coalesce::Coalescer;
use crate::codec::*;
use crate::listing::{Listing, TimeSql};
use crate::*;

/// A bound time (microseconds) becomes a `TIMESTAMPTZ`.
const TIME: TimeSql = TimeSql {
    open: "tessera_ts(",
    close: ")",
};

/// The `NOTIFY` channel instances tell each other about changes on.
const INVALIDATION_CHANNEL: &str = "tessera_invalidation";
/// What a subscriber receives when messages may have been missed.
const INVALIDATE_ALL: &str = "all";

const MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a connection, and `connect` for the server,
/// before the store reports itself unavailable: requests fail closed and
/// fast rather than pile up behind a database that is gone.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

// Column lists converting times to microseconds and JSON to text, named as
// the row structs expect. Macros, so that `concat!` makes each query one
// static string (sqlx caches prepared statements by their text).
macro_rules! user_columns {
    () => {
        "id, username, display_name, password_hash, is_admin, status, \
         tessera_us(created_at) AS created_at, tessera_us(updated_at) AS updated_at, \
         agent_workspace_id"
    };
}

/// Agents: user records marked with their workspace, with their role there.
macro_rules! agent_select {
    () => {
        "SELECT u.id, u.display_name AS name, u.agent_workspace_id AS workspace_id, m.role, \
         u.status, tessera_us(u.created_at) AS created_at, u.created_by \
         FROM users u LEFT JOIN memberships m \
         ON m.workspace_id = u.agent_workspace_id AND m.user_id = u.id \
         WHERE u.agent_workspace_id IS NOT NULL"
    };
}

macro_rules! workspace_columns {
    () => {
        "id, name, tessera_us(created_at) AS created_at"
    };
}

macro_rules! membership_columns {
    () => {
        "workspace_id, user_id, role, \
         tessera_us(created_at) AS created_at, tessera_us(updated_at) AS updated_at"
    };
}

/// Qualified with `t`, as `tokens` is aliased everywhere, since the
/// secrets joined to it have columns of the same names.
macro_rules! token_columns {
    () => {
        "t.id, t.kind, t.user_id, t.workspace_id, t.name, t.display_prefix, t.last4, \
         t.permissions::text AS permissions, t.role, tessera_us(t.created_at) AS created_at, \
         t.created_by, tessera_us(t.expires_at) AS expires_at, \
         tessera_us(t.last_used_at) AS last_used_at, t.last_used_ip, t.last_used_user_agent, \
         t.last_used_ips::text AS last_used_ips, tessera_us(t.revoked_at) AS revoked_at, \
         t.revoked_by, t.revoked_reason, tessera_us(t.rotated_at) AS rotated_at"
    };
}

macro_rules! session_columns {
    () => {
        "id_hash, user_id, csrf_token, \
         tessera_us(created_at) AS created_at, tessera_us(expires_at) AS expires_at"
    };
}

macro_rules! audit_columns {
    () => {
        "id, tessera_us(at) AS at, action, actor_user_id, actor_token_id, actor_label, \
         workspace_id, target_type, target_id, client_ip, user_agent, details::text AS details"
    };
}

/// A secret's token and its owner, in one query: a verifier's cache miss is
/// one round trip.
macro_rules! found_head {
    () => {
        concat!(
            "SELECT ",
            token_columns!(),
            ", s.digest AS secret_digest, s.key_id AS secret_key_id, \
             tessera_us(s.retires_at) AS secret_retires_at, s.ends_handoff AS secret_ends_handoff, \
             u.id AS owner_id, u.username AS owner_username, u.display_name AS owner_display_name, \
             u.password_hash AS owner_password_hash, u.is_admin AS owner_is_admin, \
             u.status AS owner_status, tessera_us(u.created_at) AS owner_created_at, \
             tessera_us(u.updated_at) AS owner_updated_at, \
             u.agent_workspace_id AS owner_agent_workspace_id \
             FROM token_secrets s JOIN tokens t ON t.id = s.token_id \
             LEFT JOIN users u ON u.id = t.user_id"
        )
    };
}

pub struct PostgresStore {
    pool: PgPool,
    /// The verifier's look-ups by digest, coalesced (see [`crate::coalesce`]).
    lookups: Coalescer,
}

/// Query slots for token look-ups: half the pool, so that management
/// requests always find a connection.
const LOOKUP_SLOTS: usize = MAX_CONNECTIONS as usize / 2;

impl PostgresStore {
    /// Checks that the server answers (within [`ACQUIRE_TIMEOUT`]) and
    /// accepts the credentials, then opens the pool. Does not migrate.
    pub async fn connect(url: &DatabaseUrl) -> StoreResult<Self> {
        let DatabaseUrl::Postgres { url: raw } = url else {
            return Err(StoreError::Unavailable(format!(
                "{} is not a PostgreSQL database",
                url.redacted()
            )));
        };
        let unavailable = |why: String| {
            StoreError::Unavailable(format!("cannot connect to {}: {why}", url.redacted()))
        };
        let options = PgConnectOptions::from_str(raw.as_str())
            .map_err(|e| unavailable(e.to_string()))?
            .application_name("tessera");
        // A probe of our own: the pool would retry a refused connection
        // until its timeout and then report only that it timed out.
        match tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(Ok(probe)) => {
                let _ = probe.close().await;
            }
            Ok(Err(e)) => return Err(unavailable(e.to_string())),
            Err(_) => {
                return Err(unavailable(format!(
                    "no answer within {} s",
                    ACQUIRE_TIMEOUT.as_secs()
                )))
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let lookups = {
            let pool = pool.clone();
            Coalescer::new(LOOKUP_SLOTS, move |digests| {
                let pool = pool.clone();
                async move {
                    sqlx::query_as::<_, FoundRow>(concat!(
                        found_head!(),
                        " WHERE s.digest = ANY($1)"
                    ))
                    .bind(digests)
                    .fetch_all(&pool)
                    .await?
                    .into_iter()
                    .map(FoundSecret::try_from)
                    .collect()
                }
            })
        };
        Ok(Self { pool, lookups })
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    #[tracing::instrument(skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx holds an advisory lock while migrating: instances starting
        // together take turns.
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // --- users ---------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        sqlx::query_as::<_, UserRow>(concat!(
            "INSERT INTO users \
             (id, username, display_name, password_hash, is_admin, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', tessera_ts($6), tessera_ts($6)) RETURNING ",
            user_columns!()
        ))
        .bind_new_user(user)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, || username_taken(&user.username)))?
        .try_into()
    }

    #[tracing::instrument(skip_all)]
    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(User::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .map(User::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_users(&self, page: &Page) -> StoreResult<Vec<User>> {
        let head = concat!("SELECT ", user_columns!(), " FROM users");
        let rows = Listing::<Postgres>::page(head, TIME, page)
            .build_query_as::<UserRow>()
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn count_users(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        count(n)
    }

    #[tracing::instrument(skip_all)]
    async fn set_user_status(
        &self,
        id: &str,
        status: UserStatus,
        at: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let current: User = sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1 FOR NO KEY UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()?;
        if !status_change_allowed(&current, status)? {
            return Ok(current);
        }
        let user = sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET status = $1, updated_at = tessera_ts($2) WHERE id = $3 RETURNING ",
            user_columns!()
        ))
        .bind(status.as_str())
        .bind(micros(at))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .try_into()?;
        tx.commit().await?;
        Ok(user)
    }

    #[tracing::instrument(skip_all)]
    async fn set_password(
        &self,
        id: &str,
        password_hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = tessera_ts($2) WHERE id = $3",
        )
        .bind(password_hash)
        .bind(micros(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected())
    }

    // --- agents -------------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<Agent> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users \
             (id, username, display_name, password_hash, is_admin, status, created_at, \
              updated_at, agent_workspace_id, created_by) \
             VALUES ($1, $2, $3, '', FALSE, 'active', tessera_ts($4), tessera_ts($4), $5, $6)",
        )
        .bind(&agent.id)
        .bind(agent_username(&agent.id))
        .bind(&agent.name)
        .bind(micros(agent.created_at))
        .bind(&agent.workspace_id)
        .bind(&agent.created_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| agent_insert_error(e, agent))?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, updated_at) \
             VALUES ($1, $2, $3, tessera_ts($4), tessera_ts($4))",
        )
        .bind(&agent.workspace_id)
        .bind(&agent.id)
        .bind(&agent.role)
        .bind(micros(agent.created_at))
        .execute(&mut *tx)
        .await
        .map_err(not_found_on_foreign_key)?;
        let created = sqlx::query_as::<_, AgentRow>(concat!(agent_select!(), " AND u.id = $1"))
            .bind(&agent.id)
            .fetch_one(&mut *tx)
            .await?
            .try_into()?;
        tx.commit().await?;
        Ok(created)
    }

    #[tracing::instrument(skip_all)]
    async fn agent(&self, id: &str) -> StoreResult<Option<Agent>> {
        sqlx::query_as::<_, AgentRow>(concat!(agent_select!(), " AND u.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(Agent::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_agents(&self, workspace_id: &str, page: &Page) -> StoreResult<Vec<Agent>> {
        let head = concat!("SELECT * FROM (", agent_select!(), ") a");
        let rows = Listing::<Postgres>::agents(head, TIME, workspace_id, page)
            .build_query_as::<AgentRow>()
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }

    // --- workspaces and memberships -------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_workspace(&self, workspace: &Workspace) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, tessera_ts($3))",
        )
        .bind(&workspace.id)
        .bind(&workspace.name)
        .bind(micros(workspace.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, || workspace_taken(&workspace.name)))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn workspace(&self, id: &str) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>(concat!(
            "SELECT ",
            workspace_columns!(),
            " FROM workspaces WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(Workspace::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_workspaces(&self, page: &Page) -> StoreResult<Vec<Workspace>> {
        let head = concat!("SELECT ", workspace_columns!(), " FROM workspaces");
        let rows = Listing::<Postgres>::page(head, TIME, page)
            .build_query_as::<WorkspaceRow>()
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn set_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: &str,
        at: OffsetDateTime,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin().await?;
        // Membership changes of one workspace take turns, so the previous
        // role read here is still the previous role when the upsert lands.
        sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR NO KEY UPDATE")
            .bind(workspace_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, updated_at) \
             VALUES ($1, $2, $3, tessera_ts($4), tessera_ts($4)) \
             ON CONFLICT (workspace_id, user_id) \
             DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at",
        )
        .bind(workspace_id)
        .bind(user_id)
        .bind(role)
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .map_err(not_found_on_foreign_key)?;
        tx.commit().await?;
        Ok(previous)
    }

    #[tracing::instrument(skip_all)]
    async fn remove_membership(&self, workspace_id: &str, user_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(workspace_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn membership(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>> {
        sqlx::query_as::<_, MembershipRow>(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM memberships WHERE workspace_id = $1 AND user_id = $2"
        ))
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?
        .map(Membership::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_members(&self, workspace_id: &str) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow>(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM memberships WHERE workspace_id = $1 ORDER BY created_at, user_id"
        ))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow>(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM memberships WHERE user_id = $1 ORDER BY created_at, workspace_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        records(rows)
    }

    // --- tokens -----------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn insert_token(
        &self,
        token: &NewToken,
        max_active_for_owner: Option<u32>,
    ) -> StoreResult<TokenRecord> {
        let mut tx = self.begin().await?;
        if let (Some(max), Some(owner)) = (max_active_for_owner, &token.user_id) {
            // The owner's row lock makes inserts for one owner take turns:
            // two cannot both count four and both insert a fifth.
            sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let active: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tokens WHERE user_id = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > tessera_ts($2))",
            )
            .bind(owner)
            .bind(micros(token.created_at))
            .fetch_one(&mut *tx)
            .await?;
            if active >= i64::from(max) {
                return Err(StoreError::LimitReached);
            }
        }
        let record = sqlx::query_as::<_, TokenRow>(concat!(
            "INSERT INTO tokens AS t (id, kind, user_id, workspace_id, name, display_prefix, \
             last4, permissions, role, created_at, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, tessera_ts($10), $11, \
             tessera_ts($12)) RETURNING ",
            token_columns!()
        ))
        .bind_new_token(token)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| token_insert_error(e, token))?
        .try_into()?;
        insert_secret(&mut tx, &token.id, &token.hash, token.created_at, false)
            .await
            .map_err(|e| token_insert_error(e, token))?;
        tx.commit().await?;
        Ok(record)
    }

    #[tracing::instrument(skip_all)]
    async fn find_token_by_hash(
        &self,
        candidates: &[TokenHash],
    ) -> StoreResult<Option<FoundToken>> {
        if candidates.is_empty() {
            return Ok(None);
        }
        self.lookups.find(candidates).await
    }

    #[tracing::instrument(skip_all)]
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        sqlx::query_as::<_, TokenRow>(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens t WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(TokenRecord::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        page: &Page,
    ) -> StoreResult<Vec<TokenRecord>> {
        let head = concat!("SELECT ", token_columns!(), " FROM tokens t");
        let rows = Listing::<Postgres>::tokens(head, TIME, filter, page)
            .build_query_as::<TokenRow>()
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_token(&self, id: &str, revocation: &Revocation) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // A concurrent revocation waits here, then sees the token revoked.
        let revoked: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT tessera_us(revoked_at) FROM tokens WHERE id = $1 FOR NO KEY UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        match revoked {
            None => return Err(StoreError::NotFound),
            Some(Some(_)) => return Ok(false),
            Some(None) => {}
        }
        sqlx::query(
            "UPDATE tokens SET revoked_at = tessera_ts($1), revoked_by = $2, revoked_reason = $3 \
             WHERE id = $4",
        )
        .bind_revocation(revocation)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_user_tokens(
        &self,
        user_id: &str,
        revocation: &Revocation,
    ) -> StoreResult<Vec<String>> {
        let mut ids: Vec<String> = sqlx::query_scalar(
            "UPDATE tokens SET revoked_at = tessera_ts($1), revoked_by = $2, revoked_reason = $3 \
             WHERE user_id = $4 AND revoked_at IS NULL RETURNING id",
        )
        .bind_revocation(revocation)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        newest_first(&mut ids);
        Ok(ids)
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_token(&self, rotation: &Rotation) -> StoreResult<TokenRecord> {
        let mut tx = self.begin().await?;
        // Rotations and revocations of one token take turns.
        let revoked: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT tessera_us(revoked_at) FROM tokens WHERE id = $1 FOR NO KEY UPDATE",
        )
        .bind(&rotation.token_id)
        .fetch_optional(&mut *tx)
        .await?;
        if !matches!(revoked, Some(None)) {
            return Err(StoreError::NotFound);
        }
        // A secret still waiting for its first use was lost, or this
        // rotation retries one that was: it retires now.
        sqlx::query(
            "UPDATE token_secrets SET retires_at = tessera_ts($1), ends_handoff = false \
             WHERE token_id = $2 AND ends_handoff",
        )
        .bind(micros(rotation.at))
        .bind(&rotation.token_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE token_secrets SET retires_at = tessera_ts($1) \
             WHERE token_id = $2 AND (retires_at IS NULL OR retires_at > tessera_ts($1))",
        )
        .bind(micros(rotation.old_secret_retires_at))
        .bind(&rotation.token_id)
        .execute(&mut *tx)
        .await?;
        insert_secret(
            &mut tx,
            &rotation.token_id,
            &rotation.new_hash,
            rotation.at,
            rotation.handoff,
        )
        .await
        .map_err(|e| conflict_on_unique(e, secret_taken))?;
        let record = sqlx::query_as::<_, TokenRow>(concat!(
            "UPDATE tokens AS t SET display_prefix = $1, last4 = $2, \
             expires_at = tessera_ts($3), rotated_at = tessera_ts($4) WHERE id = $5 RETURNING ",
            token_columns!()
        ))
        .bind_rotation(rotation)
        .fetch_one(&mut *tx)
        .await?
        .try_into()?;
        tx.commit().await?;
        Ok(record)
    }

    #[tracing::instrument(skip_all)]
    async fn complete_handoff(
        &self,
        token_id: &str,
        digest: &[u8],
        old_secrets_retire_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let ended = sqlx::query(
            "UPDATE token_secrets SET ends_handoff = false \
             WHERE digest = $1 AND token_id = $2 AND ends_handoff",
        )
        .bind(digest)
        .bind(token_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if ended {
            sqlx::query(
                "UPDATE token_secrets SET retires_at = tessera_ts($1) \
                 WHERE token_id = $2 AND retires_at > tessera_ts($1)",
            )
            .bind(micros(old_secrets_retire_at))
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    #[tracing::instrument(skip_all)]
    async fn record_usage(&self, usage: &[TokenUsage]) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let groups = usage_by_token(usage);
        let mut tx = self.begin().await?;
        // `usage_by_token` orders tokens by id and rows are locked in id
        // order: two instances flushing overlapping batches never deadlock.
        for chunk in groups.chunks(USAGE_CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| *id).collect();
            let rows = sqlx::query_as::<_, TokenUsageRow>(
                "SELECT id, tessera_us(last_used_at) AS last_used_at, last_used_ip, \
                 last_used_user_agent, last_used_ips::text AS last_used_ips \
                 FROM tokens WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            )
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            let merged = merge_usage_rows(rows, chunk)?;
            if merged.is_empty() {
                continue;
            }
            let column = |f: fn(&(String, UsageRow)) -> Option<String>| -> Vec<Option<String>> {
                merged.iter().map(f).collect()
            };
            sqlx::query(
                "UPDATE tokens AS t SET last_used_at = tessera_ts(v.at), last_used_ip = v.ip, \
                 last_used_user_agent = v.user_agent, last_used_ips = v.ips::jsonb \
                 FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[]) \
                 AS v(id, at, ip, user_agent, ips) WHERE t.id = v.id",
            )
            .bind(merged.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>())
            .bind(
                merged
                    .iter()
                    .map(|(_, r)| r.last_used_at)
                    .collect::<Vec<_>>(),
            )
            .bind(column(|(_, r)| r.last_used_ip.clone()))
            .bind(column(|(_, r)| r.last_used_user_agent.clone()))
            .bind(column(|(_, r)| Some(r.last_used_ips.clone())))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // --- sessions ---------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, tessera_ts($4), tessera_ts($5))",
        )
        .bind_session(session)
        .execute(&self.pool)
        .await
        .map_err(session_insert_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn session(&self, id_hash: &str, now: OffsetDateTime) -> StoreResult<Option<Session>> {
        sqlx::query_as::<_, SessionRow>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id_hash = $1 AND expires_at > tessera_ts($2)"
        ))
        .bind(id_hash)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await?
        .map(Session::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn claim_form_id(
        &self,
        session_id_hash: &str,
        form_id: &str,
        now: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM form_submissions WHERE used_at < tessera_ts($1)")
            .bind(micros(forget_before))
            .execute(&mut *tx)
            .await?;
        let claimed = sqlx::query(
            "INSERT INTO form_submissions (session_id_hash, form_id, used_at) \
             VALUES ($1, $2, tessera_ts($3)) ON CONFLICT DO NOTHING",
        )
        .bind(session_id_hash)
        .bind(form_id)
        .bind(micros(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(claimed)
    }

    // --- change notifications between instances ------------------------------------

    #[tracing::instrument(skip_all)]
    async fn publish_invalidation(&self, message: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INVALIDATION_CHANNEL)
            .bind(message)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Holds one of the pool's connections for as long as the receiver lives.
    #[tracing::instrument(skip_all)]
    async fn subscribe_invalidations(
        &self,
    ) -> StoreResult<Option<tokio::sync::mpsc::Receiver<String>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(INVALIDATION_CHANNEL).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        tokio::spawn(forward_invalidations(listener, sender));
        Ok(Some(receiver))
    }

    // --- audit ------------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_verifier(
        &self,
        verifier: &NewVerifierCredential,
    ) -> StoreResult<VerifierCredential> {
        let v = &verifier.credential;
        sqlx::query(
            "INSERT INTO verifiers (id, name, secret_hash, workspace_ids, kinds, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, tessera_ts($6), $7)",
        )
        .bind(&v.id)
        .bind(&v.name)
        .bind(&verifier.secret_hash)
        .bind(encode_list(&v.audience.workspace_ids))
        .bind(encode_list(&v.audience.kinds))
        .bind(micros(v.created_at))
        .bind(&v.created_by)
        .execute(&self.pool)
        .await
        .map_err(|e| match not_found_on_foreign_key(e) {
            StoreError::Database(e) => conflict_on_unique(e, || verifier_taken(&v.id)),
            other => other,
        })?;
        Ok(v.clone())
    }

    #[tracing::instrument(skip_all)]
    async fn verifier_by_secret_hash(
        &self,
        secret_hash: &str,
    ) -> StoreResult<Option<VerifierCredential>> {
        sqlx::query_as::<_, VerifierRow>(
            "SELECT id, name, workspace_ids, kinds, tessera_us(created_at) AS created_at, created_by, tessera_us(revoked_at) AS revoked_at FROM verifiers WHERE secret_hash = $1 AND revoked_at IS NULL",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?
        .map(VerifierCredential::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_verifiers(&self) -> StoreResult<Vec<VerifierCredential>> {
        let rows = sqlx::query_as::<_, VerifierRow>(
            "SELECT id, name, workspace_ids, kinds, tessera_us(created_at) AS created_at, created_by, tessera_us(revoked_at) AS revoked_at FROM verifiers WHERE revoked_at IS NULL ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_verifier(&self, id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let changed = sqlx::query(
            "UPDATE verifiers SET revoked_at = tessera_ts($1) WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(micros(at))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if changed > 0 {
            return Ok(true);
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM verifiers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }

    #[tracing::instrument(skip_all)]
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_user_id, actor_token_id, \
             actor_label, workspace_id, target_type, target_id, client_ip, user_agent, details) \
             VALUES ($1, tessera_ts($2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)",
        )
        .bind_audit_event(event)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, || event_taken(&event.id)))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit(&self, filter: &AuditFilter, page: &Page) -> StoreResult<Vec<AuditEvent>> {
        let head = concat!("SELECT ", audit_columns!(), " FROM audit_events");
        let rows = Listing::<Postgres>::audit(head, TIME, filter, page)
            .build_query_as::<AuditRow>()
            .fetch_all(&self.pool)
            .await?;
        records(rows)
    }
}

/// Passes notifications on until the subscriber goes away. When the
/// listening connection is lost, notifications sent meanwhile are lost with
/// it: once listening again, tell the subscriber to forget everything.
async fn forward_invalidations(
    mut listener: PgListener,
    sender: tokio::sync::mpsc::Sender<String>,
) {
    loop {
        let message = match listener.try_recv().await {
            Ok(Some(notification)) => notification.payload().to_owned(),
            Ok(None) => {
                relisten(&mut listener).await;
                INVALIDATE_ALL.to_owned()
            }
            Err(e) => {
                tracing::warn!(error = %e, "the invalidation listener failed");
                relisten(&mut listener).await;
                INVALIDATE_ALL.to_owned()
            }
        };
        if sender.send(message).await.is_err() {
            return;
        }
    }
}

/// Reconnects the listener (it `LISTEN`s again as it connects), retrying
/// every second until the database answers.
async fn relisten(listener: &mut PgListener) {
    while let Err(e) = sqlx::query("SELECT 1").execute(&mut *listener).await {
        tracing::warn!(error = %e, "reconnecting the invalidation listener");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn insert_secret(
    tx: &mut Transaction<'static, Postgres>,
    token_id: &str,
    hash: &TokenHash,
    at: OffsetDateTime,
    ends_handoff: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO token_secrets (digest, key_id, token_id, created_at, ends_handoff) \
         VALUES ($1, $2, $3, tessera_ts($4), $5)",
    )
    .bind_secret(token_id, hash, at)
    .bind(ends_handoff)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

//! The SQLite store: one file, safe to share between processes.
//!
//! Two pools over the same file. Readers (several connections) run beside
//! the writer thanks to WAL. All writes go through a pool of exactly one
//! connection, so within a process writers queue in the pool instead of
//! spinning on SQLite's busy handler. Between processes the lock is SQLite's:
//! `busy_timeout` makes a writer wait for another's commit, and every
//! read-then-write transaction starts with `BEGIN IMMEDIATE`, taking the
//! write lock before its first read. (A deferred `BEGIN` would read a
//! snapshot, then fail with `SQLITE_BUSY` when upgrading to write if another
//! process committed meanwhile, without the busy handler being consulted.)
//!
//! The verifier's two hot reads, a token by its secret's hash and a
//! membership, do not go through sqlx but through rusqlite, inline on the
//! calling task: see [`DirectReads`] for why and how. Everything else,
//! reads included, goes through sqlx.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::TokenHash;

use crate::codec::*;
use crate::listing::{Listing, TimeSql};
use crate::*;

/// SQLite keeps microseconds: a bound time is compared as it is.
const TIME: TimeSql = TimeSql {
    open: "",
    close: "",
};

/// How long a writer waits for another process's transaction to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write waits for this process's writer connection; writes queue
/// behind each other there, so this is generous.
const WRITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
const READERS: u32 = 8;

/// A secret's token and its owner, in one query: a verifier's cache miss is
/// one round trip.
const FOUND_HEAD: &str = "SELECT t.*, s.digest AS secret_digest, s.key_id AS secret_key_id, \
     s.retires_at AS secret_retires_at, s.ends_handoff AS secret_ends_handoff, \
     u.id AS owner_id, u.username AS owner_username, u.display_name AS owner_display_name, \
     u.password_hash AS owner_password_hash, u.is_admin AS owner_is_admin, \
     u.status AS owner_status, u.created_at AS owner_created_at, \
     u.updated_at AS owner_updated_at, u.agent_workspace_id AS owner_agent_workspace_id \
     FROM token_secrets s JOIN tokens t ON t.id = s.token_id \
     LEFT JOIN users u ON u.id = t.user_id";

/// The found-token query's text for these candidates (as sqlx's listing
/// builds it), made once per candidate count: the direct read runs on every
/// cache miss and needs only the text, not a builder with bound values.
fn found_sql(candidates: &[TokenHash]) -> std::borrow::Cow<'static, str> {
    static BY_COUNT: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let build = || Listing::<Sqlite>::secrets(FOUND_HEAD, TIME, candidates).into_sql();
    match candidates
        .len()
        .checked_sub(1)
        .and_then(|i| BY_COUNT.get(i))
    {
        Some(text) => text.get_or_init(build).as_str().into(),
        None => build().into(),
    }
}

/// The found-token query's columns, whatever the number of candidates: they
/// are [`FOUND_HEAD`]'s, in [`FoundRow`]'s order.
static FOUND_LAYOUT: Layout = Layout::new();

/// A membership by its key: read directly (rusqlite) by the verifier and,
/// on fallback, through sqlx.
const MEMBERSHIP_SELECT: &str = "SELECT * FROM memberships WHERE workspace_id = ? AND user_id = ?";

/// Agents: user records marked with their workspace, with their role there.
const AGENT_SELECT: &str = "SELECT u.id, u.display_name AS name, \
     u.agent_workspace_id AS workspace_id, m.role, u.status, u.created_at, u.created_by \
     FROM users u LEFT JOIN memberships m \
     ON m.workspace_id = u.agent_workspace_id AND m.user_id = u.id \
     WHERE u.agent_workspace_id IS NOT NULL";

pub struct SqliteStore {
    reader: SqlitePool,
    /// One connection: see the module documentation.
    writer: SqlitePool,
    /// The verifier's hot reads, through rusqlite.
    direct: DirectReads,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn connect(url: &DatabaseUrl) -> StoreResult<Self> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    pub async fn connect_with(url: &DatabaseUrl, options: ConnectOptions) -> StoreResult<Self> {
        let map_file = options.map_sqlite_file;
        let DatabaseUrl::Sqlite { path } = url else {
            return Err(StoreError::Unavailable(format!(
                "{} is not a SQLite database",
                url.redacted()
            )));
        };
        let unavailable = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot open {}: {e}", url.redacted()))
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss, not only a crash. Tokens
            // and revocations are few and must not come back.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(WRITE_ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(BUSY_TIMEOUT)
            // A write sent to the readers by mistake fails loudly instead of
            // bypassing the writer's queue.
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(unavailable)?;
        Ok(Self {
            reader,
            writer,
            direct: DirectReads::new(path, map_file),
        })
    }

    /// How many verifier reads were answered directly, and how many fell
    /// back to sqlx, since this store was opened.
    pub fn direct_reads(&self) -> DirectReadCounts {
        self.direct.counts()
    }

    /// A transaction holding the write lock from its start.
    async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    #[tracing::instrument(skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    // --- users ---------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        sqlx::query_as::<_, UserRow>(
            "INSERT INTO users \
             (id, username, display_name, password_hash, is_admin, status, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?6) RETURNING *",
        )
        .bind_new_user(user)
        .fetch_one(&self.writer)
        .await
        .map_err(|e| conflict_on_unique(e, || username_taken(&user.username)))?
        .try_into()
    }

    #[tracing::instrument(skip_all)]
    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .map(User::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.reader)
            .await?
            .map(User::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_users(&self, page: &Page) -> StoreResult<Vec<User>> {
        let rows = Listing::<Sqlite>::page("SELECT * FROM users", TIME, page)
            .build_query_as::<UserRow>()
            .fetch_all(&self.reader)
            .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn count_users(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.reader)
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
        let mut tx = self.write().await?;
        let current: User = sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()?;
        if !status_change_allowed(&current, status)? {
            return Ok(current);
        }
        let user = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET status = ?, updated_at = ? WHERE id = ? RETURNING *",
        )
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
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(micros(at))
            .bind(id)
            .execute(&self.writer)
            .await?;
        found(done.rows_affected())
    }

    // --- agents -------------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<Agent> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO users \
             (id, username, display_name, password_hash, is_admin, status, created_at, \
              updated_at, agent_workspace_id, created_by) \
             VALUES (?1, ?2, ?3, '', 0, 'active', ?4, ?4, ?5, ?6)",
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
             VALUES (?1, ?2, ?3, ?4, ?4)",
        )
        .bind(&agent.workspace_id)
        .bind(&agent.id)
        .bind(&agent.role)
        .bind(micros(agent.created_at))
        .execute(&mut *tx)
        .await
        .map_err(not_found_on_foreign_key)?;
        let created = sqlx::query_as::<_, AgentRow>(&format!("{AGENT_SELECT} AND u.id = ?"))
            .bind(&agent.id)
            .fetch_one(&mut *tx)
            .await?
            .try_into()?;
        tx.commit().await?;
        Ok(created)
    }

    #[tracing::instrument(skip_all)]
    async fn agent(&self, id: &str) -> StoreResult<Option<Agent>> {
        sqlx::query_as::<_, AgentRow>(&format!("{AGENT_SELECT} AND u.id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .map(Agent::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_agents(&self, workspace_id: &str, page: &Page) -> StoreResult<Vec<Agent>> {
        let head = format!("SELECT * FROM ({AGENT_SELECT}) a");
        let rows = Listing::<Sqlite>::agents(&head, TIME, workspace_id, page)
            .build_query_as::<AgentRow>()
            .fetch_all(&self.reader)
            .await?;
        records(rows)
    }

    // --- workspaces and memberships -------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_workspace(&self, workspace: &Workspace) -> StoreResult<()> {
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&workspace.id)
            .bind(&workspace.name)
            .bind(micros(workspace.created_at))
            .execute(&self.writer)
            .await
            .map_err(|e| conflict_on_unique(e, || workspace_taken(&workspace.name)))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn workspace(&self, id: &str) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT * FROM workspaces WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .map(Workspace::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_workspaces(&self, page: &Page) -> StoreResult<Vec<Workspace>> {
        let rows = Listing::<Sqlite>::page("SELECT * FROM workspaces", TIME, page)
            .build_query_as::<WorkspaceRow>()
            .fetch_all(&self.reader)
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
        let mut tx = self.write().await?;
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
        )
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) \
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
        let done = sqlx::query("DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?")
            .bind(workspace_id)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(skip_all)]
    async fn membership(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<Membership>> {
        // The verifier asks this whenever a personal or agent token acts in
        // a workspace and its cache does not know the role.
        let direct = self.direct.read("membership", |conn| {
            let mut statement = conn.prepare_cached(MEMBERSHIP_SELECT)?;
            let mut rows = statement.query((workspace_id, user_id))?;
            rows.next()?.map(MembershipRow::from_rusqlite).transpose()
        });
        let row = match direct {
            Some(row) => row,
            None => {
                sqlx::query_as::<_, MembershipRow>(MEMBERSHIP_SELECT)
                    .bind(workspace_id)
                    .bind(user_id)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        row.map(Membership::try_from).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_members(&self, workspace_id: &str) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow>(
            "SELECT * FROM memberships WHERE workspace_id = ? ORDER BY created_at, user_id",
        )
        .bind(workspace_id)
        .fetch_all(&self.reader)
        .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow>(
            "SELECT * FROM memberships WHERE user_id = ? ORDER BY created_at, workspace_id",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
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
        let mut tx = self.write().await?;
        if let (Some(max), Some(owner)) = (max_active_for_owner, &token.user_id) {
            // BEGIN IMMEDIATE holds the write lock: nobody inserts between
            // this count and the insert below.
            let active: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tokens WHERE user_id = ? AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
            )
            .bind(owner)
            .bind(micros(token.created_at))
            .fetch_one(&mut *tx)
            .await?;
            if active >= i64::from(max) {
                return Err(StoreError::LimitReached);
            }
        }
        let record = sqlx::query_as::<_, TokenRow>(
            "INSERT INTO tokens (id, kind, user_id, workspace_id, name, display_prefix, last4, \
             permissions, role, created_at, created_by, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
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
        // The verifier's read on every cache miss (every request, cache off).
        let direct = self.direct.read("find_token_by_hash", |conn| {
            // The same SQL as sqlx's below; its placeholders are the
            // candidates' digests, in order.
            let mut statement = conn.prepare_cached(&found_sql(candidates))?;
            let digests = candidates.iter().map(|c| &c.digest[..]);
            let rows = statement
                .query_map(rusqlite::params_from_iter(digests), |row| {
                    FoundRow::from_rusqlite_in(&FOUND_LAYOUT, row)
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        });
        let rows = match direct {
            Some(rows) => rows,
            None => {
                Listing::<Sqlite>::secrets(FOUND_HEAD, TIME, candidates)
                    .build_query_as::<FoundRow>()
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        pick_found(rows, candidates)
    }

    #[tracing::instrument(skip_all)]
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        sqlx::query_as::<_, TokenRow>("SELECT * FROM tokens WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
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
        let rows = Listing::<Sqlite>::tokens("SELECT * FROM tokens", TIME, filter, page)
            .build_query_as::<TokenRow>()
            .fetch_all(&self.reader)
            .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_token(&self, id: &str, revocation: &Revocation) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let revoked: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        match revoked {
            None => return Err(StoreError::NotFound),
            Some(Some(_)) => return Ok(false),
            Some(None) => {}
        }
        sqlx::query(
            "UPDATE tokens SET revoked_at = ?, revoked_by = ?, revoked_reason = ? WHERE id = ?",
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
            "UPDATE tokens SET revoked_at = ?, revoked_by = ?, revoked_reason = ? \
             WHERE user_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind_revocation(revocation)
        .bind(user_id)
        .fetch_all(&self.writer)
        .await?;
        newest_first(&mut ids);
        Ok(ids)
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_token(&self, rotation: &Rotation) -> StoreResult<TokenRecord> {
        let mut tx = self.write().await?;
        let revoked: Option<Option<i64>> =
            sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = ?")
                .bind(&rotation.token_id)
                .fetch_optional(&mut *tx)
                .await?;
        if !matches!(revoked, Some(None)) {
            return Err(StoreError::NotFound);
        }
        // A secret still waiting for its first use was lost, or this
        // rotation retries one that was: it retires now.
        sqlx::query(
            "UPDATE token_secrets SET retires_at = ?1, ends_handoff = 0 \
             WHERE token_id = ?2 AND ends_handoff = 1",
        )
        .bind(micros(rotation.at))
        .bind(&rotation.token_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE token_secrets SET retires_at = ?1 \
             WHERE token_id = ?2 AND (retires_at IS NULL OR retires_at > ?1)",
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
        let record = sqlx::query_as::<_, TokenRow>(
            "UPDATE tokens SET display_prefix = ?, last4 = ?, expires_at = ?, rotated_at = ? \
             WHERE id = ? RETURNING *",
        )
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
        let mut tx = self.write().await?;
        let ended = sqlx::query(
            "UPDATE token_secrets SET ends_handoff = 0 \
             WHERE digest = ? AND token_id = ? AND ends_handoff = 1",
        )
        .bind(digest)
        .bind(token_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if ended {
            sqlx::query(
                "UPDATE token_secrets SET retires_at = ?1 \
                 WHERE token_id = ?2 AND retires_at > ?1",
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
        let mut tx = self.write().await?;
        for chunk in groups.chunks(USAGE_CHUNK) {
            let mut select = sqlx::QueryBuilder::<Sqlite>::new(
                "SELECT id, last_used_at, last_used_ip, last_used_user_agent, last_used_ips \
                 FROM tokens WHERE id IN (",
            );
            let mut ids = select.separated(", ");
            for (id, _) in chunk {
                ids.push_bind(*id);
            }
            select.push(")");
            let rows: Vec<TokenUsageRow> = select.build_query_as().fetch_all(&mut *tx).await?;
            let merged = merge_usage_rows(rows, chunk)?;
            if merged.is_empty() {
                continue;
            }
            // One UPDATE … FROM (VALUES …) for the chunk: SQLite names the
            // VALUES columns column1…column5.
            let mut update = sqlx::QueryBuilder::<Sqlite>::new(
                "UPDATE tokens SET last_used_at = v.column2, last_used_ip = v.column3, \
                 last_used_user_agent = v.column4, last_used_ips = v.column5 FROM (",
            );
            update.push_values(&merged, |mut values, (id, row)| {
                values
                    .push_bind(id)
                    .push_bind(row.last_used_at)
                    .push_bind(&row.last_used_ip)
                    .push_bind(&row.last_used_user_agent)
                    .push_bind(&row.last_used_ips);
            });
            update.push(") AS v WHERE tokens.id = v.column1");
            update.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // --- sessions ---------------------------------------------------------------

    #[tracing::instrument(skip_all)]
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind_session(session)
        .execute(&self.writer)
        .await
        .map_err(session_insert_error)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn session(&self, id_hash: &str, now: OffsetDateTime) -> StoreResult<Option<Session>> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(id_hash)
        .bind(micros(now))
        .fetch_optional(&self.reader)
        .await?
        .map(Session::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id)
            .execute(&self.writer)
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
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM form_submissions WHERE used_at < ?")
            .bind(micros(forget_before))
            .execute(&mut *tx)
            .await?;
        let claimed = sqlx::query(
            "INSERT INTO form_submissions (session_id_hash, form_id, used_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
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

    // --- change notifications between processes ----------------------------------------

    /// SQLite has no NOTIFY: the message goes into a table that every
    /// process sharing the file polls.
    #[tracing::instrument(skip_all)]
    async fn publish_invalidation(&self, message: &str) -> StoreResult<()> {
        let now = micros(OffsetDateTime::now_utc());
        let mut tx = self.writer.begin().await?;
        sqlx::query("INSERT INTO invalidations (message, at) VALUES (?, ?)")
            .bind(message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM invalidations WHERE at < ?")
            .bind(now - INVALIDATION_RETENTION.as_micros() as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Polls for messages newer than the newest at subscription time.
    #[tracing::instrument(skip_all)]
    async fn subscribe_invalidations(
        &self,
    ) -> StoreResult<Option<tokio::sync::mpsc::Receiver<String>>> {
        let newest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM invalidations")
            .fetch_one(&self.reader)
            .await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        tokio::spawn(poll_invalidations(self.reader.clone(), newest, sender));
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
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&v.id)
        .bind(&v.name)
        .bind(&verifier.secret_hash)
        .bind(encode_list(&v.audience.workspace_ids))
        .bind(encode_list(&v.audience.kinds))
        .bind(micros(v.created_at))
        .bind(&v.created_by)
        .execute(&self.writer)
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
            "SELECT id, name, workspace_ids, kinds, created_at, created_by, revoked_at FROM verifiers WHERE secret_hash = ? AND revoked_at IS NULL",
        )
        .bind(secret_hash)
        .fetch_optional(&self.reader)
        .await?
        .map(VerifierCredential::try_from)
        .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_verifiers(&self) -> StoreResult<Vec<VerifierCredential>> {
        let rows = sqlx::query_as::<_, VerifierRow>(
            "SELECT id, name, workspace_ids, kinds, created_at, created_by, revoked_at FROM verifiers WHERE revoked_at IS NULL ORDER BY id DESC",
        )
        .fetch_all(&self.reader)
        .await?;
        records(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_verifier(&self, id: &str, at: OffsetDateTime) -> StoreResult<bool> {
        let changed =
            sqlx::query("UPDATE verifiers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(micros(at))
                .bind(id)
                .execute(&self.writer)
                .await?
                .rows_affected();
        if changed > 0 {
            return Ok(true);
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM verifiers WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        exists.map(|_| false).ok_or(StoreError::NotFound)
    }

    #[tracing::instrument(skip_all)]
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, action, actor_user_id, actor_token_id, \
             actor_label, workspace_id, target_type, target_id, client_ip, user_agent, details) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind_audit_event(event)
        .execute(&self.writer)
        .await
        .map_err(|e| conflict_on_unique(e, || event_taken(&event.id)))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit(&self, filter: &AuditFilter, page: &Page) -> StoreResult<Vec<AuditEvent>> {
        let rows = Listing::<Sqlite>::audit("SELECT * FROM audit_events", TIME, filter, page)
            .build_query_as::<AuditRow>()
            .fetch_all(&self.reader)
            .await?;
        records(rows)
    }
}

async fn insert_secret(
    tx: &mut Transaction<'static, Sqlite>,
    token_id: &str,
    hash: &TokenHash,
    at: OffsetDateTime,
    ends_handoff: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO token_secrets (digest, key_id, token_id, created_at, ends_handoff) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind_secret(token_id, hash, at)
    .bind(ends_handoff)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How long published changes are kept for slower pollers.
const INVALIDATION_RETENTION: Duration = Duration::from_secs(60);
/// How often each process looks for other processes' changes: the longest a
/// change made elsewhere waits before this process's cache forgets it.
const INVALIDATION_POLL: Duration = Duration::from_millis(200);

/// Forwards published changes until the receiver is dropped. After a failed
/// poll, or when rows were pruned before this process read them, it sends
/// `"all"`: something may have been missed.
async fn poll_invalidations(
    pool: SqlitePool,
    mut last_seen: i64,
    sender: tokio::sync::mpsc::Sender<String>,
) {
    let mut interval = tokio::time::interval(INVALIDATION_POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        interval.tick().await;
        if sender.is_closed() {
            return;
        }
        let rows: Result<Vec<(i64, String)>, sqlx::Error> = sqlx::query_as(
            "SELECT id, message FROM invalidations WHERE id > ? ORDER BY id LIMIT 1000",
        )
        .bind(last_seen)
        .fetch_all(&pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot poll for other processes' changes");
                }
                failing = true;
                continue;
            }
        };
        let gap = rows.first().is_some_and(|(id, _)| *id > last_seen + 1);
        let missed = failing || (gap && pruned_since(&pool, last_seen).await);
        failing = false;
        if missed && sender.send("all".into()).await.is_err() {
            return;
        }
        for (id, message) in rows {
            last_seen = id;
            if sender.send(message).await.is_err() {
                return;
            }
        }
    }
}

/// Whether rows after `last_seen` were pruned (rather than never written:
/// AUTOINCREMENT leaves gaps after rolled-back inserts).
async fn pruned_since(pool: &SqlitePool, last_seen: i64) -> bool {
    let oldest: Result<Option<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT MIN(id) FROM invalidations")
            .fetch_one(pool)
            .await;
    // The row we saw last is gone: everything up to the oldest kept may have
    // held messages we never read.
    matches!(oldest, Ok(Some(min)) if min > last_seen)
}

// --- direct reads ---------------------------------------------------------------------

/// How long a direct read waits for a lock before falling back to sqlx. It
/// waits on the task's own thread, so briefly. In WAL mode a reader does not
/// wait for the writer; only rare moments (another connection recovering
/// the WAL index, a checkpoint restarting the log) make it busy.
const DIRECT_BUSY_TIMEOUT: Duration = Duration::from_millis(10);
/// Idle direct-read connections kept for reuse; more are closed when given
/// back. A direct read never awaits, so no more connections are in use at
/// once than threads running tasks.
const DIRECT_IDLE_MAX: usize = 8;

/// The verifier's hot reads, run with rusqlite inline on the calling task.
///
/// Why: sqlx's SQLite driver runs each connection on a thread of its own,
/// so every query is a pool acquire, a hand-off to that thread over a
/// channel and a hand-off of its rows back. A token looked up by its
/// indexed digest takes SQLite some microseconds (about 20 on a 1M-token
/// file); through sqlx the same read costs about 80. With the verifier's
/// cache off every request pays that: on 2 cores a verify ran at 16-23% of
/// a hello-world's throughput through sqlx, 27-38% read directly, with
/// about half the server's CPU time per request.
///
/// So these reads run where they are asked, without an await: a read-only
/// connection is taken from a small pool (a mutex held only to pop or
/// push), the statement, compiled once per connection (`prepare_cached`),
/// runs, and the connection goes back. The runtime's thread is held for the
/// query's microseconds, less than the hand-offs would cost. (A page that is
/// in neither SQLite's nor the OS's cache is a disk read on that thread;
/// sqlx's worker would wait for the same read without holding a runtime
/// thread.)
///
/// Consistency: the database is in WAL mode, each statement runs in its
/// own read transaction that starts at the latest commit, and rusqlite
/// resets a statement when its rows are dropped, so no snapshot outlives a
/// read: a write committed through sqlx is seen by the next direct read.
///
/// Only for a database file in WAL mode (which [`SqliteStore::connect`]
/// sets): for anything else, or when a connection cannot be opened, direct
/// reads turn themselves off and sqlx answers. A direct read that fails
/// (busy, locked, anything) falls back to sqlx for that call, and its
/// connection is closed.
struct DirectReads {
    path: PathBuf,
    /// Whether connections map the file (see [`ConnectOptions`]).
    map_file: bool,
    /// Off for good once the database proves not to be a WAL file, or a
    /// connection to it cannot be opened.
    enabled: AtomicBool,
    idle: Mutex<Vec<rusqlite::Connection>>,
    served: AtomicU64,
    fell_back: AtomicU64,
}

/// See [`SqliteStore::direct_reads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectReadCounts {
    /// Reads answered by rusqlite.
    pub served: u64,
    /// Reads whose rusqlite query failed and went through sqlx instead.
    pub fell_back: u64,
}

impl DirectReads {
    fn new(path: &Path, map_file: bool) -> Self {
        // An in-memory database is one per connection: nothing to share.
        let in_memory = path.as_os_str().is_empty() || path == Path::new(":memory:");
        Self {
            path: path.to_owned(),
            map_file,
            enabled: AtomicBool::new(!in_memory),
            idle: Mutex::new(Vec::new()),
            served: AtomicU64::new(0),
            fell_back: AtomicU64::new(0),
        }
    }

    fn counts(&self) -> DirectReadCounts {
        DirectReadCounts {
            served: self.served.load(Ordering::Relaxed),
            fell_back: self.fell_back.load(Ordering::Relaxed),
        }
    }

    /// `query`'s answer on a pooled connection, or `None` when the caller
    /// is to ask sqlx instead. `what` names the read in the log.
    fn read<T>(
        &self,
        what: &'static str,
        query: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        if !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let conn = self.take()?;
        match query(&conn) {
            Ok(answer) => {
                self.give_back(conn);
                self.served.fetch_add(1, Ordering::Relaxed);
                Some(answer)
            }
            // The connection is closed rather than trusted again; the next
            // read opens another.
            Err(e) => {
                self.fell_back.fetch_add(1, Ordering::Relaxed);
                // rusqlite's errors name the failure and the column, never
                // a bound value: no digest reaches the log.
                tracing::debug!(read = what, error = %e, "direct SQLite read failed; reading through sqlx");
                None
            }
        }
    }

    /// An idle connection, or a new one; `None` after turning direct reads
    /// off when a connection cannot be had.
    fn take(&self) -> Option<rusqlite::Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if idle.is_some() {
            return idle;
        }
        match open_direct(&self.path, self.map_file) {
            Ok(Some(conn)) => Some(conn),
            Ok(None) => {
                self.turn_off("the database is not in WAL mode");
                None
            }
            Err(e) => {
                self.turn_off(&e.to_string());
                None
            }
        }
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < DIRECT_IDLE_MAX {
            idle.push(conn);
        }
    }

    fn turn_off(&self, why: &str) {
        if self.enabled.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                path = %self.path.display(),
                reason = why,
                "verifier reads go through sqlx: no direct SQLite connection"
            );
        }
    }
}

/// A read-only connection to the file at `path`, opened as sqlx opens it
/// (a URI or a plain name, private cache); `None` when the database is not
/// in WAL mode, where a reader could wait on the writer.
fn open_direct(path: &Path, map_file: bool) -> rusqlite::Result<Option<rusqlite::Connection>> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_PRIVATE_CACHE,
    )?;
    conn.busy_timeout(DIRECT_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", "ON")?;
    if map_file {
        // As much of the file as SQLite allows (its compile-time limit, 2 GB
        // by default); the rest is read as usual. SQLite answers the size set.
        let _mapped: i64 =
            conn.query_row("PRAGMA mmap_size = 1099511627776", [], |row| row.get(0))?;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    Ok(mode.eq_ignore_ascii_case("wal").then_some(conn))
}

#[cfg(test)]
mod tests {
    //! The direct reads against sqlx's, answer for answer, on one file.

    use time::macros::datetime;

    use tessera_core::{HashKey, TokenHasher};

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    struct Fixture {
        store: SqliteStore,
        _dir: tempfile::TempDir,
    }

    async fn store() -> Fixture {
        store_with(ConnectOptions::default()).await
    }

    async fn store_with(options: ConnectOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite {
            path: dir.path().join("direct.db"),
        };
        let store = SqliteStore::connect_with(&url, options).await.unwrap();
        store.migrate().await.unwrap();
        Fixture { store, _dir: dir }
    }

    fn keyed() -> TokenHasher {
        TokenHasher::new(vec![HashKey {
            id: "k1".into(),
            secret: b"server key".to_vec().into(),
        }])
    }

    fn token(n: u64, hash: TokenHash) -> NewToken {
        NewToken {
            id: format!("tok_{n:04}"),
            kind: "pat".into(),
            user_id: Some("usr_alice".into()),
            workspace_id: None,
            name: format!("token {n}"),
            display_prefix: "tsr_pat_".into(),
            last4: format!("{n:04}"),
            permissions: Some(vec!["api:read".into(), "tokens:manage".into()]),
            role: None,
            created_at: T0,
            created_by: Some("usr_alice".into()),
            expires_at: Some(T0 + time::Duration::days(1)),
            hash,
        }
    }

    /// The same read through sqlx alone: direct reads off.
    async fn through_sqlx<T, F: std::future::Future<Output = StoreResult<T>>>(
        store: &SqliteStore,
        read: impl FnOnce() -> F,
    ) -> T {
        store.direct.enabled.store(false, Ordering::Relaxed);
        let answer = read().await.unwrap();
        store.direct.enabled.store(true, Ordering::Relaxed);
        answer
    }

    async fn assert_same_found(store: &SqliteStore, candidates: &[TokenHash]) {
        let served = store.direct_reads().served;
        let direct = store.find_token_by_hash(candidates).await.unwrap();
        assert_eq!(store.direct_reads().served, served + 1, "read directly");
        let sqlx = through_sqlx(store, || store.find_token_by_hash(candidates)).await;
        match (direct, sqlx) {
            (None, None) => {}
            (Some(d), Some(s)) => {
                assert_eq!(d.record, s.record);
                assert_eq!(d.digest, s.digest);
                assert_eq!(d.secret_retires_at, s.secret_retires_at);
                assert_eq!(d.owner, s.owner);
            }
            (d, s) => panic!("direct {d:?}, sqlx {s:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_reads_answer_as_sqlx_does() {
        let unmapped = store().await;
        assert_eq!(mapped_size(&unmapped), 0, "not mapped unless asked");
        direct_reads_answer_as_sqlx_does_on(unmapped).await;
    }

    /// With the file mapped into memory (the verify cache off), the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_reads_of_a_mapped_file_answer_as_sqlx_does() {
        let mapped = store_with(ConnectOptions {
            map_sqlite_file: true,
        })
        .await;
        assert!(mapped_size(&mapped) > 0, "the file is mapped");
        direct_reads_answer_as_sqlx_does_on(mapped).await;
    }

    /// How much of the file a direct connection maps (`PRAGMA mmap_size`).
    fn mapped_size(fixture: &Fixture) -> i64 {
        fixture
            .store
            .direct
            .read("test", |conn| {
                conn.query_row("PRAGMA mmap_size", [], |r| r.get(0))
            })
            .unwrap()
    }

    async fn direct_reads_answer_as_sqlx_does_on(fixture: Fixture) {
        let Fixture { store, _dir } = fixture;
        let alice = store
            .create_user(&NewUser {
                id: "usr_alice".into(),
                username: "alice".into(),
                display_name: "Alice".into(),
                password_hash: "$argon2id$hash".into(),
                is_admin: true,
                created_at: T0,
            })
            .await
            .unwrap();
        let team = Workspace {
            id: "wsp_team".into(),
            name: "team".into(),
            created_at: T0,
        };
        store.create_workspace(&team).await.unwrap();

        // A keyed PAT, used, rotated (its old secret retiring), with an
        // owner who is suspended: every column of the found row set.
        let hasher = keyed();
        store
            .insert_token(&token(1, hasher.hash("first")), None)
            .await
            .unwrap();
        store
            .record_usage(&[TokenUsage {
                token_id: "tok_0001".into(),
                at: T0 + time::Duration::seconds(5),
                ip: Some("192.0.2.1".into()),
                user_agent: Some("probe/1".into()),
            }])
            .await
            .unwrap();
        store
            .rotate_token(&Rotation {
                token_id: "tok_0001".into(),
                at: T0 + time::Duration::seconds(10),
                new_hash: hasher.hash("second"),
                display_prefix: "tsr_pat_".into(),
                last4: "cond".into(),
                expires_at: None,
                old_secret_retires_at: T0 + time::Duration::seconds(70),
                handoff: false,
            })
            .await
            .unwrap();
        store
            .set_user_status(&alice.id, UserStatus::Suspended, T0)
            .await
            .unwrap();
        // A workspace's key: no owner, no permissions, a role; revoked.
        let key = NewToken {
            kind: "api_key".into(),
            user_id: None,
            workspace_id: Some(team.id.clone()),
            permissions: None,
            role: Some("viewer".into()),
            expires_at: None,
            ..token(2, hasher.hash("key"))
        };
        store.insert_token(&key, None).await.unwrap();
        store
            .revoke_token(
                &key.id,
                &Revocation {
                    at: T0,
                    by: None,
                    reason: "leaked".into(),
                },
            )
            .await
            .unwrap();

        for secret in ["first", "second", "key", "never issued"] {
            assert_same_found(&store, &hasher.candidates(secret)).await;
            // The plain hash alone matches nothing stored under a key.
            assert_same_found(&store, &[TokenHasher::default().hash(secret)]).await;
        }
        // Two candidates matching, in either order: the first one wins.
        let both = [hasher.hash("second"), hasher.hash("first")];
        assert_same_found(&store, &both).await;
        assert_same_found(&store, &[both[1].clone(), both[0].clone()]).await;

        store
            .set_membership(&team.id, &alice.id, "admin", T0)
            .await
            .unwrap();
        for (workspace, user) in [(&team.id, &alice.id), (&team.id, &"usr_bob".to_owned())] {
            let direct = store.membership(workspace, user).await.unwrap();
            let sqlx = through_sqlx(&store, || store.membership(workspace, user)).await;
            assert_eq!(direct, sqlx);
        }
        assert_eq!(store.direct_reads().fell_back, 0);
    }

    #[tokio::test]
    async fn a_failed_direct_read_is_answered_by_sqlx() {
        let Fixture { store, _dir } = store().await;
        // A pooled connection that cannot answer (it holds no tables).
        store
            .direct
            .idle
            .lock()
            .unwrap()
            .push(rusqlite::Connection::open_in_memory().unwrap());
        let hash = TokenHasher::default().hash("secret");
        assert!(store.find_token_by_hash(&[hash]).await.unwrap().is_none());
        assert_eq!(
            store.direct_reads(),
            DirectReadCounts {
                served: 0,
                fell_back: 1
            }
        );
        // Only that read, and that connection is gone: the next is direct.
        assert!(store
            .membership("wsp_none", "usr_none")
            .await
            .unwrap()
            .is_none());
        assert_eq!(store.direct_reads().served, 1);
    }

    #[test]
    fn direct_reads_are_only_for_a_wal_file() {
        assert!(!DirectReads::new(Path::new(":memory:"), false)
            .enabled
            .load(Ordering::Relaxed));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let direct = DirectReads::new(&path, false);
        assert_eq!(direct.read("test", |_| Ok(())), None);
        assert!(!direct.enabled.load(Ordering::Relaxed), "off for good");

        let missing = DirectReads::new(&dir.path().join("missing.db"), false);
        assert_eq!(missing.read("test", |_| Ok(())), None);
        assert!(!missing.enabled.load(Ordering::Relaxed));

        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        let wal = DirectReads::new(&path, false);
        let n: i64 = wal
            .read("test", |conn| {
                conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            })
            .unwrap();
        assert_eq!(n, 0);
        // Read-only: a write is refused, and counts as a failed read.
        assert_eq!(
            wal.read("test", |conn| conn.execute("INSERT INTO t VALUES (1)", [])),
            None
        );
        assert_eq!(
            wal.counts(),
            DirectReadCounts {
                served: 1,
                fell_back: 1
            }
        );
    }
}

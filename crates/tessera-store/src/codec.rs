//! What both backends share: how values are encoded in columns, the raw rows
//! they read (decoded by name, so one struct serves SQLite and PostgreSQL),
//! the checks that turn rows into records, and the pure parts of the logic
//! (merging usage, picking a matched secret, mapping constraint errors).
//! The rows the SQLite store also reads through rusqlite (its verifier
//! reads) are declared with `row!`, which gives them a rusqlite reader by
//! the very same column names, so both paths fill the same struct.
//!
//! Times travel as `i64` microseconds since the Unix epoch: SQLite stores
//! them so, PostgreSQL converts them to and from `TIMESTAMPTZ` in SQL. That
//! keeps the rows identical for both backends, and microseconds are the
//! precision PostgreSQL keeps, so a record reads back exactly as stored.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Database, Encode, Type};
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::TokenHash;

use crate::model::*;
use crate::{StoreError, StoreResult};

// --- values -----------------------------------------------------------------------

/// Microseconds since the Unix epoch. Sub-microsecond precision is dropped,
/// as PostgreSQL would drop it.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let n = t.unix_timestamp_nanos().div_euclid(1000);
    // `time` keeps years within ±9999, well inside i64 microseconds.
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

fn time(column: &str, us: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| StoreError::Corrupt(format!("{column} = {us}: {e}")))
}

fn opt_time(column: &str, us: Option<i64>) -> StoreResult<Option<OffsetDateTime>> {
    us.map(|us| time(column, us)).transpose()
}

/// A list of strings as the JSON array text kept in a column.
pub(crate) fn encode_list(list: &[String]) -> String {
    serde_json::Value::from(list).to_string()
}

fn decode_list(column: &str, text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn decode_status(text: &str) -> StoreResult<UserStatus> {
    text.parse().map_err(StoreError::Corrupt)
}

/// The row limit of a page; `Page`'s fields are public, so clamp again here.
pub(crate) fn page_limit(page: &Page) -> i64 {
    i64::from(page.limit.clamp(1, MAX_PAGE))
}

// --- errors -------------------------------------------------------------------------

/// A unique violation becomes `Conflict(message())`; anything else passes through.
pub(crate) fn conflict_on_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => e.into(),
    }
}

/// A foreign-key violation (a reference to a row that does not exist)
/// becomes `NotFound`; anything else passes through.
pub(crate) fn not_found_on_foreign_key(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => e.into(),
    }
}

/// Unique and foreign-key violations of a token's insert: its id or first
/// secret is already stored, or its owner or workspace does not exist.
pub(crate) fn token_insert_error(e: sqlx::Error, token: &NewToken) -> StoreError {
    match not_found_on_foreign_key(e) {
        StoreError::Database(e) => conflict_on_unique(e, || {
            format!(
                "token \"{}\" or its secret hash is already stored",
                token.id
            )
        }),
        other => other,
    }
}

/// An agent's workspace does not exist, or its id is already in use.
pub(crate) fn agent_insert_error(e: sqlx::Error, agent: &NewAgent) -> StoreError {
    match not_found_on_foreign_key(e) {
        StoreError::Database(e) => {
            conflict_on_unique(e, || format!("agent \"{}\" already exists", agent.id))
        }
        other => other,
    }
}

/// A session's user does not exist, or its id is already in use.
pub(crate) fn session_insert_error(e: sqlx::Error) -> StoreError {
    match not_found_on_foreign_key(e) {
        StoreError::Database(e) => conflict_on_unique(e, || "the session already exists".into()),
        other => other,
    }
}

pub(crate) fn username_taken(username: &str) -> String {
    format!("username \"{username}\" is taken")
}

pub(crate) fn workspace_taken(name: &str) -> String {
    format!("workspace name \"{name}\" is taken")
}

pub(crate) fn secret_taken() -> String {
    "the new secret's hash is already stored".into()
}

pub(crate) fn event_taken(id: &str) -> String {
    format!("audit event \"{id}\" is already stored")
}

/// Whether moving `user` to `status` changes anything; removal is final.
pub(crate) fn status_change_allowed(user: &User, status: UserStatus) -> StoreResult<bool> {
    if user.status == UserStatus::Removed && status != UserStatus::Removed {
        return Err(StoreError::Conflict(format!(
            "user \"{}\" is removed, and removal is final",
            user.username
        )));
    }
    Ok(user.status != status)
}

/// `NotFound` when an update or delete by key touched no row.
pub(crate) fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub(crate) fn count(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative count: {n}")))
}

/// `RETURNING` gives rows in no promised order; lists are newest first.
pub(crate) fn newest_first(ids: &mut [String]) {
    ids.sort_unstable_by(|a, b| b.cmp(a));
}

// --- columns ------------------------------------------------------------------------------

/// Anything placeholders are bound to: `query`, `query_as`, `query_scalar`.
pub(crate) trait Bind<'q, DB: Database>: Sized {
    fn bind_value<T: 'q + Encode<'q, DB> + Type<DB>>(self, value: T) -> Self;
}

impl<'q, DB: Database> Bind<'q, DB> for Query<'q, DB, DB::Arguments<'q>> {
    fn bind_value<T: 'q + Encode<'q, DB> + Type<DB>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, DB: Database, O> Bind<'q, DB> for QueryAs<'q, DB, O, DB::Arguments<'q>> {
    fn bind_value<T: 'q + Encode<'q, DB> + Type<DB>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, DB: Database, O> Bind<'q, DB> for QueryScalar<'q, DB, O, DB::Arguments<'q>> {
    fn bind_value<T: 'q + Encode<'q, DB> + Type<DB>>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// A record's values as columns, encoded as both backends store them (the
/// mirror of the row structs below). Each method binds the next
/// placeholders in the order it lists; the SQL must name its columns in
/// that order.
pub(crate) trait BindRecord<'q, DB: Database>: Bind<'q, DB> {
    /// `id, username, display_name, password_hash, is_admin, created_at`.
    fn bind_new_user(self, user: &'q NewUser) -> Self;
    /// `id, kind, user_id, workspace_id, name, display_prefix, last4,
    /// permissions, role, created_at, created_by, expires_at`.
    fn bind_new_token(self, token: &'q NewToken) -> Self;
    /// `digest, key_id, token_id, created_at` of a token's secret.
    fn bind_secret(self, token_id: &'q str, hash: &'q TokenHash, at: OffsetDateTime) -> Self;
    /// `revoked_at, revoked_by, revoked_reason`.
    fn bind_revocation(self, revocation: &'q Revocation) -> Self;
    /// `display_prefix, last4, expires_at, rotated_at`, then the token's id.
    fn bind_rotation(self, rotation: &'q Rotation) -> Self;
    /// `id_hash, user_id, csrf_token, created_at, expires_at`.
    fn bind_session(self, session: &'q Session) -> Self;
    /// `id, at, action, actor_user_id, actor_token_id, actor_label,
    /// workspace_id, target_type, target_id, client_ip, user_agent, details`.
    fn bind_audit_event(self, event: &'q AuditEvent) -> Self;
}

impl<'q, DB, B> BindRecord<'q, DB> for B
where
    DB: Database,
    B: Bind<'q, DB>,
    bool: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    fn bind_new_user(self, user: &'q NewUser) -> Self {
        self.bind_value(&user.id)
            .bind_value(&user.username)
            .bind_value(&user.display_name)
            .bind_value(&user.password_hash)
            .bind_value(user.is_admin)
            .bind_value(micros(user.created_at))
    }

    fn bind_new_token(self, token: &'q NewToken) -> Self {
        self.bind_value(&token.id)
            .bind_value(&token.kind)
            .bind_value(&token.user_id)
            .bind_value(&token.workspace_id)
            .bind_value(&token.name)
            .bind_value(&token.display_prefix)
            .bind_value(&token.last4)
            .bind_value(token.permissions.as_deref().map(encode_list))
            .bind_value(&token.role)
            .bind_value(micros(token.created_at))
            .bind_value(&token.created_by)
            .bind_value(token.expires_at.map(micros))
    }

    fn bind_secret(self, token_id: &'q str, hash: &'q TokenHash, at: OffsetDateTime) -> Self {
        self.bind_value(&hash.digest[..])
            .bind_value(&hash.key_id)
            .bind_value(token_id)
            .bind_value(micros(at))
    }

    fn bind_revocation(self, revocation: &'q Revocation) -> Self {
        self.bind_value(micros(revocation.at))
            .bind_value(&revocation.by)
            .bind_value(&revocation.reason)
    }

    fn bind_rotation(self, rotation: &'q Rotation) -> Self {
        self.bind_value(&rotation.display_prefix)
            .bind_value(&rotation.last4)
            .bind_value(rotation.expires_at.map(micros))
            .bind_value(micros(rotation.at))
            .bind_value(&rotation.token_id)
    }

    fn bind_session(self, session: &'q Session) -> Self {
        self.bind_value(&session.id_hash)
            .bind_value(&session.user_id)
            .bind_value(&session.csrf_token)
            .bind_value(micros(session.created_at))
            .bind_value(micros(session.expires_at))
    }

    fn bind_audit_event(self, event: &'q AuditEvent) -> Self {
        self.bind_value(&event.id)
            .bind_value(micros(event.at))
            .bind_value(&event.action)
            .bind_value(&event.actor_user_id)
            .bind_value(&event.actor_token_id)
            .bind_value(&event.actor_label)
            .bind_value(&event.workspace_id)
            .bind_value(&event.target_type)
            .bind_value(&event.target_id)
            .bind_value(&event.client_ip)
            .bind_value(&event.user_agent)
            .bind_value(event.details.to_string())
    }
}

// --- rows -------------------------------------------------------------------------------

/// A row struct that rusqlite can fill too (see `SqliteStore`'s direct
/// reads), column by column by name, exactly as sqlx's `FromRow` does.
pub(crate) trait FromRusqlite: Sized {
    /// Reads this struct's fields from `columns`, in field order.
    fn from_columns(columns: &mut Columns<'_, '_>) -> rusqlite::Result<Self>;

    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Self::from_columns(&mut Columns::by_name(row))
    }

    /// Like [`from_rusqlite`](Self::from_rusqlite), for a query run again
    /// and again: once one of its rows has had every field at the position
    /// after the one before, `layout` says so and later rows are read by
    /// position alone. A query's columns cannot move while it runs: its
    /// text is fixed and the schema is migrated before any read.
    fn from_rusqlite_in(layout: &Layout, row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        if layout.0.load(Ordering::Relaxed) {
            return Self::from_columns(&mut Columns {
                by_position: true,
                ..Columns::by_name(row)
            });
        }
        let mut columns = Columns::by_name(row);
        let value = Self::from_columns(&mut columns)?;
        if columns.in_order {
            layout.0.store(true, Ordering::Relaxed);
        }
        Ok(value)
    }
}

/// Whether one query's columns are known to come in its row struct's field
/// order (see [`FromRusqlite::from_rusqlite_in`]).
#[derive(Debug, Default)]
pub(crate) struct Layout(AtomicBool);

impl Layout {
    pub const fn new() -> Self {
        Layout(AtomicBool::new(false))
    }
}

/// A rusqlite row's values by column name. rusqlite's own lookup by name
/// compares the name with every column's, for every field: for the
/// verifier's 32-column row, on every request, that was a tenth of the
/// server's time. Row structs list their fields in their query's column
/// order, so the column after the one read last is tried first; any other
/// column is still found by its name. Even that check reads each column's
/// name from SQLite and validates it as UTF-8; a query whose layout is
/// confirmed skips it.
pub(crate) struct Columns<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    next: usize,
    by_position: bool,
    /// Whether every field so far was found where it was first looked for.
    in_order: bool,
}

impl<'a, 'r> Columns<'a, 'r> {
    fn by_name(row: &'a rusqlite::Row<'r>) -> Self {
        Columns {
            row,
            next: 0,
            by_position: false,
            in_order: true,
        }
    }

    pub fn get<T: rusqlite::types::FromSql>(&mut self, name: &str) -> rusqlite::Result<T> {
        let index = if self.by_position {
            self.next
        } else {
            let statement: &rusqlite::Statement<'_> = self.row.as_ref();
            match statement.column_name(self.next) {
                // Names compare as rusqlite compares them.
                Ok(next) if next.eq_ignore_ascii_case(name) => self.next,
                _ => {
                    self.in_order = false;
                    statement.column_index(name)?
                }
            }
        };
        self.next = index + 1;
        self.row.get(index)
    }
}

/// Declares a row struct read by both sqlx (`#[derive(sqlx::FromRow)]`)
/// and rusqlite ([`FromRusqlite`]) from one list of fields: each field is
/// the column of its name, so the two readers cannot drift apart. Types
/// decode alike: SQLite's STRICT tables hold integers for times and
/// booleans, text for strings and JSON, blobs for digests.
macro_rules! row {
    ($(#[$meta:meta])* pub(crate) struct $name:ident { $($field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(sqlx::FromRow)]
        pub(crate) struct $name {
            $($field: $ty,)*
        }

        impl FromRusqlite for $name {
            fn from_columns(columns: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
                Ok(Self {
                    $($field: columns.get(stringify!($field))?,)*
                })
            }
        }
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    display_name: String,
    password_hash: String,
    is_admin: bool,
    status: String,
    created_at: i64,
    updated_at: i64,
    agent_workspace_id: Option<String>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<Self> {
        Ok(User {
            status: decode_status(&r.status)?,
            created_at: time("users.created_at", r.created_at)?,
            updated_at: time("users.updated_at", r.updated_at)?,
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            agent_workspace_id: r.agent_workspace_id,
        })
    }
}

/// An agent as both backends select it (see `agent_select` in each).
#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    id: String,
    name: String,
    workspace_id: String,
    role: Option<String>,
    status: String,
    created_at: i64,
    created_by: Option<String>,
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;
    fn try_from(r: AgentRow) -> StoreResult<Self> {
        Ok(Agent {
            status: decode_status(&r.status)?,
            created_at: time("users.created_at", r.created_at)?,
            id: r.id,
            name: r.name,
            workspace_id: r.workspace_id,
            role: r.role,
            created_by: r.created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkspaceRow {
    id: String,
    name: String,
    created_at: i64,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = StoreError;
    fn try_from(r: WorkspaceRow) -> StoreResult<Self> {
        Ok(Workspace {
            created_at: time("workspaces.created_at", r.created_at)?,
            id: r.id,
            name: r.name,
        })
    }
}

row! {
    pub(crate) struct MembershipRow {
        workspace_id: String,
        user_id: String,
        role: String,
        created_at: i64,
        updated_at: i64,
    }
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> StoreResult<Self> {
        Ok(Membership {
            created_at: time("memberships.created_at", r.created_at)?,
            updated_at: time("memberships.updated_at", r.updated_at)?,
            workspace_id: r.workspace_id,
            user_id: r.user_id,
            role: r.role,
        })
    }
}

row! {
    pub(crate) struct TokenRow {
        id: String,
        kind: String,
        user_id: Option<String>,
        workspace_id: Option<String>,
        name: String,
        display_prefix: String,
        last4: String,
        permissions: Option<String>,
        role: Option<String>,
        created_at: i64,
        created_by: Option<String>,
        expires_at: Option<i64>,
        last_used_at: Option<i64>,
        last_used_ip: Option<String>,
        last_used_user_agent: Option<String>,
        last_used_ips: String,
        revoked_at: Option<i64>,
        revoked_by: Option<String>,
        revoked_reason: Option<String>,
        rotated_at: Option<i64>,
    }
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> StoreResult<Self> {
        Ok(TokenRecord {
            permissions: r
                .permissions
                .as_deref()
                .map(|p| decode_list("tokens.permissions", p))
                .transpose()?,
            last_used_ips: decode_list("tokens.last_used_ips", &r.last_used_ips)?,
            created_at: time("tokens.created_at", r.created_at)?,
            expires_at: opt_time("tokens.expires_at", r.expires_at)?,
            last_used_at: opt_time("tokens.last_used_at", r.last_used_at)?,
            revoked_at: opt_time("tokens.revoked_at", r.revoked_at)?,
            rotated_at: opt_time("tokens.rotated_at", r.rotated_at)?,
            id: r.id,
            kind: r.kind,
            user_id: r.user_id,
            workspace_id: r.workspace_id,
            name: r.name,
            display_prefix: r.display_prefix,
            last4: r.last4,
            role: r.role,
            created_by: r.created_by,
            last_used_ip: r.last_used_ip,
            last_used_user_agent: r.last_used_user_agent,
            revoked_by: r.revoked_by,
            revoked_reason: r.revoked_reason,
        })
    }
}

/// A token joined with one of its secrets.
#[derive(sqlx::FromRow)]
pub(crate) struct FoundRow {
    #[sqlx(flatten)]
    token: TokenRow,
    secret_digest: Vec<u8>,
    secret_key_id: Option<String>,
    secret_retires_at: Option<i64>,
    secret_ends_handoff: bool,
    #[sqlx(flatten)]
    owner: OwnerRow,
}

impl FromRusqlite for FoundRow {
    fn from_columns(columns: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
        Ok(FoundRow {
            token: TokenRow::from_columns(columns)?,
            secret_digest: columns.get("secret_digest")?,
            secret_key_id: columns.get("secret_key_id")?,
            secret_retires_at: columns.get("secret_retires_at")?,
            secret_ends_handoff: columns.get("secret_ends_handoff")?,
            owner: OwnerRow::from_columns(columns)?,
        })
    }
}

row! {
    /// The owner's columns of a found token, `owner_`-prefixed; all null for a
    /// workspace's key (the query joins users with LEFT JOIN).
    pub(crate) struct OwnerRow {
        owner_id: Option<String>,
        owner_username: Option<String>,
        owner_display_name: Option<String>,
        owner_password_hash: Option<String>,
        owner_is_admin: Option<bool>,
        owner_status: Option<String>,
        owner_created_at: Option<i64>,
        owner_updated_at: Option<i64>,
        owner_agent_workspace_id: Option<String>,
    }
}

impl OwnerRow {
    fn into_user(self) -> StoreResult<Option<User>> {
        let Some(id) = self.owner_id else {
            return Ok(None);
        };
        let missing = |column: &str| StoreError::Corrupt(format!("users.{column} is null"));
        User::try_from(UserRow {
            id,
            username: self.owner_username.ok_or_else(|| missing("username"))?,
            display_name: self
                .owner_display_name
                .ok_or_else(|| missing("display_name"))?,
            password_hash: self
                .owner_password_hash
                .ok_or_else(|| missing("password_hash"))?,
            is_admin: self.owner_is_admin.ok_or_else(|| missing("is_admin"))?,
            status: self.owner_status.ok_or_else(|| missing("status"))?,
            created_at: self.owner_created_at.ok_or_else(|| missing("created_at"))?,
            updated_at: self.owner_updated_at.ok_or_else(|| missing("updated_at"))?,
            agent_workspace_id: self.owner_agent_workspace_id,
        })
        .map(Some)
    }
}

/// Of the secrets whose digest matched, the one stored under the same key as
/// a candidate (a digest alone could, in theory, come from another key), in
/// the caller's order of candidates.
pub(crate) fn pick_found(
    rows: Vec<FoundRow>,
    candidates: &[TokenHash],
) -> StoreResult<Option<FoundToken>> {
    let mut found = rows
        .into_iter()
        .map(FoundSecret::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    // One look-up's rows are its own: the pick is moved out, not copied.
    Ok(position(&found, candidates).map(|i| found.swap_remove(i).token))
}

/// A secret as found, with the key it was stored under: the rows of one
/// look-up, or of several coalesced into one query.
pub(crate) struct FoundSecret {
    key_id: Option<String>,
    token: FoundToken,
}

impl TryFrom<FoundRow> for FoundSecret {
    type Error = StoreError;
    fn try_from(row: FoundRow) -> StoreResult<Self> {
        Ok(FoundSecret {
            key_id: row.secret_key_id,
            token: FoundToken {
                secret_retires_at: opt_time("token_secrets.retires_at", row.secret_retires_at)?,
                ends_handoff: row.secret_ends_handoff,
                digest: row.secret_digest,
                record: row.token.try_into()?,
                owner: row.owner.into_user()?,
            },
        })
    }
}

/// See [`pick_found`].
pub(crate) fn pick_from(found: &[FoundSecret], candidates: &[TokenHash]) -> Option<FoundToken> {
    position(found, candidates).map(|i| found[i].token.clone())
}

/// Where the secret of the first candidate that was found is.
fn position(found: &[FoundSecret], candidates: &[TokenHash]) -> Option<usize> {
    candidates.iter().find_map(|c| {
        found
            .iter()
            .position(|f| f.token.digest == c.digest && f.key_id == c.key_id)
    })
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id_hash: String,
    user_id: String,
    csrf_token: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> StoreResult<Self> {
        Ok(Session {
            created_at: time("sessions.created_at", r.created_at)?,
            expires_at: time("sessions.expires_at", r.expires_at)?,
            id_hash: r.id_hash,
            user_id: r.user_id,
            csrf_token: r.csrf_token,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: String,
    at: i64,
    action: String,
    actor_user_id: Option<String>,
    actor_token_id: Option<String>,
    actor_label: Option<String>,
    workspace_id: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    details: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> StoreResult<Self> {
        Ok(AuditEvent {
            at: time("audit_events.at", r.at)?,
            details: serde_json::from_str(&r.details)
                .map_err(|e| StoreError::Corrupt(format!("audit_events.details: {e}")))?,
            id: r.id,
            action: r.action,
            actor_user_id: r.actor_user_id,
            actor_token_id: r.actor_token_id,
            actor_label: r.actor_label,
            workspace_id: r.workspace_id,
            target_type: r.target_type,
            target_id: r.target_id,
            client_ip: r.client_ip,
            user_agent: r.user_agent,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VerifierRow {
    id: String,
    name: String,
    workspace_ids: String,
    kinds: String,
    created_at: i64,
    created_by: Option<String>,
    revoked_at: Option<i64>,
}

impl TryFrom<VerifierRow> for VerifierCredential {
    type Error = StoreError;
    fn try_from(r: VerifierRow) -> StoreResult<Self> {
        Ok(VerifierCredential {
            audience: tessera_core::verifier_credential::Audience {
                workspace_ids: decode_list("verifiers.workspace_ids", &r.workspace_ids)?,
                kinds: decode_list("verifiers.kinds", &r.kinds)?,
            },
            created_at: time("verifiers.created_at", r.created_at)?,
            revoked_at: opt_time("verifiers.revoked_at", r.revoked_at)?,
            id: r.id,
            name: r.name,
            created_by: r.created_by,
        })
    }
}

pub(crate) fn verifier_taken(id: &str) -> String {
    format!("verifier \"{id}\" already exists")
}

/// Rows into records, failing on the first unreadable one.
pub(crate) fn records<R, T>(rows: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

// --- usage ------------------------------------------------------------------------------

/// The usage columns of one token, read, merged with new uses, written back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct UsageRow {
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    pub last_used_ips: String,
}

/// The usage state to write after applying `uses` (in order) to `row`.
///
/// A use at or after the stored last use becomes the last use, and its
/// address moves to the front of the distinct addresses. A use older than
/// the stored one (a batch from another instance arriving late) changes
/// neither the last use nor the order; its address, if new, is remembered
/// behind the others, where it is the first to fall off.
pub(crate) fn merge_usage(row: UsageRow, uses: &[&TokenUsage]) -> StoreResult<UsageRow> {
    let mut ips = decode_list("tokens.last_used_ips", &row.last_used_ips)?;
    let mut merged = row;
    for usage in uses {
        let at = micros(usage.at);
        if merged.last_used_at.is_none_or(|last| at >= last) {
            merged.last_used_at = Some(at);
            merged.last_used_ip.clone_from(&usage.ip);
            merged.last_used_user_agent.clone_from(&usage.user_agent);
            if let Some(ip) = &usage.ip {
                ips.retain(|known| known != ip);
                ips.insert(0, ip.clone());
            }
        } else if let Some(ip) = &usage.ip {
            if !ips.contains(ip) {
                ips.push(ip.clone());
            }
        }
        ips.truncate(LAST_USED_IPS_KEPT);
    }
    merged.last_used_ips = encode_list(&ips);
    Ok(merged)
}

/// A token's usage columns with its id, as a batch reads them.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenUsageRow {
    pub id: String,
    #[sqlx(flatten)]
    pub usage: UsageRow,
}

/// Tokens per usage read and write: a flush of 10,000 busy tokens is 50
/// round trips, not 20,000.
pub(crate) const USAGE_CHUNK: usize = 200;

/// Merges one chunk's uses (`groups`, in id order) into the rows read for
/// it; tokens that no longer exist are skipped. The result is what to write.
pub(crate) fn merge_usage_rows(
    rows: Vec<TokenUsageRow>,
    groups: &[(&str, Vec<&TokenUsage>)],
) -> StoreResult<Vec<(String, UsageRow)>> {
    let mut merged = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(at) = groups.binary_search_by(|(id, _)| (*id).cmp(row.id.as_str())) else {
            continue;
        };
        merged.push((row.id, merge_usage(row.usage, &groups[at].1)?));
    }
    Ok(merged)
}

/// Uses grouped by token, each token's uses in batch order: one read and
/// one write per token. Tokens come in id order, so that concurrent batches
/// lock rows in the same order and cannot deadlock.
pub(crate) fn usage_by_token(usage: &[TokenUsage]) -> Vec<(&str, Vec<&TokenUsage>)> {
    let mut groups: BTreeMap<&str, Vec<&TokenUsage>> = BTreeMap::new();
    for u in usage {
        groups.entry(u.token_id.as_str()).or_default().push(u);
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn uses(entries: &[(i64, Option<&str>)]) -> Vec<TokenUsage> {
        entries
            .iter()
            .map(|(secs, ip)| TokenUsage {
                token_id: "tok_1".into(),
                at: T0 + Duration::seconds(*secs),
                ip: ip.map(str::to_owned),
                user_agent: Some(format!("agent-{secs}")),
            })
            .collect()
    }

    fn empty() -> UsageRow {
        UsageRow {
            last_used_at: None,
            last_used_ip: None,
            last_used_user_agent: None,
            last_used_ips: "[]".into(),
        }
    }

    fn ips(row: &UsageRow) -> Vec<String> {
        decode_list("test", &row.last_used_ips).unwrap()
    }

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        let t = T0 + Duration::nanoseconds(1_234_567);
        assert_eq!(
            time("t", micros(t)).unwrap(),
            T0 + Duration::microseconds(1_234)
        );
        let before_epoch = datetime!(1969-12-31 23:59:59.999_999_5 UTC);
        assert_eq!(micros(before_epoch), -1);
    }

    #[test]
    fn newest_addresses_come_first_without_repeats() {
        let batch = uses(&[
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("a")),
            (4, None),
            (5, Some("c")),
            (6, Some("d")),
            (7, Some("e")),
            (8, Some("f")),
        ]);
        let refs: Vec<&TokenUsage> = batch.iter().collect();
        let row = merge_usage(empty(), &refs).unwrap();
        assert_eq!(ips(&row), ["f", "e", "d", "c", "a"]);
        assert_eq!(row.last_used_ip.as_deref(), Some("f"));
        assert_eq!(row.last_used_user_agent.as_deref(), Some("agent-8"));
        assert_eq!(row.last_used_at, Some(micros(T0 + Duration::seconds(8))));
    }

    #[test]
    fn a_late_older_use_does_not_become_the_last_use() {
        let newer = uses(&[(10, Some("new"))]);
        let row = merge_usage(empty(), &[&newer[0]]).unwrap();
        let older = uses(&[(5, Some("old"))]);
        let row = merge_usage(row, &[&older[0]]).unwrap();
        assert_eq!(row.last_used_at, Some(micros(T0 + Duration::seconds(10))));
        assert_eq!(row.last_used_ip.as_deref(), Some("new"));
        assert_eq!(ips(&row), ["new", "old"]);
    }

    #[test]
    fn uses_are_grouped_by_token_in_id_order_keeping_batch_order() {
        let mut batch = uses(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))]);
        batch[1].token_id = "tok_0".into();
        let groups = usage_by_token(&batch);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "tok_0");
        assert_eq!(groups[1].0, "tok_1");
        let at: Vec<_> = groups[1].1.iter().map(|u| u.at).collect();
        assert_eq!(at, [batch[0].at, batch[2].at]);
    }

    /// The membership the row-reading tests select, and its two times (bound
    /// as `?1` and `?2`).
    fn selected_membership() -> (Membership, (i64, i64)) {
        let expected = Membership {
            workspace_id: "wsp_1".into(),
            user_id: "usr_1".into(),
            role: "admin".into(),
            created_at: T0,
            updated_at: T0 + Duration::microseconds(1),
        };
        (expected, (micros(T0), micros(T0) + 1))
    }

    /// A query selecting that membership, its columns in field order.
    const MEMBERSHIP_IN_ORDER: &str = "SELECT 'wsp_1' AS workspace_id, 'usr_1' AS user_id, \
                                       'admin' AS role, ?1 AS created_at, ?2 AS updated_at";

    #[test]
    fn a_layout_is_trusted_only_once_a_row_came_in_field_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let (expected, times) = selected_membership();
        let read = |sql: &str, layout: &Layout| {
            let row = conn
                .query_row(sql, times, |row| {
                    MembershipRow::from_rusqlite_in(layout, row)
                })
                .unwrap();
            Membership::try_from(row).unwrap()
        };
        let layout = Layout::new();
        let shuffled = "SELECT ?2 AS updated_at, 'admin' AS role, 'usr_1' AS user_id, \
                        ?1 AS created_at, 'wsp_1' AS workspace_id";
        assert_eq!(read(shuffled, &layout), expected);
        assert!(
            !layout.0.load(Ordering::Relaxed),
            "read by name, not trusted"
        );

        assert_eq!(read(MEMBERSHIP_IN_ORDER, &layout), expected);
        assert!(layout.0.load(Ordering::Relaxed));
        // Trusted: read by position, with the same answer.
        assert_eq!(read(MEMBERSHIP_IN_ORDER, &layout), expected);
    }

    #[test]
    fn rusqlite_rows_are_read_by_column_name_in_any_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let (expected, (created, updated)) = selected_membership();
        for sql in [
            MEMBERSHIP_IN_ORDER,
            "SELECT ?2 AS updated_at, 'admin' AS ROLE, 'x' AS other, 'usr_1' AS user_id, \
             ?1 AS created_at, 'wsp_1' AS workspace_id",
        ] {
            let row = conn
                .query_row(sql, (created, updated), MembershipRow::from_rusqlite)
                .unwrap();
            assert_eq!(Membership::try_from(row).unwrap(), expected);
        }
        assert!(conn
            .query_row(
                "SELECT 'wsp_1' AS workspace_id",
                [],
                MembershipRow::from_rusqlite
            )
            .is_err());
    }

    #[test]
    fn unreadable_columns_are_corrupt_not_panics() {
        assert!(matches!(
            decode_list("c", "not json"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(decode_status("gone"), Err(StoreError::Corrupt(_))));
    }
}

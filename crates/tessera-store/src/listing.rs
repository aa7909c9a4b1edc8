//! The queries whose shape depends on their input (filters, pages, a list of
//! candidate hashes), built once for both backends: `QueryBuilder` writes
//! each backend's placeholders, [`TimeSql`] says how a bound time is
//! written, and each backend passes its own `SELECT … FROM …` head.

use sqlx::{Database, Encode, QueryBuilder, Type};
use time::OffsetDateTime;

use tessera_core::TokenHash;

use crate::codec::{micros, page_limit};
use crate::model::{AuditFilter, Page, TokenFilter};

/// How a backend compares a column with a bound time (bound as microseconds
/// since the epoch): SQLite stores microseconds and needs nothing around
/// them; PostgreSQL wraps them in its conversion to `TIMESTAMPTZ`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeSql {
    pub open: &'static str,
    pub close: &'static str,
}

/// A `SELECT` being given its conditions, AND-ed after `WHERE`.
pub(crate) struct Listing<'q, DB: Database> {
    qb: QueryBuilder<'q, DB>,
    time: TimeSql,
}

impl<'q, DB> Listing<'q, DB>
where
    DB: Database,
    DB::Arguments<'q>: Default,
    String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Vec<u8>: Encode<'q, DB> + Type<DB>,
{
    /// A plain newest-first page of a table keyed by `id`.
    pub fn page(head: &str, time: TimeSql, page: &Page) -> QueryBuilder<'q, DB> {
        Self::new(head, time).finish_page(page)
    }

    pub fn tokens(
        head: &str,
        time: TimeSql,
        filter: &TokenFilter,
        page: &Page,
    ) -> QueryBuilder<'q, DB> {
        let mut l = Self::new(head, time);
        l.equals("user_id", filter.user_id.as_ref());
        l.equals("workspace_id", filter.workspace_id.as_ref());
        if !filter.kinds.is_empty() {
            l.qb.push(" AND kind IN (");
            let mut kinds = l.qb.separated(", ");
            for kind in &filter.kinds {
                kinds.push_bind(kind.clone());
            }
            l.qb.push(")");
        }
        if let Some(before) = filter.hide_revoked_before {
            l.time(" AND (revoked_at IS NULL OR revoked_at >= ", before);
            l.qb.push(")");
        }
        l.finish_page(page)
    }

    /// A workspace's agents that are not removed. `head` selects agent rows
    /// as a subquery aliased so that its columns are plain names.
    pub fn agents(
        head: &str,
        time: TimeSql,
        workspace_id: &str,
        page: &Page,
    ) -> QueryBuilder<'q, DB> {
        let mut l = Self::new(head, time);
        l.equals("workspace_id", Some(&workspace_id.to_owned()));
        l.qb.push(" AND status <> 'removed'");
        l.finish_page(page)
    }

    /// `since` and `until` are inclusive.
    pub fn audit(
        head: &str,
        time: TimeSql,
        filter: &AuditFilter,
        page: &Page,
    ) -> QueryBuilder<'q, DB> {
        let mut l = Self::new(head, time);
        l.equals("workspace_id", filter.workspace_id.as_ref());
        l.equals("actor_user_id", filter.actor_user_id.as_ref());
        l.equals("target_id", filter.target_id.as_ref());
        l.equals("action", filter.action.as_ref());
        if let Some(since) = filter.since {
            l.time(" AND at >= ", since);
        }
        if let Some(until) = filter.until {
            l.time(" AND at <= ", until);
        }
        l.finish_page(page)
    }

    /// The secrets stored under any of the candidates' digests (whether the
    /// key matches too is [`crate::codec::pick_found`]'s to decide). `head`
    /// selects from `token_secrets s` joined with the token.
    pub fn secrets(head: &str, time: TimeSql, candidates: &[TokenHash]) -> QueryBuilder<'q, DB> {
        let mut l = Self::new(head, time);
        l.qb.push(" AND s.digest IN (");
        let mut digests = l.qb.separated(", ");
        for candidate in candidates {
            digests.push_bind(candidate.digest.to_vec());
        }
        l.qb.push(")");
        l.qb
    }

    fn new(head: &str, time: TimeSql) -> Self {
        let mut qb = QueryBuilder::new(head);
        qb.push(" WHERE 1 = 1");
        Self { qb, time }
    }

    fn equals(&mut self, column: &str, value: Option<&String>) {
        if let Some(value) = value {
            self.qb.push(format_args!(" AND {column} = "));
            self.qb.push_bind(value.clone());
        }
    }

    fn time(&mut self, condition: &str, t: OffsetDateTime) {
        self.qb.push(condition);
        self.qb.push(self.time.open);
        self.qb.push_bind(micros(t));
        self.qb.push(self.time.close);
    }

    /// Newest first (ids sort by creation time), after the cursor.
    fn finish_page(mut self, page: &Page) -> QueryBuilder<'q, DB> {
        if let Some(after) = &page.after {
            self.qb.push(" AND id < ");
            self.qb.push_bind(after.clone());
        }
        self.qb.push(" ORDER BY id DESC LIMIT ");
        self.qb.push_bind(page_limit(page));
        self.qb
    }
}

//! The Postgres store: skeleton, to be implemented.

use async_trait::async_trait;
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::TokenHash;

use crate::*;

pub struct PostgresStore;

impl PostgresStore {
    pub async fn connect(_url: &DatabaseUrl) -> StoreResult<Self> {
        Err(StoreError::Unavailable("not implemented".into()))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        unimplemented!()
    }

    async fn ping(&self) -> StoreResult<()> {
        unimplemented!()
    }

    async fn create_user(&self, _user: &NewUser) -> StoreResult<User> {
        unimplemented!()
    }

    async fn user(&self, _id: &str) -> StoreResult<Option<User>> {
        unimplemented!()
    }

    async fn user_by_username(&self, _username: &str) -> StoreResult<Option<User>> {
        unimplemented!()
    }

    async fn list_users(&self, _page: &Page) -> StoreResult<Vec<User>> {
        unimplemented!()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        unimplemented!()
    }

    async fn set_user_status(
        &self,
        _id: &str,
        _status: UserStatus,
        _at: OffsetDateTime,
    ) -> StoreResult<User> {
        unimplemented!()
    }

    async fn set_password(
        &self,
        _id: &str,
        _password_hash: &str,
        _at: OffsetDateTime,
    ) -> StoreResult<()> {
        unimplemented!()
    }

    async fn create_workspace(&self, _workspace: &Workspace) -> StoreResult<()> {
        unimplemented!()
    }

    async fn workspace(&self, _id: &str) -> StoreResult<Option<Workspace>> {
        unimplemented!()
    }

    async fn list_workspaces(&self, _page: &Page) -> StoreResult<Vec<Workspace>> {
        unimplemented!()
    }

    async fn set_membership(
        &self,
        _workspace_id: &str,
        _user_id: &str,
        _role: &str,
        _at: OffsetDateTime,
    ) -> StoreResult<Option<String>> {
        unimplemented!()
    }

    async fn remove_membership(&self, _workspace_id: &str, _user_id: &str) -> StoreResult<bool> {
        unimplemented!()
    }

    async fn membership(
        &self,
        _workspace_id: &str,
        _user_id: &str,
    ) -> StoreResult<Option<Membership>> {
        unimplemented!()
    }

    async fn list_members(&self, _workspace_id: &str) -> StoreResult<Vec<Membership>> {
        unimplemented!()
    }

    async fn memberships_of(&self, _user_id: &str) -> StoreResult<Vec<Membership>> {
        unimplemented!()
    }

    async fn insert_token(
        &self,
        _token: &NewToken,
        _max_active_for_owner: Option<u32>,
    ) -> StoreResult<TokenRecord> {
        unimplemented!()
    }

    async fn find_token_by_hash(
        &self,
        _candidates: &[TokenHash],
    ) -> StoreResult<Option<FoundToken>> {
        unimplemented!()
    }

    async fn token(&self, _id: &str) -> StoreResult<Option<TokenRecord>> {
        unimplemented!()
    }

    async fn list_tokens(
        &self,
        _filter: &TokenFilter,
        _page: &Page,
    ) -> StoreResult<Vec<TokenRecord>> {
        unimplemented!()
    }

    async fn revoke_token(&self, _id: &str, _revocation: &Revocation) -> StoreResult<bool> {
        unimplemented!()
    }

    async fn revoke_user_tokens(
        &self,
        _user_id: &str,
        _revocation: &Revocation,
    ) -> StoreResult<Vec<String>> {
        unimplemented!()
    }

    async fn rotate_token(&self, _rotation: &Rotation) -> StoreResult<TokenRecord> {
        unimplemented!()
    }

    async fn record_usage(&self, _usage: &[TokenUsage]) -> StoreResult<()> {
        unimplemented!()
    }

    async fn create_session(&self, _session: &Session) -> StoreResult<()> {
        unimplemented!()
    }

    async fn session(&self, _id_hash: &str, _now: OffsetDateTime) -> StoreResult<Option<Session>> {
        unimplemented!()
    }

    async fn delete_session(&self, _id_hash: &str) -> StoreResult<()> {
        unimplemented!()
    }

    async fn delete_user_sessions(&self, _user_id: &str) -> StoreResult<()> {
        unimplemented!()
    }

    async fn append_audit(&self, _event: &AuditEvent) -> StoreResult<()> {
        unimplemented!()
    }

    async fn list_audit(
        &self,
        _filter: &AuditFilter,
        _page: &Page,
    ) -> StoreResult<Vec<AuditEvent>> {
        unimplemented!()
    }
}

//! Personal access tokens, and the token rules every kind shares: issuing,
//! rotating, revoking, listing. API keys and agent tokens are issued
//! through [`Tokens::issue`] too, by their own services.

use std::sync::Arc;

use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use tessera_core::expiry::{self, ExpiryError, ExpiryRequest};
use tessera_core::ids::{looks_like, new_id, IdKind};
use tessera_core::kind::{CredentialKind, OwnerType, WorkspaceBinding};
use tessera_core::permissions::TOKENS_MANAGE;
use tessera_core::{format, PermissionSet, PlaintextToken};
use tessera_store::{
    Agent, NewToken, Page, Revocation, Rotation, Store, StoreError, TokenFilter, TokenRecord,
    TokenStatus, User,
};

use crate::client::ClientInfo;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::principal::{Actor, Caller, Target};
use crate::service::audit::Audit;
use crate::service::changes::Changes;
use crate::service::rfc3339;
use crate::service::validate;
use crate::verification::Invalidation;

pub const MAX_OVERLAP_SECONDS: u32 = 86_400;

/// After a hand-off rotation's new secret is first used, the old secrets
/// keep working this long, for requests already in flight with them.
pub const HANDOFF_GRACE: Duration = Duration::seconds(60);

/// The longest the old secrets of a hand-off rotation wait for the new
/// secret's first use: a secret nobody ever uses must not keep the old one
/// alive for ever.
pub const HANDOFF_LONGEST_WAIT: Duration = Duration::days(7);

/// How long a rotated token's old secrets keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// A fixed time, 0 to [`MAX_OVERLAP_SECONDS`]; 0 retires them at once.
    Seconds(u32),
    /// Until the new secret is first used, then [`HANDOFF_GRACE`] (and never
    /// longer than [`HANDOFF_LONGEST_WAIT`]): an automated rotation whose new
    /// secret was lost can be retried with the old one.
    UntilFirstUse,
}

impl Default for Overlap {
    fn default() -> Self {
        Overlap::Seconds(0)
    }
}

impl Overlap {
    /// The audit trail's and the log's words for it.
    fn describe(self) -> serde_json::Value {
        match self {
            Overlap::Seconds(seconds) => json!({ "overlap_seconds": seconds }),
            Overlap::UntilFirstUse => json!({
                "overlap": "until_first_use",
                "grace_seconds": HANDOFF_GRACE.whole_seconds(),
                "longest_wait_seconds": HANDOFF_LONGEST_WAIT.whole_seconds(),
            }),
        }
    }
}

/// What a new token should be.
pub struct IssueRequest<'a> {
    pub kind: &'a CredentialKind,
    pub name: String,
    pub expiry: ExpiryRequest,
    /// A personal token's narrowing, or an API key's fixed permissions.
    pub permissions: Option<PermissionSet>,
    /// An API key's fixed role.
    pub role: Option<String>,
    pub workspace_id: Option<String>,
    /// The owning user of a personal token, or the agent of an agent token.
    pub user_id: Option<String>,
    pub created_by: Option<String>,
    /// The latest expiry allowed: the creating token's own.
    pub ceiling: Option<OffsetDateTime>,
}

/// A new token, and its secret: shown once, then only its hash exists.
pub struct Issued {
    pub record: TokenRecord,
    pub token: PlaintextToken,
}

/// A personal token as `POST /api/v1/tokens` asks for it, on behalf of any
/// caller (a signed-in browser, or a token that may mint tokens).
pub struct PersonalTokenRequest<'a> {
    pub name: Option<&'a Value>,
    pub expires_in: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    /// A narrowing of the owner's permissions.
    pub permissions: Option<&'a [String]>,
    pub workspace_id: Option<String>,
    /// A personal kind other than the default.
    pub kind: Option<&'a str>,
    /// The workspace the caller acts in, if the request names one (the
    /// workspace header): where a bound token goes when none is asked for.
    pub workspace_header: Option<&'a str>,
}

/// A rotation as the API asks for it (every field optional).
#[derive(Debug, Default)]
pub struct RotateRequest<'a> {
    /// How long the old secret keeps working (default: it stops now).
    pub overlap: Overlap,
    pub expires_in: Option<&'a str>,
    pub expires_at: Option<&'a str>,
}

/// Who a token listing or look-up is about: tokens of `owner`'s kinds, of
/// this user (personal or agent tokens) and/or this workspace.
pub struct TokenScope<'a> {
    pub owner: OwnerType,
    pub user_id: Option<&'a str>,
    pub workspace_id: Option<&'a str>,
}

impl<'a> TokenScope<'a> {
    /// A user's personal tokens.
    pub fn personal(user_id: &'a str) -> Self {
        TokenScope {
            owner: OwnerType::User,
            user_id: Some(user_id),
            workspace_id: None,
        }
    }

    /// A workspace's API keys.
    pub fn workspace_keys(workspace_id: &'a str) -> Self {
        TokenScope {
            owner: OwnerType::Workspace,
            user_id: None,
            workspace_id: Some(workspace_id),
        }
    }

    /// An agent's tokens.
    pub fn agent(agent: &'a Agent) -> Self {
        TokenScope {
            owner: OwnerType::Agent,
            user_id: Some(&agent.id),
            workspace_id: Some(&agent.workspace_id),
        }
    }
}

#[derive(Clone)]
pub struct Tokens {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    changes: Changes,
    audit: Audit,
}

impl Tokens {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, changes: Changes, audit: Audit) -> Self {
        Tokens {
            config,
            store,
            changes,
            audit,
        }
    }

    /// The kind a create request makes: the one it names, which must be
    /// owned as asked, or the deployment's first kind with that owner.
    pub fn kind_for(
        &self,
        requested: Option<&str>,
        owner: OwnerType,
    ) -> AppResult<&CredentialKind> {
        let what = owner.describe();
        let a = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        match requested {
            Some(name) => self
                .config
                .kinds
                .get(name)
                .filter(|k| k.owner == owner)
                .ok_or_else(|| {
                    AppError::Invalid(format!("kind: \"{name}\" is not {a} {what} kind here."))
                }),
            None => self
                .config
                .kinds
                .first_owned_by(owner)
                .ok_or_else(|| AppError::Invalid(format!("This deployment issues no {what}s."))),
        }
    }

    /// The workspace a personal token of a bound kind is created in when the
    /// request names none (TeamDay's "scoped to your current organization"):
    /// the one the caller is acting in (`acting`: the calling token's, or the
    /// workspace header's), else the user's only workspace.
    pub async fn current_workspace(
        &self,
        user_id: &str,
        acting: Option<&str>,
    ) -> AppResult<String> {
        if let Some(acting) = acting {
            return Ok(acting.to_owned());
        }
        let memberships = self.store.memberships_of(user_id).await?;
        match memberships.as_slice() {
            [only] => Ok(only.workspace_id.clone()),
            [] => Err(AppError::Invalid(
                "workspace_id: tokens here belong to a workspace, and you are a member of none."
                    .into(),
            )),
            _ => Err(AppError::Invalid(format!(
                "workspace_id is required: you belong to {} workspaces; name one (or send the {} header).",
                memberships.len(),
                self.config.auth.workspace_header
            ))),
        }
    }

    /// What a user's roles grant: in `workspace_id`, or across all their
    /// workspaces. A personal token may be narrowed to no more than this.
    pub async fn grantable(
        &self,
        user_id: &str,
        workspace_id: Option<&str>,
    ) -> AppResult<PermissionSet> {
        Ok(self
            .store
            .memberships_of(user_id)
            .await?
            .iter()
            .filter(|m| workspace_id.is_none_or(|w| w == m.workspace_id))
            .filter_map(|m| self.config.roles.get(&m.role))
            .flat_map(|set| set.iter().cloned())
            .collect())
    }

    /// Creates a personal token for the caller, as `POST /api/v1/tokens`
    /// asks (also behind the compatibility routes, which answer in their
    /// own shape).
    pub async fn create_personal(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: PersonalTokenRequest<'_>,
    ) -> AppResult<Issued> {
        let user = caller.require_user()?.clone();
        // Tokens cannot mint tokens unless they hold tokens:manage, and never
        // more than they hold themselves.
        if !caller.holds(TOKENS_MANAGE) {
            return Err(AppError::Forbidden(format!(
                "This token cannot create tokens: it lacks {TOKENS_MANAGE}."
            )));
        }
        let name = validate::token_name(request.name)?;
        let kind = self.kind_for(request.kind, OwnerType::User)?;
        let expiry = validate::expiry_request(request.expires_in, request.expires_at)?;
        let workspace_id = match (kind.binding, request.workspace_id) {
            (WorkspaceBinding::Bound, None) => {
                let acting = caller.token_workspace().or(request.workspace_header);
                Some(self.current_workspace(&user.id, acting).await?)
            }
            (_, asked) => asked,
        };
        if let (Some(asked), Caller::Token(calling)) = (&workspace_id, caller) {
            if calling
                .record()
                .workspace_id
                .as_ref()
                .is_some_and(|bound| bound != asked)
            {
                return Err(AppError::Forbidden(
                    "A token bound to one workspace cannot create tokens for another.".into(),
                ));
            }
        }
        let permissions = match request.permissions {
            Some(list) => {
                let asked = validate::permission_list("permissions", list)?;
                let allowed = self
                    .grantable_by(caller, &user, workspace_id.as_deref())
                    .await?;
                if kind.allow_narrowing {
                    validate::only_narrowing(
                        "permissions",
                        &asked,
                        &allowed,
                        "a token can only narrow what its owner's role allows",
                    )?;
                }
                Some(asked)
            }
            None => match caller {
                // A narrowed token passes its narrowing on: it cannot mint a wider one.
                Caller::Token(v) => v
                    .record()
                    .permissions
                    .as_ref()
                    .map(|p| validate::permission_list("permissions", p))
                    .transpose()?,
                Caller::Session { .. } => None,
            },
        };
        if let Some(workspace_id) = &workspace_id {
            if !looks_like(IdKind::Workspace, workspace_id)
                || self
                    .store
                    .membership(workspace_id, &user.id)
                    .await?
                    .is_none()
            {
                return Err(AppError::Invalid(
                    "workspace_id: you are not a member of that workspace.".into(),
                ));
            }
        }
        self.issue(
            IssueRequest {
                kind,
                name,
                expiry,
                permissions,
                role: None,
                workspace_id,
                user_id: Some(user.id.clone()),
                created_by: Some(user.id.clone()),
                ceiling: caller.expiry_ceiling(),
            },
            actor,
        )
        .await
    }

    /// What the caller may grant a new token: the owner's role permissions
    /// (in the bound workspace, or across all their workspaces), within the
    /// calling token's own narrowing.
    async fn grantable_by(
        &self,
        caller: &Caller,
        user: &User,
        workspace_id: Option<&str>,
    ) -> AppResult<PermissionSet> {
        let mut allowed = self.grantable(&user.id, workspace_id).await?;
        if let Caller::Token(v) = caller {
            if let Some(narrowing) = &v.record().permissions {
                allowed =
                    allowed.intersection(&validate::permission_list("permissions", narrowing)?);
            }
        }
        Ok(allowed)
    }

    /// Creates a token after checking the kind's rules: binding, expiry
    /// policy, narrowing, the per-user limit.
    pub async fn issue(&self, request: IssueRequest<'_>, actor: &Actor) -> AppResult<Issued> {
        let kind = request.kind;
        let now = OffsetDateTime::now_utc();
        let expires_at = expiry::resolve(&request.expiry, &kind.expiry, now, request.ceiling)
            .map_err(expiry_refused)?;

        match (kind.binding, &request.workspace_id) {
            (WorkspaceBinding::None, Some(_)) => {
                return Err(AppError::Invalid(format!(
                    "workspace_id: tokens of kind \"{}\" are not bound to workspaces.",
                    kind.name
                )))
            }
            (WorkspaceBinding::Bound, None) => {
                return Err(AppError::Invalid(format!(
                    "workspace_id is required for tokens of kind \"{}\".",
                    kind.name
                )))
            }
            _ => {}
        }
        if let Some(workspace_id) = &request.workspace_id {
            self.store
                .workspace(workspace_id)
                .await?
                .ok_or_else(|| AppError::Invalid("workspace_id names no workspace.".into()))?;
        }
        if request.permissions.is_some() && !kind.allow_narrowing && kind.owner.held_by_a_user() {
            return Err(AppError::Invalid(format!(
                "permissions: this deployment does not narrow tokens of kind \"{}\"; \
                 a token acts with its owner's role.",
                kind.name
            )));
        }

        let id = new_id(IdKind::Token);
        let token = format::generate(&kind.shape(), &id);
        let secret = token.expose();
        let new = NewToken {
            id,
            kind: kind.name.clone(),
            user_id: request.user_id,
            workspace_id: request.workspace_id,
            name: request.name,
            display_prefix: format::display_prefix(secret, kind.display_prefix_len),
            last4: format::last4(secret),
            permissions: request.permissions.map(|p| p.to_strings()),
            role: request.role,
            created_at: now,
            created_by: request.created_by,
            expires_at,
            hash: self.config.hasher.hash(secret),
        };
        // A person, and each agent, may hold at most this many active
        // tokens; a workspace's API keys are managed by its admins instead.
        let max = self.config.limits.max_active_tokens_per_user;
        let limit = kind.owner.held_by_a_user().then_some(max);
        let record = self
            .store
            .insert_token(&new, limit)
            .await
            .map_err(|e| match e {
                StoreError::LimitReached => {
                    let holder = match kind.owner {
                        OwnerType::Agent => "This agent already holds",
                        _ => "You already hold",
                    };
                    AppError::Invalid(format!(
                        "{holder} {max} active tokens, the most this deployment allows: revoke one first."
                    ))
                }
                other => other.into(),
            })?;

        self.changes
            .apply(Invalidation::Created(hex::encode(new.hash.digest)))
            .await;
        let action = match kind.owner {
            OwnerType::User => "token.create",
            OwnerType::Workspace => "api_key.create",
            OwnerType::Agent => "agent_token.create",
        };
        self.audit
            .record(
                actor,
                action,
                Some(token_target(&record)),
                json!({
                    "name": record.name,
                    "kind": record.kind,
                    "owner": record.user_id,
                    "permissions": record.permissions,
                    "role": record.role,
                    "expires_at": record.expires_at.map(rfc3339),
                }),
            )
            .await;
        Ok(Issued { record, token })
    }

    /// Gives a token a new secret. The old one keeps working for the
    /// `overlap`; after that it is refused (and used to rotate again, it
    /// revokes the token). The expiry stays unless `expiry` asks for another
    /// within the kind's policy.
    pub async fn rotate(
        &self,
        record: &TokenRecord,
        overlap: Overlap,
        expiry: ExpiryRequest,
        ceiling: Option<OffsetDateTime>,
        actor: &Actor,
    ) -> AppResult<Issued> {
        let kind = self
            .config
            .kinds
            .get(&record.kind)
            .ok_or(AppError::NotFound)?;
        if !kind.allow_rotation {
            return Err(AppError::Invalid(format!(
                "Tokens of kind \"{}\" cannot be rotated here: create a new token and revoke this one.",
                kind.name
            )));
        }
        let now = OffsetDateTime::now_utc();
        let old_secret_retires_at = match overlap {
            Overlap::Seconds(seconds) if seconds > MAX_OVERLAP_SECONDS => {
                return Err(AppError::Invalid(format!(
                    "overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}."
                )))
            }
            Overlap::Seconds(seconds) => now + Duration::seconds(i64::from(seconds)),
            Overlap::UntilFirstUse => now + HANDOFF_LONGEST_WAIT,
        };
        if record.revoked_at.is_some() || record.expires_at.is_some_and(|t| now >= t) {
            return Err(AppError::Conflict(
                "Only an active token can be rotated: this one is revoked or expired.".into(),
            ));
        }
        let expires_at = match expiry {
            ExpiryRequest::Default => record.expires_at,
            asked => expiry::resolve(&asked, &kind.expiry, now, ceiling).map_err(expiry_refused)?,
        };
        let token = format::generate(&kind.shape(), &record.id);
        let secret = token.expose();
        let rotated = self
            .store
            .rotate_token(&Rotation {
                token_id: record.id.clone(),
                at: now,
                new_hash: self.config.hasher.hash(secret),
                display_prefix: format::display_prefix(secret, kind.display_prefix_len),
                last4: format::last4(secret),
                expires_at,
                old_secret_retires_at,
                handoff: overlap == Overlap::UntilFirstUse,
            })
            .await?;
        self.changes
            .apply(Invalidation::Token(record.id.clone()))
            .await;
        self.audit
            .record(
                actor,
                "token.rotate",
                Some(token_target(&rotated)),
                json!({ "name": rotated.name, "overlap": overlap.describe() }),
            )
            .await;
        Ok(Issued {
            record: rotated,
            token,
        })
    }

    /// Rotation as the API asks for it, on behalf of `caller`: a token
    /// rotating another token cannot give it a later expiry than its own.
    pub async fn rotate_for(
        &self,
        caller: &Caller,
        actor: &Actor,
        record: &TokenRecord,
        request: RotateRequest<'_>,
    ) -> AppResult<Issued> {
        let expiry = validate::expiry_request(request.expires_in, request.expires_at)?;
        let ceiling = match caller {
            Caller::Token(v) if v.record().id != record.id => v.record().expires_at,
            _ => None,
        };
        self.rotate(record, request.overlap, expiry, ceiling, actor)
            .await
    }

    /// Revokes one token; revoking a revoked token changes nothing.
    pub async fn revoke(
        &self,
        record: &TokenRecord,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<bool> {
        let revoked = self
            .store
            .revoke_token(
                &record.id,
                &Revocation {
                    at: OffsetDateTime::now_utc(),
                    by: actor.user_id.clone(),
                    reason: reason.to_owned(),
                },
            )
            .await?;
        self.changes
            .apply(Invalidation::Token(record.id.clone()))
            .await;
        if revoked {
            let action = match self.config.kinds.get(&record.kind).map(|k| k.owner) {
                Some(OwnerType::Workspace) => "api_key.revoke",
                Some(OwnerType::Agent) => "agent_token.revoke",
                _ => "token.revoke",
            };
            self.audit
                .record(
                    actor,
                    action,
                    Some(token_target(record)),
                    json!({ "name": record.name, "reason": reason }),
                )
                .await;
        }
        Ok(revoked)
    }

    /// A secret retired by rotation came back after its overlap: it leaked.
    /// The token (the rotation family: every secret it ever had) is revoked
    /// on every instance, and `token.reuse_detected` audited.
    pub async fn revoke_reused(
        &self,
        record: &TokenRecord,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        let revoked = self
            .store
            .revoke_token(
                &record.id,
                &Revocation {
                    at: OffsetDateTime::now_utc(),
                    by: None,
                    reason: "reuse_detected".into(),
                },
            )
            .await?;
        self.changes
            .apply(Invalidation::Token(record.id.clone()))
            .await;
        tracing::warn!(token_id = %record.id, "a rotated-out secret was presented: token revoked");
        if revoked {
            self.audit.reuse_detected(client, record).await;
        }
        Ok(())
    }

    /// A secret retired by rotation was presented after its overlap, not to
    /// rotate: refused, and audited (`token.rotated_secret_used`) so that
    /// the owner can find the job still holding it. The token stands.
    pub async fn rotated_out_presented(&self, record: &TokenRecord, client: &ClientInfo) {
        self.audit
            .record(
                &Actor::anonymous(client),
                "token.rotated_secret_used",
                Some(token_target(record)),
                json!({ "name": record.name, "rotated_at": record.rotated_at.map(rfc3339) }),
            )
            .await;
    }

    /// The first use of a hand-off rotation's new secret (`digest`): the old
    /// secrets retire after [`HANDOFF_GRACE`], on every instance. A failed
    /// write is logged and retried by the next use; the old secrets then
    /// work a little longer, never past [`HANDOFF_LONGEST_WAIT`].
    pub async fn complete_handoff(&self, token_id: &str, digest: &[u8]) {
        let retire_at = OffsetDateTime::now_utc() + HANDOFF_GRACE;
        match self
            .store
            .complete_handoff(token_id, digest, retire_at)
            .await
        {
            Ok(ended) => {
                // Every instance forgets the cached secrets, whose retirement
                // changed (or, if another instance ended it, will have).
                self.changes
                    .apply(Invalidation::Token(token_id.to_owned()))
                    .await;
                if ended {
                    self.audit
                        .record(
                            &Actor::default(),
                            "token.handoff_complete",
                            Some(Target {
                                kind: "token",
                                id: token_id,
                                workspace_id: None,
                            }),
                            json!({ "old_secrets_retire_at": rfc3339(retire_at) }),
                        )
                        .await;
                }
            }
            Err(e) => {
                tracing::warn!(token_id, error = %e, "could not end a rotation's hand-off; the next use retries")
            }
        }
    }

    /// Revokes every personal token of a user; returns how many.
    pub async fn revoke_all(&self, user_id: &str, actor: &Actor, reason: &str) -> AppResult<usize> {
        let ids = self
            .store
            .revoke_user_tokens(
                user_id,
                &Revocation {
                    at: OffsetDateTime::now_utc(),
                    by: actor.user_id.clone(),
                    reason: reason.to_owned(),
                },
            )
            .await?;
        for id in &ids {
            self.changes.apply(Invalidation::Token(id.clone())).await;
        }
        self.audit
            .record(
                actor,
                "token.revoke_all",
                Some(Target {
                    kind: "user",
                    id: user_id,
                    workspace_id: None,
                }),
                json!({ "revoked": ids.len(), "token_ids": ids, "reason": reason }),
            )
            .await;
        Ok(ids.len())
    }

    /// The store filter for `scope`, hiding tokens revoked before
    /// `hide_revoked_before`.
    fn filter(&self, scope: &TokenScope<'_>, hide_revoked_before: OffsetDateTime) -> TokenFilter {
        TokenFilter {
            user_id: scope.user_id.map(str::to_owned),
            workspace_id: scope.workspace_id.map(str::to_owned),
            kinds: self.config.kinds.names_owned_by(scope.owner),
            hide_revoked_before: Some(hide_revoked_before),
        }
    }

    /// One page of the scope's token records as lists show them: revoked
    /// ones drop out after `tokens.revoked_retention`.
    pub async fn list(
        &self,
        scope: &TokenScope<'_>,
        now: OffsetDateTime,
        page: &Page,
    ) -> AppResult<Vec<TokenRecord>> {
        let filter = self.filter(scope, now - self.config.revoked_retention);
        Ok(self.store.list_tokens(&filter, page).await?)
    }

    /// Every active token of the scope, newest first: all pages at once (the
    /// active-token limit bounds them).
    pub async fn active(&self, scope: &TokenScope<'_>) -> AppResult<Vec<TokenRecord>> {
        let now = OffsetDateTime::now_utc();
        let filter = self.filter(scope, now);
        let mut page = Page {
            after: None,
            limit: tessera_store::MAX_PAGE,
        };
        let mut active = Vec::new();
        loop {
            let records = self.store.list_tokens(&filter, &page).await?;
            let next = (records.len() as u32 >= page.limit)
                .then(|| records.last().map(|r| r.id.clone()))
                .flatten();
            active.extend(
                records
                    .into_iter()
                    .filter(|r| r.status(now) == TokenStatus::Active),
            );
            match next {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        Ok(active)
    }

    /// The scope's token with this id, or 404. An id that is not shaped like
    /// one never reaches the store (PostgreSQL refuses a NUL byte with an error).
    pub async fn find(&self, scope: &TokenScope<'_>, id: &str) -> AppResult<TokenRecord> {
        if !looks_like(IdKind::Token, id) {
            return Err(AppError::NotFound);
        }
        let kinds = self.config.kinds.names_owned_by(scope.owner);
        let within =
            |wanted: Option<&str>, actual: Option<&str>| wanted.is_none() || wanted == actual;
        self.store
            .token(id)
            .await?
            .filter(|t| {
                kinds.contains(&t.kind)
                    && within(scope.user_id, t.user_id.as_deref())
                    && within(scope.workspace_id, t.workspace_id.as_deref())
            })
            .ok_or(AppError::NotFound)
    }

    /// Any user's token with this id (a person's or an agent's); a
    /// malformed id is a 404 before any look-up.
    pub async fn users_token(&self, id: &str) -> AppResult<TokenRecord> {
        if !looks_like(IdKind::Token, id) {
            return Err(AppError::NotFound);
        }
        self.store
            .token(id)
            .await?
            .filter(|t| t.user_id.is_some())
            .ok_or(AppError::NotFound)
    }

    /// The user's own token with this id; anyone else's is a 404, so that
    /// ids cannot be probed.
    pub async fn own_token(&self, user: &User, id: &str) -> AppResult<TokenRecord> {
        let token = self.users_token(id).await?;
        if token.user_id.as_deref() == Some(user.id.as_str()) {
            Ok(token)
        } else {
            Err(AppError::NotFound)
        }
    }
}

/// An expiry the kind's policy or the creating token does not allow, as a
/// 422 the caller can act on. The ceiling is compared to the instant, with
/// no tolerance: a token never mints one that outlives it, so the message
/// names that limit and the two ways past it.
fn expiry_refused(error: ExpiryError) -> AppError {
    match error {
        ExpiryError::BeyondCreator { field, ceiling } => AppError::Invalid(format!(
            "{field}: a token cannot create one that outlives it, and the token making this \
             request expires at {ceiling}. Choose an expiry no later than that, or sign in \
             or use a longer-lived token."
        )),
        other => AppError::Invalid(other.to_string()),
    }
}

pub fn token_target(record: &TokenRecord) -> Target<'_> {
    Target {
        kind: "token",
        id: &record.id,
        workspace_id: record.workspace_id.as_deref(),
    }
}

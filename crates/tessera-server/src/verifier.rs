//! The verifier: the one path every presented token takes, whether it comes
//! to the management API, the verify API, introspection or forward-auth.
//!
//! Order of work: parse and checksum (no I/O) → hash → store look-up →
//! policy (status, expiry, owner status, current role, narrowing, workspace)
//! → per-token rate limit → usage buffer → identity or denial.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use time::OffsetDateTime;

use tessera_core::kind::{KindSet, OwnerType};
use tessera_core::policy::{self, Denial, Identity, RequestFacts, TokenFacts};
use tessera_core::{PermissionSet, RoleMap, TokenHasher};
use tessera_store::{FoundToken, Revocation, Store, StoreError, TokenRecord, User};

use crate::audit::{self, Actor, Target};
use crate::cache::{CachedToken, Invalidation, KeptGrant, VerifyCache};
use crate::config::{Config, RateLimit};
use crate::extract::ClientInfo;
use crate::metrics::Metrics;
use crate::usage::UsageBuffer;

/// A token that passed: who it acts for, and the records behind that.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Shared with the cached token's kept grant when the question was the
    /// one it keeps.
    pub identity: Arc<Identity>,
    /// The token as the cache holds it, shared rather than copied.
    token: Arc<CachedToken>,
}

impl Verified {
    pub fn record(&self) -> &TokenRecord {
        &self.token.record
    }

    /// The owning user of a personal token, or the agent of an agent token.
    pub fn owner(&self) -> Option<&User> {
        self.token.owner.as_ref()
    }

    /// `encode`'s answer, made once per kept grant: a token is usually
    /// verified again and again with the same outcome. `slot` names where in
    /// the kept grant the answer lives. An identity that is not the kept
    /// grant's (another question, or the cache off) is encoded afresh.
    pub fn kept<T: Clone>(
        &self,
        slot: impl FnOnce(&KeptGrant) -> &OnceLock<T>,
        encode: impl FnOnce(&Verified) -> T,
    ) -> T {
        match self.token.kept_for(&self.identity) {
            Some(kept) => slot(kept).get_or_init(|| encode(self)).clone(),
            None => encode(self),
        }
    }
}

#[derive(Debug)]
pub enum VerifyFailure {
    Denied {
        denial: Denial,
        retry_after: Option<u64>,
    },
    /// The store could not answer: the caller must fail closed.
    Store(StoreError),
}

impl From<StoreError> for VerifyFailure {
    fn from(e: StoreError) -> Self {
        VerifyFailure::Store(e)
    }
}

fn deny(denial: Denial) -> VerifyFailure {
    VerifyFailure::Denied {
        denial,
        retry_after: None,
    }
}

/// A found token turned away by policy, noted in the log by id.
fn refused(record: &TokenRecord, denial: Denial) -> VerifyFailure {
    tracing::info!(token_id = %record.id, reason = denial.code(), "token refused");
    deny(denial)
}

/// What is asked of a presented token.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    pub token: &'a str,
    pub workspace_header: Option<&'a str>,
    pub required: &'a [String],
    pub client: &'a ClientInfo,
}

pub struct Verifier {
    store: Arc<dyn Store>,
    kinds: KindSet,
    roles: RoleMap,
    hasher: TokenHasher,
    usage: Arc<UsageBuffer>,
    metrics: Arc<Metrics>,
    cache: VerifyCache,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl Verifier {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        usage: Arc<UsageBuffer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            kinds: config.kinds.clone(),
            roles: config.roles.clone(),
            hasher: config.hasher.clone(),
            usage,
            metrics,
            cache: VerifyCache::new(config.cache),
            limiter: config.limits.rate_limit.map(keyed_limiter),
        }
    }

    /// Verifies a presented token, counting the outcome.
    pub async fn verify(&self, request: VerifyRequest<'_>) -> Result<Verified, VerifyFailure> {
        let outcome = self.verify_uncounted(request).await;
        match &outcome {
            Ok(_) => self.metrics.verified(),
            Err(VerifyFailure::Denied { denial, .. }) => self.metrics.denied(*denial),
            Err(VerifyFailure::Store(_)) => self.metrics.store_error(),
        }
        outcome
    }

    #[tracing::instrument(skip_all, fields(token_id))]
    async fn verify_uncounted(
        &self,
        request: VerifyRequest<'_>,
    ) -> Result<Verified, VerifyFailure> {
        let (_, parsed) = self.kinds.parse(request.token).map_err(|e| {
            tracing::debug!(reason = %e, "token refused before look-up");
            deny(Denial::Malformed)
        })?;
        let now = OffsetDateTime::now_utc();

        let candidates = self.hasher.candidates(parsed.token);
        let cache_key = candidates[0].digest;
        let found = match self.cache.token(&cache_key) {
            Some(cached) => cached,
            None => {
                let ticket = self.cache.ticket();
                let fetched = self
                    .store
                    .find_token_by_hash(&candidates)
                    .await?
                    .filter(|f| candidates.iter().any(|c| c.matches(&f.digest)));
                let found = match fetched {
                    Some(f) => Some(Arc::new(self.prepare(f)?)),
                    None => None,
                };
                self.cache.put_token(ticket, cache_key, found.clone());
                found
            }
        }
        .ok_or(deny(Denial::Unknown))?;
        let record = &found.record;
        tracing::Span::current().record("token_id", record.id.as_str());
        // A kind removed from the configuration no longer authenticates anything.
        let kind = self.kinds.get(&record.kind).ok_or(deny(Denial::Unknown))?;

        // A personal token's user, or an agent token's agent: its status
        // (suspension, removal) is checked on every request.
        let owner = found.owner.as_ref();
        let facts = TokenFacts {
            token_id: &record.id,
            kind,
            user_id: record.user_id.as_deref(),
            workspace_id: record.workspace_id.as_deref(),
            permissions: found.permissions.as_ref(),
            role: record.role.as_deref(),
            expires_at: record.expires_at,
            revoked: record.revoked_at.is_some(),
            secret_retires_at: found.secret_retires_at,
            owner_status: owner.as_ref().map(|u| u.status),
        };
        let request_facts = RequestFacts {
            workspace_header: request.workspace_header,
            required: request.required,
        };

        match policy::check_standing(&facts, now) {
            Ok(()) => {}
            Err(Denial::ReuseDetected) => {
                self.revoke_leaked_family(record, request.client).await?;
                return Err(deny(Denial::ReuseDetected));
            }
            Err(denial) => return Err(refused(record, denial)),
        }

        // Membership is fetched only when a personal (or agent) token acts in
        // a workspace: its grants are the owner's role there now.
        let membership_role = match (kind.owner, policy::select_workspace(&facts, &request_facts)) {
            (OwnerType::User | OwnerType::Agent, Ok(Some(workspace_id))) => match &record.user_id {
                Some(user_id) => self.role_of(workspace_id, user_id).await?,
                None => None,
            },
            _ => None,
        };
        let membership_role = membership_role.as_deref();

        let identity = match found.kept_grant(&request_facts, membership_role) {
            Some(identity) => identity,
            None => {
                let identity = policy::grant(&facts, &request_facts, membership_role, &self.roles)
                    .map(Arc::new)
                    .map_err(|denial| refused(record, denial))?;
                found.keep_grant(&request_facts, membership_role, &identity);
                identity
            }
        };

        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check_key(&record.id) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(VerifyFailure::Denied {
                    denial: Denial::RateLimited,
                    retry_after: Some(wait.as_secs().max(1)),
                });
            }
        }

        if found.last_recorded.is_news(now, request.client) {
            self.usage.record(&record.id, now, request.client);
        }

        Ok(Verified {
            identity,
            token: found,
        })
    }

    /// A token as found in the store, made ready for the cache: its
    /// permissions parsed and its owner (a user or an agent) attached, so
    /// that a cache hit needs no other look-up. A change of the owner's
    /// status invalidates the entry (see [`VerifyCache::apply`]).
    fn prepare(&self, found: FoundToken) -> Result<CachedToken, StoreError> {
        let permissions = found
            .record
            .permissions
            .as_ref()
            .map(PermissionSet::parse_all)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let owned = self
            .kinds
            .get(&found.record.kind)
            .is_some_and(|k| matches!(k.owner, OwnerType::User | OwnerType::Agent));
        // Read with the token, in the same query.
        let owner = found.owner.filter(|_| owned);
        Ok(CachedToken {
            record: found.record,
            permissions,
            secret_retires_at: found.secret_retires_at,
            owner,
            last_recorded: Default::default(),
            kept: self.cache.enabled().then(OnceLock::new),
        })
    }

    async fn role_of(
        &self,
        workspace_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        if let Some(cached) = self.cache.membership(workspace_id, user_id) {
            return Ok(cached);
        }
        let ticket = self.cache.ticket();
        let role = self
            .store
            .membership(workspace_id, user_id)
            .await?
            .map(|m| m.role);
        self.cache
            .put_membership(ticket, workspace_id, user_id, role.clone());
        Ok(role)
    }

    /// Forgets what a change made stale, on this instance.
    pub fn invalidate(&self, change: &Invalidation) {
        self.cache.apply(change);
    }

    pub fn cached_tokens(&self) -> u64 {
        self.cache.cached_tokens()
    }

    /// A secret retired by rotation came back after its overlap: it leaked.
    /// The token (the rotation family: every secret it ever had) is revoked.
    async fn revoke_leaked_family(
        &self,
        record: &TokenRecord,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let revoked = self
            .store
            .revoke_token(
                &record.id,
                &Revocation {
                    at: now,
                    by: None,
                    reason: "reuse_detected".into(),
                },
            )
            .await?;
        self.cache.apply(&Invalidation::Token(record.id.clone()));
        tracing::warn!(token_id = %record.id, "a rotated-out secret was presented: token revoked");
        if revoked {
            audit::append(
                &self.store,
                &Actor::anonymous(client),
                "token.reuse_detected",
                Some(Target {
                    kind: "token",
                    id: &record.id,
                    workspace_id: record.workspace_id.as_deref(),
                }),
                json!({ "token_name": record.name, "owner": record.user_id }),
            )
            .await;
        }
        Ok(())
    }
}

fn keyed_limiter(limit: RateLimit) -> DefaultKeyedRateLimiter<String> {
    let burst = NonZeroU32::new(limit.requests).unwrap_or(NonZeroU32::MIN);
    let period = limit.per / limit.requests.max(1);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst);
    RateLimiter::keyed(quota)
}

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
use tessera_core::policy::{self, Denial, Identity, RequestFacts};
use tessera_core::{PermissionSet, RoleMap, TokenHasher};
use tessera_store::{FoundToken, Revocation, Store, StoreError, TokenRecord, User};

use crate::audit::{self, Actor, Target};
use crate::cache::{self, CachedToken, Invalidation, KeptGrant, VerifyCache};
use crate::config::{Config, RateLimit};
use crate::extract::ClientInfo;
use crate::metrics::{Lookup, Metrics};
use crate::usage::UsageBuffer;

/// A token that passed: who it acts for, and the records behind that.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The token as the cache holds it, shared rather than copied.
    token: Arc<CachedToken>,
    identity: Answered,
}

/// Where a verified identity lives.
#[derive(Debug, Clone)]
enum Answered {
    /// In the token's kept grant: the question was the one it keeps.
    Kept,
    /// Made for this request alone.
    Made(Arc<Identity>),
}

impl Verified {
    /// Who is acting, in which workspace, with what.
    pub fn identity(&self) -> &Identity {
        match &self.identity {
            Answered::Kept => &self.kept_grant().identity,
            Answered::Made(identity) => identity,
        }
    }

    pub fn record(&self) -> &TokenRecord {
        &self.token.record
    }

    /// The owning user of a personal token, or the agent of an agent token.
    pub fn owner(&self) -> Option<&User> {
        self.token.owner.as_deref()
    }

    /// `encode`'s answer, made once per kept grant: a token is usually
    /// verified again and again with the same outcome. `slot` names where in
    /// the kept grant the answer lives. An identity made for one request
    /// (another question, or the cache off) is encoded afresh.
    pub fn kept<T: Clone>(
        &self,
        slot: impl FnOnce(&KeptGrant) -> &OnceLock<T>,
        encode: impl FnOnce(&Verified) -> T,
    ) -> T {
        match self.identity {
            Answered::Kept => slot(self.kept_grant()).get_or_init(|| encode(self)).clone(),
            Answered::Made(_) => encode(self),
        }
    }

    fn kept_grant(&self) -> &KeptGrant {
        self.token
            .kept_grant()
            .expect("an identity answered from a kept grant has one")
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
            Some(cached) => {
                self.metrics.looked_up(match cached {
                    Some(_) => Lookup::CachedToken,
                    None => Lookup::CachedUnknown,
                });
                cached
            }
            None => {
                self.metrics.looked_up(Lookup::Store);
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
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("token_id", found.record.id.as_str());
        }

        let verified = if self.recalls(&found, &request, now) {
            Verified {
                token: found,
                identity: Answered::Kept,
            }
        } else {
            self.decide(found, &request, now).await?
        };
        let record = verified.record();

        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check_key(&record.id) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(VerifyFailure::Denied {
                    denial: Denial::RateLimited,
                    retry_after: Some(wait.as_secs().max(1)),
                });
            }
        }

        if verified.token.last_recorded.is_news(now, request.client) {
            self.usage.record(&record.id, now, request.client);
        }
        Ok(verified)
    }

    /// Whether the question is the one this token's kept grant answers, and
    /// the grant still holds: the token stands now, and a grant made with
    /// the owner's role in a workspace finds the same role cached there.
    /// Anything else is decided in full.
    fn recalls(
        &self,
        found: &CachedToken,
        request: &VerifyRequest<'_>,
        now: OffsetDateTime,
    ) -> bool {
        let Some(kept) = found.kept_grant() else {
            return false;
        };
        if !found.stands_at(now) || !kept.answers(request.workspace_header, request.required) {
            return false;
        }
        let Some(role) = kept.membership_role() else {
            return true;
        };
        let (Some(workspace_id), Some(user_id)) =
            (&kept.identity.workspace_id, &kept.identity.user_id)
        else {
            return false;
        };
        self.cache
            .membership(workspace_id, user_id)
            .flatten()
            .as_deref()
            == Some(role)
    }

    /// The full decision: the token's standing (revoking a leaked family),
    /// the owner's role where it acts in a workspace, and the grant, which
    /// is kept for the next request that asks the same.
    async fn decide(
        &self,
        found: Arc<CachedToken>,
        request: &VerifyRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Verified, VerifyFailure> {
        let record = &found.record;
        // A kind removed from the configuration no longer authenticates anything.
        let kind = self.kinds.get(&record.kind).ok_or(deny(Denial::Unknown))?;
        let facts = found.facts(kind);
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

        let identity = policy::grant(&facts, &request_facts, membership_role, &self.roles)
            .map_err(|denial| refused(record, denial))?;
        let identity = match found.keep_grant(&request_facts, membership_role, identity) {
            None => Answered::Kept,
            Some(identity) => Answered::Made(Arc::new(identity)),
        };
        Ok(Verified {
            token: found,
            identity,
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
        let kind = self.kinds.get(&found.record.kind);
        let owned = kind.is_some_and(|k| k.owner.held_by_a_user());
        // Read with the token, in the same query.
        let owner = found
            .owner
            .filter(|_| owned)
            .map(|owner| self.cache.share_owner(owner));
        // A kind no longer configured never stands; `decide` says why.
        let stands_until = kind.and_then(|kind| {
            policy::stands_until(&cache::facts(
                &found.record,
                kind,
                permissions.as_ref(),
                found.secret_retires_at,
                owner.as_deref(),
            ))
        });
        Ok(CachedToken {
            stands_until,
            last_recorded: Default::default(),
            kept: self.cache.enabled().then(OnceLock::new),
            record: found.record,
            permissions,
            secret_retires_at: found.secret_retires_at,
            owner,
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

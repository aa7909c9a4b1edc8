//! The verifier: the one path every presented token takes, whether it comes
//! to the management API, the verify API, introspection, forward-auth or a
//! product that embeds this crate.
//!
//! Order of work: parse and checksum (no I/O) → hash → store look-up
//! (through the cache) → policy (status, expiry, owner status, current role,
//! narrowing, workspace) → per-token rate limit → usage buffer → identity or
//! denial.

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use time::OffsetDateTime;

use tessera_core::hash::sha256;
use tessera_core::kind::{KindSet, OwnerType};
use tessera_core::policy::{self, Denial, Identity, RequestFacts};
use tessera_core::verifier_credential::{self, Audience};
use tessera_core::{PermissionSet, RoleMap, TokenHasher};
use tessera_store::{FoundToken, Store, StoreError, TokenRecord, User, VerifierCredential};

use crate::cache::{self, CachedToken, KeptGrant, VerifyCache};
use crate::client::Client;
use crate::counters::{Counters, Lookup};
use crate::invalidation::Invalidation;
use crate::settings::{RateLimit, VerifierSettings};
use crate::usage::UsageBuffer;

/// A token that passed: who it acts for, and the records behind that.
/// `A` is what the caller keeps encoded with a token's kept grant (see
/// [`KeptGrant`]); `()` when it keeps nothing.
#[derive(Debug)]
pub struct Verified<A = ()> {
    /// The token as the cache holds it, shared rather than copied.
    token: Arc<CachedToken<A>>,
    identity: Answered,
}

impl<A> Clone for Verified<A> {
    fn clone(&self) -> Self {
        Verified {
            token: self.token.clone(),
            identity: self.identity.clone(),
        }
    }
}

/// Where a verified identity lives.
#[derive(Debug, Clone)]
enum Answered {
    /// In the token's kept grant: the question was the one it keeps.
    Kept,
    /// Made for this request alone.
    Made(Arc<Identity>),
}

impl<A: Default> Verified<A> {
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
    /// the kept grant's `encoded` answers this one lives. An identity made
    /// for one request (another question, or the cache off) is encoded
    /// afresh.
    pub fn kept<T: Clone>(
        &self,
        slot: impl FnOnce(&A) -> &OnceLock<T>,
        encode: impl FnOnce(&Self) -> T,
    ) -> T {
        match self.identity {
            Answered::Kept => slot(&self.kept_grant().encoded)
                .get_or_init(|| encode(self))
                .clone(),
            Answered::Made(_) => encode(self),
        }
    }

    /// When this was the first use of a hand-off rotation's new secret: the
    /// token's id and the secret's stored digest, for the caller to end the
    /// hand-off (`Store::complete_handoff`; an embedded, read-only verifier
    /// leaves it to the server). Until that lands, later uses report it too.
    pub fn ends_handoff(&self) -> Option<(&str, &[u8])> {
        self.token
            .ends_handoff
            .as_deref()
            .map(|digest| (self.token.record.id.as_str(), digest))
    }

    fn kept_grant(&self) -> &KeptGrant<A> {
        self.token
            .kept_grant()
            .expect("an identity answered from a kept grant has one")
    }
}

/// Why a token was not verified.
#[derive(Debug)]
pub enum VerifyFailure {
    /// Policy refused it. `retry_after` (seconds) comes with a rate limit.
    Denied {
        denial: Denial,
        retry_after: Option<u64>,
    },
    /// A secret retired by rotation was presented after its overlap. The
    /// engine refuses it ([`Denial::Rotated`]) and the token stands; what
    /// follows is the caller's to decide: the server audits it, and revokes
    /// the token only when the old secret was used to rotate it again.
    RotatedOut(Box<TokenRecord>),
    /// The store could not answer: the caller must fail closed.
    Store(StoreError),
}

impl VerifyFailure {
    /// The policy's reason, for a failure that is a refusal.
    pub fn denial(&self) -> Option<Denial> {
        match self {
            VerifyFailure::Denied { denial, .. } => Some(*denial),
            VerifyFailure::RotatedOut(_) => Some(Denial::Rotated),
            VerifyFailure::Store(_) => None,
        }
    }
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
    /// The workspace the request names (a personal token picks its
    /// workspace per request).
    pub workspace_header: Option<&'a str>,
    /// Permissions the request needs, all of them.
    pub required: &'a [String],
    pub client: Client<'a>,
    /// A product's question, from a verification surface: a kind's rule that
    /// every request names its workspace applies (see
    /// [`policy::check_workspace_named`]). `false` for Tessera's own API.
    pub from_a_product: bool,
    /// The tokens the asking verifier may learn about; `None` for all. A
    /// token outside it is refused as [`Denial::Unknown`], before its use
    /// is noted or counted against its rate limit.
    pub audience: Option<&'a Audience>,
}

/// Why a verifier credential was not admitted.
#[derive(Debug)]
pub enum CallerRefused {
    /// Not a verifier secret's shape, unknown, or revoked.
    NotAVerifier,
    /// The store could not answer: the caller must fail closed.
    Store(StoreError),
}

/// The verification engine. `A` is what the caller keeps encoded with each
/// token's kept grant (see [`KeptGrant`]); an embedding product that keeps
/// nothing uses the default, `()`.
pub struct Verifier<A = ()> {
    store: Arc<dyn Store>,
    kinds: KindSet,
    roles: RoleMap,
    hasher: TokenHasher,
    usage: Option<UsageBuffer>,
    counters: Counters,
    cache: VerifyCache<A>,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl<A: Default + Send + Sync + 'static> Verifier<A> {
    /// A verifier reading `store`. Nothing runs in the background until
    /// [`start`](Self::start).
    pub fn new(settings: VerifierSettings, store: Arc<dyn Store>) -> Self {
        Self {
            store,
            kinds: settings.kinds,
            roles: settings.roles,
            hasher: settings.hasher,
            usage: settings.record_usage.then(UsageBuffer::default),
            counters: Counters::default(),
            cache: VerifyCache::new(settings.cache),
            limiter: settings.rate_limit.map(keyed_limiter),
        }
    }

    /// Starts what the verifier does in the background for as long as the
    /// returned [`Background`] lives: applying other processes' changes
    /// from the store's feed, and (when it records usage) writing buffered
    /// usage every `flush_interval`.
    pub async fn start(self: &Arc<Self>, flush_interval: Duration) -> Background {
        let mut tasks = Vec::new();
        match self.store.subscribe_invalidations().await {
            Ok(Some(mut changes)) => {
                let verifier = self.clone();
                tasks.push(tokio::spawn(async move {
                    while let Some(message) = changes.recv().await {
                        verifier.invalidate(&Invalidation::decode(&message));
                    }
                }));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances' changes; relying on the cache TTL");
            }
        }
        if self.usage.is_some() {
            let verifier = self.clone();
            tasks.push(tokio::spawn(async move {
                let mut interval = tokio::time::interval(flush_interval);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    interval.tick().await;
                    verifier.flush_usage().await;
                }
            }));
        }
        Background { tasks }
    }

    /// Verifies a presented token, counting the outcome.
    pub async fn verify(&self, request: VerifyRequest<'_>) -> Result<Verified<A>, VerifyFailure> {
        let outcome = self.verify_uncounted(request).await;
        match &outcome {
            Ok(_) => self.counters.verified(),
            Err(VerifyFailure::Store(_)) => self.counters.store_error(),
            Err(failure) => {
                if let Some(denial) = failure.denial() {
                    self.counters.denied(denial)
                }
            }
        }
        outcome
    }

    #[tracing::instrument(skip_all, fields(token_id))]
    async fn verify_uncounted(
        &self,
        request: VerifyRequest<'_>,
    ) -> Result<Verified<A>, VerifyFailure> {
        let (_, parsed) = self.kinds.parse(request.token).map_err(|e| {
            tracing::debug!(reason = %e, "token refused before look-up");
            deny(Denial::Malformed)
        })?;
        let now = OffsetDateTime::now_utc();

        let candidates = self.hasher.candidates(parsed.token);
        let cache_key = candidates[0].digest;
        let found = match self.cache.token(&cache_key) {
            Some(cached) => {
                self.counters.looked_up(match cached {
                    Some(_) => Lookup::CachedToken,
                    None => Lookup::CachedUnknown,
                });
                cached
            }
            None => {
                self.counters.looked_up(Lookup::Store);
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
        // The kind is looked up only when the rule could refuse: a request
        // naming its workspace (the usual product request) never pays for it.
        if request.from_a_product && request.workspace_header.is_none() {
            if let Some(kind) = self.kinds.get(&record.kind) {
                policy::check_workspace_named(kind, request.workspace_header)
                    .map_err(|denial| refused(record, denial))?;
            }
        }
        if let Some(audience) = request.audience {
            if !audience.admits(&record.kind, verified.identity().workspace_id.as_deref()) {
                tracing::debug!(token_id = %record.id, "token outside the verifier's audience");
                return Err(deny(Denial::Unknown));
            }
        }

        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check_key(&record.id) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(VerifyFailure::Denied {
                    denial: Denial::RateLimited,
                    retry_after: Some(wait.as_secs().max(1)),
                });
            }
        }

        if let Some(usage) = &self.usage {
            if verified.token.last_recorded.is_news(now, request.client) {
                usage.record(&record.id, now, request.client);
            }
        }
        Ok(verified)
    }

    /// Whether the question is the one this token's kept grant answers, and
    /// the grant still holds: the token stands now, and a grant made with
    /// the owner's role in a workspace finds the same role cached there.
    /// Anything else is decided in full.
    fn recalls(
        &self,
        found: &CachedToken<A>,
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
        found: Arc<CachedToken<A>>,
        request: &VerifyRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Verified<A>, VerifyFailure> {
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
            Err(Denial::Rotated) => {
                tracing::warn!(token_id = %record.id, "a rotated-out secret was presented after its overlap");
                return Err(VerifyFailure::RotatedOut(Box::new(record.clone())));
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
    fn prepare(&self, found: FoundToken) -> Result<CachedToken<A>, StoreError> {
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
            ends_handoff: found.ends_handoff.then_some(found.digest),
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

    /// Admits a verifier credential (the secret a product or gateway
    /// presents to ask about tokens): checked for shape and checksum with no
    /// I/O, then found by its SHA-256 through the cache, like a token.
    pub async fn admit_caller(
        &self,
        secret: &str,
    ) -> Result<Arc<VerifierCredential>, CallerRefused> {
        if !verifier_credential::well_formed(secret) {
            return Err(CallerRefused::NotAVerifier);
        }
        let digest = sha256(secret);
        let found = match self.cache.caller(&digest) {
            Some(cached) => cached,
            None => {
                let ticket = self.cache.ticket();
                let found = self
                    .store
                    .verifier_by_secret_hash(&hex::encode(digest))
                    .await
                    .map_err(CallerRefused::Store)?
                    .map(Arc::new);
                self.cache.put_caller(ticket, digest, found.clone());
                found
            }
        };
        found.ok_or(CallerRefused::NotAVerifier)
    }

    /// Forgets what a change made stale, on this instance only.
    pub fn invalidate(&self, change: &Invalidation) {
        self.cache.apply(change);
    }

    /// Makes a change take effect everywhere: this instance forgets what it
    /// made stale at once, and every other verifier on the same database is
    /// told through the store. Only a process that writes changes needs this.
    pub async fn invalidate_everywhere(&self, change: &Invalidation) {
        self.cache.apply(change);
        if let Err(e) = self.store.publish_invalidation(&change.encode()).await {
            // The other instances' caches expire within their TTL anyway.
            tracing::warn!(error = %e, "could not notify other instances of a change");
        }
    }

    /// Writes buffered usage now ([`start`](Self::start) does this on its
    /// interval; call it once more on shutdown).
    pub async fn flush_usage(&self) {
        let Some(usage) = &self.usage else {
            return;
        };
        match usage.flush(&self.store).await {
            Ok(0) => {}
            Ok(_) => self.counters.usage_flushed(true),
            Err(e) => {
                self.counters.usage_flushed(false);
                tracing::warn!(error = %e, "could not write token usage; will retry");
            }
        }
    }

    /// Tokens with usage not yet written.
    pub fn pending_usage(&self) -> usize {
        self.usage.as_ref().map_or(0, UsageBuffer::len)
    }

    pub fn cached_tokens(&self) -> u64 {
        self.cache.cached_tokens()
    }

    /// What the verifier has done so far, for metrics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// The verifier's background work, stopped when this is dropped.
#[derive(Debug)]
pub struct Background {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
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

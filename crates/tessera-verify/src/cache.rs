//! The verifier's bounded in-memory cache: token records (with their owner)
//! by hash, and memberships by (workspace, user). It never holds stale authority
//! for longer than it takes to hear about a change: every revoke, rotation,
//! suspension, removal or role change invalidates the affected entries at
//! once on this instance (and, on PostgreSQL, on every other one through the
//! store's notifications). A short TTL is the safety net for a lost message.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use quick_cache::Equivalent;
use time::OffsetDateTime;

use tessera_core::kind::CredentialKind;
use tessera_core::policy::{Identity, RequestFacts, TokenFacts};
use tessera_core::PermissionSet;
use tessera_store::{TokenRecord, User, VerifierCredential};

use crate::invalidation::Invalidation;
use crate::usage::LastRecorded;

/// A token as the verifier needs it, prepared once per cache fill (its
/// permissions parsed, its standing worked out) and shared, not copied, by
/// every request it serves.
///
/// The fields every verification reads come first and stay in this order
/// (`repr(C)`), beside the `Arc`'s counts: with thousands of tokens in use,
/// each verification's cost is mostly the cache lines it touches.
#[derive(Debug)]
#[repr(C)]
pub struct CachedToken<A> {
    /// [`stands_until`](tessera_core::policy::stands_until) for this token.
    pub stands_until: Option<Option<OffsetDateTime>>,
    /// What the usage buffer last heard of this token.
    pub last_recorded: LastRecorded,
    /// The grant made for the first question asked of this token since it
    /// was cached, and the answers encoded from it; `None` when the cache is
    /// off, since then no request comes after. A token is usually asked the
    /// same question again and again: its standing is checked every time,
    /// but its grant is a pure function of the question, so it is worked
    /// out and encoded once.
    pub kept: Option<OnceLock<KeptGrant<A>>>,
    pub record: TokenRecord,
    pub permissions: Option<PermissionSet>,
    /// When the presented secret stops working because of a rotation.
    pub secret_retires_at: Option<OffsetDateTime>,
    /// The presented secret's stored digest when it is a hand-off
    /// rotation's new secret, not used before: this use ends the hand-off.
    pub ends_handoff: Option<Vec<u8>>,
    /// The owning user (or agent), read when the entry was filled; a change
    /// of their status drops the entry. Shared by the owner's cached tokens
    /// (see [`VerifyCache::share_owner`]).
    pub owner: Option<Arc<User>>,
}

/// A question asked of a cached token and the grant it was answered with.
/// A question that differs in any part (the workspace asked for, the
/// permissions needed, the owner's role there now) is answered afresh.
///
/// `encoded` is the caller's: answers it encodes from this grant and wants kept
/// with it (the server keeps its encoded JSON body and header values), so
/// that a token asked the same question again is answered without encoding
/// anything. The engine makes it with `Default` and never reads it.
pub struct KeptGrant<A> {
    workspace_header: Option<Box<str>>,
    required: Box<[String]>,
    membership_role: Option<Box<str>>,
    pub identity: Identity,
    pub encoded: A,
}

impl<A> std::fmt::Debug for KeptGrant<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptGrant")
            .field("workspace_header", &self.workspace_header)
            .field("required", &self.required)
            .field("membership_role", &self.membership_role)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl<A> KeptGrant<A> {
    /// Whether this grant answers a request with this workspace header that
    /// needs these permissions (the owner's role is for the caller to check).
    pub fn answers(&self, workspace_header: Option<&str>, required: &[String]) -> bool {
        self.workspace_header.as_deref() == workspace_header && *self.required == *required
    }

    /// The owner's role in the workspace the grant was made with, if it was
    /// made with one.
    pub fn membership_role(&self) -> Option<&str> {
        self.membership_role.as_deref()
    }
}

impl<A: Default> CachedToken<A> {
    /// What the policy reads of this token, as `kind`.
    pub fn facts<'a>(&'a self, kind: &'a CredentialKind) -> TokenFacts<'a> {
        facts(
            &self.record,
            kind,
            self.permissions.as_ref(),
            self.secret_retires_at,
            self.owner.as_deref(),
        )
    }

    /// Whether [`check_standing`](tessera_core::policy::check_standing) passes at `now`.
    pub fn stands_at(&self, now: OffsetDateTime) -> bool {
        self.stands_until
            .is_some_and(|until| until.is_none_or(|t| now < t))
    }

    pub fn kept_grant(&self) -> Option<&KeptGrant<A>> {
        self.kept.as_ref()?.get()
    }

    /// Keeps a grant for the requests after this one, if none is kept yet;
    /// otherwise (or with the cache off) hands the identity back.
    pub fn keep_grant(
        &self,
        request: &RequestFacts<'_>,
        membership_role: Option<&str>,
        identity: Identity,
    ) -> Option<Identity> {
        let Some(kept) = &self.kept else {
            return Some(identity);
        };
        kept.set(KeptGrant {
            workspace_header: request.workspace_header.map(Box::from),
            required: request.required.into(),
            membership_role: membership_role.map(Box::from),
            identity,
            encoded: A::default(),
        })
        .err()
        .map(|refused| refused.identity)
    }
}

/// What the policy reads of a token: its record, kind and narrowing, and
/// its presented secret's and owner's state.
pub fn facts<'a>(
    record: &'a TokenRecord,
    kind: &'a CredentialKind,
    permissions: Option<&'a PermissionSet>,
    secret_retires_at: Option<OffsetDateTime>,
    owner: Option<&User>,
) -> TokenFacts<'a> {
    TokenFacts {
        token_id: &record.id,
        kind,
        user_id: record.user_id.as_deref(),
        workspace_id: record.workspace_id.as_deref(),
        permissions,
        role: record.role.as_deref(),
        expires_at: record.expires_at,
        revoked: record.revoked_at.is_some(),
        secret_retires_at,
        // A personal token's user, or an agent token's agent: its status
        // (suspension, removal) is checked on every request.
        owner_status: owner.map(|u| u.status),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub enabled: bool,
    pub max_tokens: u64,
    pub ttl: Duration,
    pub negative_ttl: Duration,
}

type Digest = [u8; 32];

/// Verifier secrets kept: a deployment has a handful of verifiers; the
/// bound stops a flood of made-up (well-formed) secrets from growing it.
const MAX_CALLERS: usize = 1024;

/// Taken before a store read whose answer may be cached: if a change was
/// applied in the meantime, the answer is not kept (see [`VerifyCache::fill`]).
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(u64);

pub struct VerifyCache<A> {
    enabled: bool,
    tokens: TtlCache<Digest, Arc<CachedToken<A>>>,
    /// The owners of cached tokens, by user id, as last read.
    owners: quick_cache::sync::Cache<String, Arc<User>>,
    unknown: TtlCache<Digest, ()>,
    memberships: TtlCache<(String, String), Option<String>>,
    /// Verifier credentials by the SHA-256 of their secret; `None` for a
    /// secret known to be no verifier's.
    callers: TtlCache<Digest, Option<Arc<VerifierCredential>>>,
    /// Counts the changes applied: a fill that read the store before a
    /// change must not outlive it.
    changes: AtomicU64,
}

impl<A> VerifyCache<A> {
    pub fn new(settings: CacheSettings) -> Self {
        let capacity = usize::try_from(settings.max_tokens).unwrap_or(usize::MAX);
        VerifyCache {
            enabled: settings.enabled,
            tokens: TtlCache::new(capacity, settings.ttl),
            owners: quick_cache::sync::Cache::new(capacity.max(1)),
            unknown: TtlCache::new(capacity, settings.negative_ttl),
            memberships: TtlCache::new(capacity, settings.ttl),
            callers: TtlCache::new(MAX_CALLERS, settings.ttl),
            changes: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `Some(None)`: known to be unknown (briefly); `None`: ask the store.
    pub fn token(&self, digest: &Digest) -> Option<Option<Arc<CachedToken<A>>>> {
        if !self.enabled {
            return None;
        }
        if let Some(found) = self.tokens.get(digest) {
            return Some(Some(found));
        }
        self.unknown.get(digest).map(|()| None)
    }

    /// The owner just read with a token, as one copy shared by all of that
    /// owner's cached tokens: a user with thousands of tokens would otherwise
    /// be held thousands of times. The copy kept is reused only while it
    /// equals what was just read, so sharing never hands out an older
    /// reading (a suspension, say) than the store's.
    pub fn share_owner(&self, read: User) -> Arc<User> {
        if !self.enabled {
            return Arc::new(read);
        }
        if let Some(kept) = self.owners.get(&read.id) {
            if *kept == read {
                return kept;
            }
        }
        let read = Arc::new(read);
        self.owners.insert(read.id.clone(), read.clone());
        read
    }

    /// To take before reading what [`put_token`](Self::put_token) or
    /// [`put_membership`](Self::put_membership) will keep.
    pub fn ticket(&self) -> FillTicket {
        FillTicket(self.changes.load(Ordering::SeqCst))
    }

    pub fn put_token(
        &self,
        ticket: FillTicket,
        digest: Digest,
        found: Option<Arc<CachedToken<A>>>,
    ) {
        match found {
            Some(f) => self.fill(ticket, &self.tokens, digest, f),
            None => self.fill(ticket, &self.unknown, digest, ()),
        }
    }

    pub fn membership(&self, workspace_id: &str, user_id: &str) -> Option<Option<String>> {
        if !self.enabled {
            return None;
        }
        self.memberships.get(&MembershipKey(workspace_id, user_id))
    }

    pub fn put_membership(
        &self,
        ticket: FillTicket,
        workspace_id: &str,
        user_id: &str,
        role: Option<String>,
    ) {
        let key = (workspace_id.to_owned(), user_id.to_owned());
        self.fill(ticket, &self.memberships, key, role);
    }

    /// `Some(None)`: known to be no verifier's secret; `None`: ask the store.
    /// Kept even with the token cache off: that setting makes every token
    /// read the store, and a verifier credential read per request would
    /// double the store's work for nothing (its changes come through the
    /// same feed, and the TTL bounds a missed one).
    pub fn caller(&self, digest: &Digest) -> Option<Option<Arc<VerifierCredential>>> {
        self.callers.get(digest)
    }

    pub fn put_caller(
        &self,
        ticket: FillTicket,
        digest: Digest,
        found: Option<Arc<VerifierCredential>>,
    ) {
        self.fill_unless_changed(ticket, &self.callers, digest, found);
    }

    /// Keeps what a store read answered, unless a change was applied since
    /// the read's ticket was taken: the answer may predate the change. The
    /// entry is inserted first and the count checked after, so that a change
    /// applied at any moment either stops the fill or removes what it put.
    fn fill<K, V>(&self, ticket: FillTicket, cache: &TtlCache<K, V>, key: K, value: V)
    where
        K: Eq + Hash + Clone,
        V: Clone,
    {
        if !self.enabled {
            return;
        }
        self.fill_unless_changed(ticket, cache, key, value);
    }

    /// [`fill`](Self::fill), whether or not the token cache is on.
    fn fill_unless_changed<K, V>(
        &self,
        ticket: FillTicket,
        cache: &TtlCache<K, V>,
        key: K,
        value: V,
    ) where
        K: Eq + Hash + Clone,
        V: Clone,
    {
        if self.changes.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        cache.insert(key.clone(), value);
        if self.changes.load(Ordering::SeqCst) != ticket.0 {
            cache.remove(&key);
        }
    }

    pub fn apply(&self, change: &Invalidation) {
        // Counted before anything is removed: see `fill`.
        self.changes.fetch_add(1, Ordering::SeqCst);
        match change {
            Invalidation::Token(id) => self.tokens.retain(|_, found| found.record.id != *id),
            Invalidation::User(id) => {
                self.owners.remove(id);
                self.tokens
                    .retain(|_, found| found.record.user_id.as_deref() != Some(id.as_str()));
                self.memberships.retain(|(_, user), _| user != id);
            }
            Invalidation::Membership(w, u) => self.memberships.remove(&MembershipKey(w, u)),
            Invalidation::Created(hex_digest) => {
                let mut digest = [0u8; 32];
                if hex::decode_to_slice(hex_digest, &mut digest).is_ok() {
                    self.unknown.remove(&digest);
                } else {
                    self.unknown.clear();
                }
            }
            // Verifiers are few and change rarely: forget them all.
            Invalidation::Verifier(_) => self.callers.clear(),
            Invalidation::All => {
                self.callers.clear();
                self.owners.clear();
                self.tokens.clear();
                self.unknown.clear();
                self.memberships.clear();
            }
        }
    }

    pub fn cached_tokens(&self) -> u64 {
        self.tokens.len() as u64
    }
}

/// A membership key looked up without allocating: hashes as the
/// `(String, String)` it stands for.
#[derive(Hash)]
struct MembershipKey<'a>(&'a str, &'a str);

impl Equivalent<(String, String)> for MembershipKey<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// A bounded map whose entries are served for `ttl` after they were put.
/// quick_cache (S3-FIFO eviction, sharded locks) is the map: a hit is a
/// read lock and a reference bit, which matters on the verifier's hot path.
/// Removal by predicate scans every entry; it runs only on a change
/// (revoke, rotation, suspension), never per request.
struct TtlCache<K, V> {
    entries: quick_cache::sync::Cache<K, Timed<V>>,
    ttl: Duration,
}

#[derive(Clone)]
struct Timed<V> {
    value: V,
    until: Instant,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            ttl,
        }
    }

    fn get<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<V> {
        let entry = self.entries.get(key)?;
        let now = Instant::now();
        if now < entry.until {
            return Some(entry.value);
        }
        self.entries.remove_if(key, |e| e.until <= now);
        None
    }

    fn insert(&self, key: K, value: V) {
        let until = Instant::now() + self.ttl;
        self.entries.insert(key, Timed { value, until });
    }

    fn remove<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) {
        self.entries.remove(key);
    }

    fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.entries.retain(|k, e| keep(k, &e.value));
    }

    fn clear(&self) {
        self.entries.clear();
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(enabled: bool, ttl: Duration, negative_ttl: Duration) -> VerifyCache<()> {
        VerifyCache::new(CacheSettings {
            enabled,
            max_tokens: 10,
            ttl,
            negative_ttl,
        })
    }

    fn token(id: &str, user_id: &str) -> Arc<CachedToken<()>> {
        Arc::new(CachedToken {
            record: TokenRecord {
                id: id.into(),
                kind: "pat".into(),
                user_id: Some(user_id.into()),
                workspace_id: None,
                name: "laptop".into(),
                display_prefix: "tsr_pat_".into(),
                last4: "abcd".into(),
                permissions: None,
                role: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
                created_by: Some(user_id.into()),
                expires_at: None,
                last_used_at: None,
                last_used_ip: None,
                last_used_user_agent: None,
                last_used_ips: Vec::new(),
                revoked_at: None,
                revoked_by: None,
                revoked_reason: None,
                rotated_at: None,
            },
            permissions: None,
            secret_retires_at: None,
            ends_handoff: None,
            owner: None,
            stands_until: Some(None),
            last_recorded: LastRecorded::default(),
            kept: Some(OnceLock::new()),
        })
    }

    const MINUTE: Duration = Duration::from_secs(60);

    fn caller(id: &str) -> Arc<VerifierCredential> {
        Arc::new(VerifierCredential {
            id: id.into(),
            name: "gateway".into(),
            audience: Default::default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            created_by: None,
            revoked_at: None,
        })
    }

    #[test]
    fn verifier_credentials_are_kept_with_the_token_cache_off_and_forgotten_on_a_change() {
        for enabled in [true, false] {
            let c = cache(enabled, Duration::from_secs(60), Duration::from_secs(60));
            c.put_caller(c.ticket(), [1; 32], Some(caller("vfr_1")));
            c.put_caller(c.ticket(), [2; 32], None);
            assert_eq!(
                c.caller(&[1; 32]).flatten().unwrap().id,
                "vfr_1",
                "enabled: {enabled}"
            );
            assert_eq!(
                c.caller(&[2; 32]),
                Some(None),
                "a known stranger, enabled: {enabled}"
            );
            assert!(c.token(&[1; 32]).is_none() || enabled);
            c.apply(&Invalidation::Verifier("vfr_1".into()));
            assert_eq!(c.caller(&[1; 32]), None, "a change forgets every verifier");
            assert_eq!(c.caller(&[2; 32]), None);
            // A read that began before a change is not kept.
            let ticket = c.ticket();
            c.apply(&Invalidation::Verifier("vfr_2".into()));
            c.put_caller(ticket, [3; 32], Some(caller("vfr_3")));
            assert_eq!(c.caller(&[3; 32]), None);
        }
    }

    #[test]
    fn a_disabled_cache_remembers_nothing() {
        let cache = cache(false, MINUTE, MINUTE);
        cache.put_token(cache.ticket(), [0; 32], None);
        assert!(cache.token(&[0; 32]).is_none());
    }

    #[test]
    fn a_cached_unknown_is_forgotten_on_create() {
        let cache = cache(true, MINUTE, MINUTE);
        cache.put_token(cache.ticket(), [7; 32], None);
        assert_eq!(cache.token(&[7; 32]).map(|f| f.is_none()), Some(true));
        cache.apply(&Invalidation::Created(hex::encode([7u8; 32])));
        assert!(cache.token(&[7; 32]).is_none());
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let cache = cache(true, MINUTE, MINUTE);
        let ticket = cache.ticket();
        // The store was read (the token still active), then it was revoked.
        cache.apply(&Invalidation::Token("tok_1".into()));
        cache.put_token(ticket, [1; 32], Some(token("tok_1", "usr_1")));
        assert!(cache.token(&[1; 32]).is_none());
        cache.put_membership(ticket, "wsp_1", "usr_1", Some("admin".into()));
        assert!(cache.membership("wsp_1", "usr_1").is_none());

        cache.put_token(cache.ticket(), [1; 32], Some(token("tok_1", "usr_1")));
        assert!(cache.token(&[1; 32]).is_some());
    }

    #[test]
    fn entries_are_served_for_their_ttl_only() {
        let cache = cache(true, Duration::ZERO, Duration::ZERO);
        cache.put_token(cache.ticket(), [1; 32], Some(token("tok_1", "usr_1")));
        cache.put_token(cache.ticket(), [2; 32], None);
        assert!(cache.token(&[1; 32]).is_none());
        assert!(cache.token(&[2; 32]).is_none());
    }

    #[test]
    fn a_change_drops_exactly_the_entries_it_concerns() {
        let cache = cache(true, MINUTE, MINUTE);
        cache.put_token(cache.ticket(), [1; 32], Some(token("tok_1", "usr_1")));
        cache.put_token(cache.ticket(), [2; 32], Some(token("tok_2", "usr_1")));
        cache.put_token(cache.ticket(), [3; 32], Some(token("tok_3", "usr_2")));
        cache.put_membership(cache.ticket(), "wsp_1", "usr_1", Some("admin".into()));
        cache.put_membership(cache.ticket(), "wsp_1", "usr_2", None);
        assert_eq!(
            cache.membership("wsp_1", "usr_1"),
            Some(Some("admin".into()))
        );
        assert_eq!(cache.membership("wsp_1", "usr_2"), Some(None));

        cache.apply(&Invalidation::Token("tok_2".into()));
        assert!(cache.token(&[1; 32]).is_some());
        assert!(cache.token(&[2; 32]).is_none());

        cache.apply(&Invalidation::User("usr_1".into()));
        assert!(cache.token(&[1; 32]).is_none());
        assert!(cache.membership("wsp_1", "usr_1").is_none());
        assert!(cache.token(&[3; 32]).is_some());
        assert_eq!(cache.membership("wsp_1", "usr_2"), Some(None));

        cache.apply(&Invalidation::Membership("wsp_1".into(), "usr_2".into()));
        assert!(cache.membership("wsp_1", "usr_2").is_none());
        assert_eq!(cache.cached_tokens(), 1);

        cache.apply(&Invalidation::All);
        assert_eq!(cache.cached_tokens(), 0);
    }

    #[test]
    fn a_kept_grant_answers_only_the_question_it_was_made_for() {
        let token = token("tok_1", "usr_1");
        let identity = Identity {
            token_id: "tok_1".into(),
            kind: "pat".into(),
            owner: tessera_core::kind::OwnerType::User,
            user_id: Some("usr_1".into()),
            workspace_id: Some("wsp_1".into()),
            grants: tessera_core::policy::Grants::Personal { narrowing: None },
            expires_at: None,
        };
        let needs = ["api:read".to_string()];
        let asked = RequestFacts {
            workspace_header: Some("wsp_1"),
            required: &needs,
        };
        assert!(token.kept_grant().is_none());
        assert!(token
            .keep_grant(&asked, Some("member"), identity.clone())
            .is_none());

        let kept = token.kept_grant().unwrap();
        assert_eq!(kept.identity, identity);
        assert_eq!(kept.membership_role(), Some("member"));
        assert!(kept.answers(Some("wsp_1"), &needs));
        // Another workspace, other needs: not this grant's question.
        assert!(!kept.answers(Some("wsp_2"), &needs));
        assert!(!kept.answers(None, &needs));
        assert!(!kept.answers(Some("wsp_1"), &[]));

        // The first grant stays; a later one is handed back.
        let elsewhere = RequestFacts {
            workspace_header: Some("wsp_2"),
            required: &needs,
        };
        assert_eq!(
            token.keep_grant(&elsewhere, Some("member"), identity.clone()),
            Some(identity)
        );
        assert!(token.kept_grant().unwrap().answers(Some("wsp_1"), &needs));
    }

    #[test]
    fn a_token_stands_only_before_its_end() {
        let mut token = Arc::into_inner(token("tok_1", "usr_1")).unwrap();
        let noon = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(12);
        assert!(token.stands_at(noon));
        token.stands_until = Some(Some(noon));
        assert!(token.stands_at(noon - time::Duration::seconds(1)));
        assert!(!token.stands_at(noon));
        token.stands_until = None;
        assert!(!token.stands_at(noon - time::Duration::days(1)));
    }

    #[test]
    fn an_owner_is_shared_only_while_it_reads_the_same() {
        let on = cache(true, Duration::from_secs(60), Duration::from_secs(2));
        let alice = User {
            id: "usr_1".into(),
            username: "alice".into(),
            display_name: "Alice".into(),
            password_hash: "$argon2id$hash".into(),
            is_admin: false,
            status: tessera_core::policy::UserStatus::Active,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            agent_workspace_id: None,
        };
        let first = on.share_owner(alice.clone());
        assert!(Arc::ptr_eq(&first, &on.share_owner(alice.clone())));

        let suspended = User {
            status: tessera_core::policy::UserStatus::Suspended,
            ..alice.clone()
        };
        let later = on.share_owner(suspended.clone());
        assert_eq!(*later, suspended, "the newer reading wins");
        assert!(Arc::ptr_eq(&later, &on.share_owner(suspended)));

        let off = cache(false, Duration::from_secs(60), Duration::from_secs(2));
        assert!(!Arc::ptr_eq(
            &off.share_owner(alice.clone()),
            &off.share_owner(alice)
        ));
    }
}

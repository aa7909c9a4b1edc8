//! The verifier's bounded in-memory cache: token records (with their owner)
//! by hash, and memberships by (workspace, user). It never holds stale authority
//! for longer than it takes to hear about a change: every revoke, rotation,
//! suspension, removal or role change invalidates the affected entries at
//! once on this instance (and, on PostgreSQL, on every other one through the
//! store's notifications). A short TTL is the safety net for a lost message.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use time::OffsetDateTime;

use tessera_core::PermissionSet;
use tessera_store::{TokenRecord, User};

/// A token as the verifier needs it, prepared once per cache fill: the
/// record shared rather than copied per request, its permissions parsed.
#[derive(Debug)]
pub struct CachedToken {
    pub record: Arc<TokenRecord>,
    pub permissions: Option<PermissionSet>,
    /// When the presented secret stops working because of a rotation.
    pub secret_retires_at: Option<OffsetDateTime>,
    /// The owning user (or agent), read when the entry was filled; a change
    /// of their status drops the entry.
    pub owner: Option<Arc<User>>,
}

/// What changed, as published to every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A token was revoked or rotated.
    Token(String),
    /// A user's status changed.
    User(String),
    /// A membership was set or removed: (workspace, user).
    Membership(String, String),
    /// A token was created under this hash (hex): forget a cached "unknown".
    Created(String),
    /// Notifications may have been lost: forget everything.
    All,
}

impl Invalidation {
    /// The text form sent between instances.
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Token(id) => format!("token:{id}"),
            Invalidation::User(id) => format!("user:{id}"),
            Invalidation::Membership(w, u) => format!("membership:{w}:{u}"),
            Invalidation::Created(hash) => format!("created:{hash}"),
            Invalidation::All => "all".into(),
        }
    }

    /// Reads the text form; anything unreadable is treated as `All`, the
    /// safe reading.
    pub fn decode(text: &str) -> Invalidation {
        let mut parts = text.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("token"), Some(id), None) => Invalidation::Token(id.into()),
            (Some("user"), Some(id), None) => Invalidation::User(id.into()),
            (Some("membership"), Some(w), Some(u)) => Invalidation::Membership(w.into(), u.into()),
            (Some("created"), Some(hash), None) => Invalidation::Created(hash.into()),
            _ => Invalidation::All,
        }
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

pub struct VerifyCache {
    enabled: bool,
    tokens: Cache<Digest, Arc<CachedToken>>,
    unknown: Cache<Digest, ()>,
    memberships: Cache<(String, String), Option<String>>,
}

impl VerifyCache {
    pub fn new(settings: CacheSettings) -> Self {
        VerifyCache {
            enabled: settings.enabled,
            tokens: Cache::builder()
                .max_capacity(settings.max_tokens)
                .time_to_live(settings.ttl)
                .support_invalidation_closures()
                .build(),
            unknown: Cache::builder()
                .max_capacity(settings.max_tokens)
                .time_to_live(settings.negative_ttl)
                .build(),
            memberships: Cache::builder()
                .max_capacity(settings.max_tokens)
                .time_to_live(settings.ttl)
                .support_invalidation_closures()
                .build(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `Some(None)`: known to be unknown (briefly); `None`: ask the store.
    pub fn token(&self, digest: &Digest) -> Option<Option<Arc<CachedToken>>> {
        if !self.enabled {
            return None;
        }
        if let Some(found) = self.tokens.get(digest) {
            return Some(Some(found));
        }
        self.unknown.contains_key(digest).then_some(None)
    }

    pub fn put_token(&self, digest: Digest, found: Option<Arc<CachedToken>>) {
        if !self.enabled {
            return;
        }
        match found {
            Some(f) => self.tokens.insert(digest, f),
            None => self.unknown.insert(digest, ()),
        }
    }

    pub fn membership(&self, workspace_id: &str, user_id: &str) -> Option<Option<String>> {
        if !self.enabled {
            return None;
        }
        self.memberships
            .get(&(workspace_id.to_owned(), user_id.to_owned()))
    }

    pub fn put_membership(&self, workspace_id: &str, user_id: &str, role: Option<String>) {
        if self.enabled {
            self.memberships
                .insert((workspace_id.to_owned(), user_id.to_owned()), role);
        }
    }

    pub fn apply(&self, change: &Invalidation) {
        match change {
            Invalidation::Token(id) => {
                let id = id.clone();
                // Predicates are checked on every later read, so no stale
                // entry is served even before the sweep runs.
                let _ = self
                    .tokens
                    .invalidate_entries_if(move |_, found| found.record.id == id);
            }
            Invalidation::User(id) => {
                let owner = id.clone();
                let _ = self.tokens.invalidate_entries_if(move |_, found| {
                    found.record.user_id.as_deref() == Some(owner.as_str())
                });
                let id = id.clone();
                let _ = self
                    .memberships
                    .invalidate_entries_if(move |(_, u), _| *u == id);
            }
            Invalidation::Membership(w, u) => self.memberships.invalidate(&(w.clone(), u.clone())),
            Invalidation::Created(hex_digest) => {
                let mut digest = [0u8; 32];
                if hex::decode_to_slice(hex_digest, &mut digest).is_ok() {
                    self.unknown.invalidate(&digest);
                } else {
                    self.unknown.invalidate_all();
                }
            }
            Invalidation::All => {
                self.tokens.invalidate_all();
                self.unknown.invalidate_all();
                self.memberships.invalidate_all();
            }
        }
    }

    pub fn cached_tokens(&self) -> u64 {
        self.tokens.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip_and_garbage_means_all() {
        for change in [
            Invalidation::Token("tok_1".into()),
            Invalidation::User("usr_1".into()),
            Invalidation::Membership("wsp_1".into(), "usr_1".into()),
            Invalidation::Created("00ff".into()),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&change.encode()), change);
        }
        assert_eq!(Invalidation::decode("nonsense"), Invalidation::All);
    }

    #[test]
    fn a_disabled_cache_remembers_nothing() {
        let cache = VerifyCache::new(CacheSettings {
            enabled: false,
            max_tokens: 10,
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(1),
        });
        cache.put_token([0; 32], None);
        assert!(cache.token(&[0; 32]).is_none());
    }

    #[test]
    fn a_cached_unknown_is_forgotten_on_create() {
        let cache = VerifyCache::new(CacheSettings {
            enabled: true,
            max_tokens: 10,
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
        });
        cache.put_token([7; 32], None);
        assert_eq!(cache.token(&[7; 32]).map(|f| f.is_none()), Some(true));
        cache.apply(&Invalidation::Created(hex::encode([7u8; 32])));
        assert!(cache.token(&[7; 32]).is_none());
    }
}

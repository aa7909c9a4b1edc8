//! Hashing tokens for storage and look-up.
//!
//! Tokens carry at least 160 bits of CSPRNG entropy, so a fast hash is the
//! right tool (a slow password hash buys nothing against brute force and costs
//! every request). With no key configured the hash is SHA-256 of the whole
//! token; with server keys it is HMAC-SHA256, and the key's id is stored with
//! the hash so keys can be rotated: look-ups try every configured key, newest
//! first, then plain SHA-256 for tokens made before any key existed.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token hash as stored: the digest and the id of the key that made it
/// (`None` for plain SHA-256).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash {
    pub key_id: Option<String>,
    pub digest: [u8; 32],
}

impl TokenHash {
    /// Constant-time comparison of the digests.
    pub fn matches(&self, other: &[u8]) -> bool {
        constant_time_eq(&self.digest, other)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not the secret, but it is a look-up key for it: keep it out of logs too.
        write!(f, "TokenHash(key={:?}, <redacted>)", self.key_id)
    }
}

/// A server key for HMAC hashing. The secret is wiped from memory when the
/// key is dropped and is read only where the HMAC key is built.
#[derive(Clone)]
pub struct HashKey {
    pub id: String,
    pub secret: SecretSlice<u8>,
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashKey(id={:?}, <redacted>)", self.id)
    }
}

/// Hashes tokens with the deployment's keys. The first key is the current
/// one; the rest are kept only so that tokens hashed with them still verify.
#[derive(Debug, Clone, Default)]
pub struct TokenHasher {
    keys: Vec<HashKey>,
}

impl TokenHasher {
    pub fn new(keys: Vec<HashKey>) -> Self {
        Self { keys }
    }

    /// The hash a new token is stored under.
    pub fn hash(&self, token: &str) -> TokenHash {
        match self.keys.first() {
            Some(key) => hmac_with(key, token),
            None => plain(token),
        }
    }

    /// Every hash under which `token` may have been stored, current first.
    pub fn candidates(&self, token: &str) -> Vec<TokenHash> {
        let mut out: Vec<TokenHash> = self.keys.iter().map(|k| hmac_with(k, token)).collect();
        out.push(plain(token));
        out
    }
}

fn plain(token: &str) -> TokenHash {
    TokenHash {
        key_id: None,
        digest: sha256(token),
    }
}

fn hmac_with(key: &HashKey, token: &str) -> TokenHash {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.secret.expose_secret())
        .expect("HMAC accepts any key length");
    mac.update(token.as_bytes());
    TokenHash {
        key_id: Some(key.id.clone()),
        digest: mac.finalize().into_bytes().into(),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// SHA-256 of arbitrary text, hex-encoded: for session ids and other
/// server-generated secrets that are stored hashed.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(sha256(value))
}

/// SHA-256 of arbitrary text, as bytes.
pub fn sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// The CSRF value of a browser session, derived from the session's secret
/// (HMAC-SHA256 keyed by it, hex-encoded) rather than stored: the database
/// holds only the secret's hash, so neither the session nor its CSRF value
/// can be read back from it, and every instance derives the same value.
pub fn csrf_for_session(session_secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"tessera session csrf v1");
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_value_is_fixed_by_the_session_secret_and_reveals_no_part_of_it() {
        let secret = "a".repeat(43);
        assert_eq!(csrf_for_session(&secret), csrf_for_session(&secret));
        assert_ne!(csrf_for_session(&secret), csrf_for_session(&"b".repeat(43)));
        assert_eq!(csrf_for_session(&secret).len(), 64);
        assert!(!csrf_for_session(&secret).contains("aaaa"));
    }

    #[test]
    fn plain_hash_is_sha256_of_the_whole_token() {
        let h = TokenHasher::default().hash("abc");
        assert_eq!(h.key_id, None);
        assert_eq!(
            hex::encode(h.digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keyed_hash_records_the_key_and_differs_from_plain() {
        let hasher = TokenHasher::new(vec![HashKey {
            id: "k2".into(),
            secret: b"server-key".to_vec().into(),
        }]);
        let h = hasher.hash("abc");
        assert_eq!(h.key_id.as_deref(), Some("k2"));
        assert_ne!(h.digest, TokenHasher::default().hash("abc").digest);
    }

    #[test]
    fn candidates_cover_old_keys_and_plain_sha256() {
        let old = HashKey {
            id: "k1".into(),
            secret: b"old".to_vec().into(),
        };
        let new = HashKey {
            id: "k2".into(),
            secret: b"new".to_vec().into(),
        };
        let stored_with_old = TokenHasher::new(vec![old.clone()]).hash("t");
        let rotated = TokenHasher::new(vec![new, old]);
        let candidates = rotated.candidates("t");
        assert_eq!(candidates.len(), 3);
        assert_eq!(candidates[0].key_id.as_deref(), Some("k2"));
        assert!(candidates.contains(&stored_with_old));
        assert!(candidates.contains(&TokenHasher::default().hash("t")));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn debug_hides_digests_and_keys() {
        let key = HashKey {
            id: "k".into(),
            secret: b"topsecret".to_vec().into(),
        };
        assert!(!format!("{key:?}").contains("topsecret"));
        let hasher = TokenHasher::new(vec![key]);
        assert!(!format!("{hasher:?}").contains("topsecret"));
    }
}

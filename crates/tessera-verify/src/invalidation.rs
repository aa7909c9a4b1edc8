//! What a change made stale, as told to every verifier on the same
//! database. A revoke, rotation, suspension, removal or role change is
//! applied to the local cache at once and published through the store
//! (PostgreSQL's LISTEN/NOTIFY, or SQLite's changes table, which each
//! process polls), so that every instance, and every embedded verifier,
//! forgets it too.

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
    /// A verifier credential was created or revoked.
    Verifier(String),
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
            Invalidation::Verifier(id) => format!("verifier:{id}"),
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
            (Some("verifier"), Some(id), None) => Invalidation::Verifier(id.into()),
            _ => Invalidation::All,
        }
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
            Invalidation::Verifier("vfr_1".into()),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&change.encode()), change);
        }
        assert_eq!(Invalidation::decode("nonsense"), Invalidation::All);
    }
}

//! Opaque identifiers with a type prefix (`usr_`, `wsp_`, `tok_`, `evt_`, `vfr_`), so
//! an id read in a log or a URL says what it names.
//!
//! After the prefix come 8 base62 characters of milliseconds since the Unix
//! epoch, then 14 random ones (≈ 83 bits). Ids therefore sort by creation
//! time, which gives lists a stable newest-first order and a cursor that is
//! simply the last id seen.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::base62;

const TIME_LEN: usize = 8;
const RANDOM_LEN: usize = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    User,
    Workspace,
    Token,
    Event,
    Verifier,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "usr_",
            IdKind::Workspace => "wsp_",
            IdKind::Token => "tok_",
            IdKind::Event => "evt_",
            IdKind::Verifier => "vfr_",
        }
    }
}

pub fn new_id(kind: IdKind) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    format!(
        "{}{}{}",
        kind.prefix(),
        base62::encode_fixed(millis, TIME_LEN),
        base62::random(RANDOM_LEN)
    )
}

/// Whether `value` could be an id of `kind`: cheap input validation, so
/// garbage in a path is a 404 without a query.
pub fn looks_like(kind: IdKind, value: &str) -> bool {
    value
        .strip_prefix(kind.prefix())
        .is_some_and(|rest| !rest.is_empty() && rest.len() <= 64 && base62::is_base62(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_type_prefix() {
        let id = new_id(IdKind::Token);
        assert!(id.starts_with("tok_"));
        assert!(looks_like(IdKind::Token, &id));
        assert!(!looks_like(IdKind::User, &id));
        assert!(!looks_like(IdKind::Token, "tok_"));
        assert!(!looks_like(IdKind::Token, "tok_a/b"));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = new_id(IdKind::Event);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_id(IdKind::Event) > first);
    }
}

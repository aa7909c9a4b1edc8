//! Verifier credentials: what a product or gateway presents to ask Tessera
//! about a token (RFC 7662 §2.1: the introspection endpoint must know its
//! caller). A credential kind of its own, checksummed like every token, so
//! a mistyped or made-up one is refused before any look-up, and optionally
//! restricted to some workspaces and kinds.

use crate::format::{self, TokenFormat, TokenShape};
use crate::secret::PlaintextToken;

/// Every verifier secret starts with this: no configured kind may use it.
pub const VERIFIER_PREFIX: &str = "tsr_vfr_";

/// The shape of a verifier secret: [`VERIFIER_PREFIX`], 30 base62
/// characters of secret, a CRC32 checksum.
pub fn shape() -> TokenShape {
    TokenShape {
        prefix: VERIFIER_PREFIX.to_owned(),
        format: TokenFormat::Checksummed,
    }
}

/// A new verifier secret from the OS CSPRNG.
pub fn generate() -> PlaintextToken {
    format::generate(&shape(), "")
}

/// Whether `secret` has a verifier secret's shape and checksum (no I/O: a
/// personal token, a typo or garbage is refused here).
pub fn well_formed(secret: &str) -> bool {
    format::parse(secret, std::slice::from_ref(&shape())).is_ok()
}

/// Which tokens a verifier may learn about. Empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    pub workspace_ids: Vec<String>,
    pub kinds: Vec<String>,
}

impl Audience {
    /// Whether a token of `kind`, acting in `workspace_id`, is in the
    /// audience. A restricted verifier learns nothing about a token outside
    /// it, not even that it exists: the caller answers as for an unknown
    /// token. A token acting in no workspace is outside any workspace
    /// restriction.
    pub fn admits(&self, kind: &str, workspace_id: Option<&str>) -> bool {
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind);
        let workspace_ok = self.workspace_ids.is_empty()
            || workspace_id.is_some_and(|w| self.workspace_ids.iter().any(|id| id == w));
        kind_ok && workspace_ok
    }

    pub fn is_everything(&self) -> bool {
        self.workspace_ids.is_empty() && self.kinds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn audience(workspaces: &[&str], kinds: &[&str]) -> Audience {
        Audience {
            workspace_ids: workspaces.iter().map(|s| s.to_string()).collect(),
            kinds: kinds.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn generated_secrets_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(a.expose().starts_with(VERIFIER_PREFIX));
        assert!(well_formed(a.expose()));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let secret = generate().expose().to_owned();
        let mut chars: Vec<char> = secret.chars().collect();
        let i = VERIFIER_PREFIX.len() + 3;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        assert!(!well_formed(&chars.into_iter().collect::<String>()));
        assert!(!well_formed("tsr_pat_abc"));
        assert!(!well_formed(""));
    }

    #[test]
    fn an_unrestricted_audience_admits_everything() {
        let all = Audience::default();
        assert!(all.is_everything());
        assert!(all.admits("pat", None));
        assert!(all.admits("api_key", Some("wsp_1")));
    }

    #[test]
    fn restrictions_combine() {
        let a = audience(&["wsp_1"], &["api_key"]);
        assert!(a.admits("api_key", Some("wsp_1")));
        assert!(!a.admits("api_key", Some("wsp_2")));
        assert!(!a.admits("pat", Some("wsp_1")));
        assert!(
            !a.admits("api_key", None),
            "no workspace is outside a workspace restriction"
        );
        let kinds_only = audience(&[], &["pat"]);
        assert!(kinds_only.admits("pat", None));
    }

    proptest! {
        #[test]
        fn admitted_means_listed(
            workspaces in proptest::collection::vec("[a-c]", 0..3),
            kinds in proptest::collection::vec("[x-z]", 0..3),
            kind in "[x-z]",
            workspace in proptest::option::of("[a-c]"),
        ) {
            let a = Audience { workspace_ids: workspaces.clone(), kinds: kinds.clone() };
            let admitted = a.admits(&kind, workspace.as_deref());
            let kind_listed = kinds.is_empty() || kinds.contains(&kind);
            let workspace_listed = workspaces.is_empty()
                || workspace.as_ref().is_some_and(|w| workspaces.contains(w));
            prop_assert_eq!(admitted, kind_listed && workspace_listed);
        }
    }
}

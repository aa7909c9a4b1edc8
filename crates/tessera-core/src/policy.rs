//! The authorisation policy: from facts about a presented token, its owner and
//! the request, decide who is acting, where, with which permissions, or why
//! not. Evaluated on every request, so a role change or a suspension takes
//! effect on the very next one.
//!
//! The caller gathers the facts (from a cache or the store) and asks
//! [`select_workspace`] first, to know which membership to fetch, then
//! [`evaluate`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::kind::{CredentialKind, OwnerType, WorkspaceBinding};
use crate::permissions::{PermissionSet, RoleMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Suspended,
    Removed,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
            UserStatus::Removed => "removed",
        }
    }
}

impl FromStr for UserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserStatus::Active),
            "suspended" => Ok(UserStatus::Suspended),
            "removed" => Ok(UserStatus::Removed),
            other => Err(format!("unknown user status \"{other}\"")),
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about the presented token and its owner.
#[derive(Debug, Clone)]
pub struct TokenFacts<'a> {
    pub token_id: &'a str,
    pub kind: &'a CredentialKind,
    /// The owning user of a personal token, or the agent of an agent token.
    pub user_id: Option<&'a str>,
    /// The workspace a token is bound to (always set for API keys).
    pub workspace_id: Option<&'a str>,
    /// A personal token's narrowing, or an API key's fixed permissions.
    pub permissions: Option<&'a PermissionSet>,
    /// An API key's fixed role, resolved against the roles now configured.
    pub role: Option<&'a str>,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
    /// When the presented secret was (or will be) replaced by a rotation:
    /// after this moment presenting it means it leaked.
    pub secret_retires_at: Option<OffsetDateTime>,
    /// The status of the owning user (or agent) of a personal (agent) token.
    pub owner_status: Option<UserStatus>,
}

/// What the request asks for.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts<'a> {
    /// The workspace named by the request's workspace header, if any.
    pub workspace_header: Option<&'a str>,
    /// Permissions the route needs; all of them are required.
    pub required: &'a [String],
}

/// Why a request is refused. The code is stable and part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    Malformed,
    Unknown,
    Expired,
    Revoked,
    OwnerInactive,
    /// A secret replaced by rotation was presented after its overlap ended.
    /// It is refused and the token stands: a forgotten job still holding the
    /// old secret must not take the new one down.
    Rotated,
    /// A secret replaced by rotation was used to rotate the token again: it
    /// leaked, and the token's family has been revoked.
    ReuseDetected,
    WorkspaceRequired,
    NotAMember,
    PermissionDenied,
    RateLimited,
}

impl Denial {
    /// Every reason, in a fixed order (for per-reason tables and counters).
    pub const ALL: [Denial; 11] = [
        Denial::Malformed,
        Denial::Unknown,
        Denial::Expired,
        Denial::Revoked,
        Denial::OwnerInactive,
        Denial::Rotated,
        Denial::ReuseDetected,
        Denial::WorkspaceRequired,
        Denial::NotAMember,
        Denial::PermissionDenied,
        Denial::RateLimited,
    ];

    /// This reason's place in [`Denial::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The specific code, shown when failure reasons are revealed.
    pub fn code(self) -> &'static str {
        match self {
            Denial::Malformed => "token_malformed",
            Denial::Unknown => "token_unknown",
            Denial::Expired => "token_expired",
            Denial::Rotated => "token_rotated",
            Denial::Revoked | Denial::ReuseDetected => "token_revoked",
            Denial::OwnerInactive => "owner_inactive",
            Denial::WorkspaceRequired => "workspace_required",
            Denial::NotAMember => "not_a_member",
            Denial::PermissionDenied => "permission_denied",
            Denial::RateLimited => "rate_limited",
        }
    }

    /// The code a caller sees: every 401 reason collapses to `token_invalid`
    /// unless the deployment reveals reasons (OWASP: no oracle by default).
    pub fn public_code(self, reveal: bool) -> &'static str {
        if self.is_authentication_failure() && !reveal {
            "token_invalid"
        } else {
            self.code()
        }
    }

    pub fn is_authentication_failure(self) -> bool {
        self.http_status() == 401
    }

    pub fn http_status(self) -> u16 {
        match self {
            Denial::Malformed
            | Denial::Unknown
            | Denial::Expired
            | Denial::Revoked
            | Denial::OwnerInactive
            | Denial::Rotated
            | Denial::ReuseDetected => 401,
            Denial::WorkspaceRequired | Denial::NotAMember | Denial::PermissionDenied => 403,
            Denial::RateLimited => 429,
        }
    }

    /// What a person can act on. With reasons hidden, every 401 says the same.
    pub fn message(self, reveal: bool) -> &'static str {
        if self.is_authentication_failure() && !reveal {
            return "The token is invalid. Check that it was copied whole and has not expired or been revoked.";
        }
        match self {
            Denial::Malformed => {
                "The token is malformed: it does not have the shape of a token this server issues."
            }
            Denial::Unknown => "The token is not known to this server.",
            Denial::Expired => "The token has expired.",
            Denial::Rotated => {
                "This secret was replaced by a rotation and no longer works: use the token's new secret."
            }
            Denial::Revoked | Denial::ReuseDetected => "The token has been revoked.",
            Denial::OwnerInactive => "The token's owner is suspended or removed.",
            Denial::WorkspaceRequired => {
                "This request needs a workspace: send the workspace header."
            }
            Denial::NotAMember => "The token's owner is not a member of that workspace.",
            Denial::PermissionDenied => {
                "The token does not have the permission this request needs."
            }
            Denial::RateLimited => "Too many requests with this token: wait and retry.",
        }
    }
}

/// What a credential may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    /// Acting in a workspace: exactly these permissions.
    Workspace(PermissionSet),
    /// A personal token with no workspace selected: the owner's own account,
    /// limited by the token's narrowing if it has one.
    Personal { narrowing: Option<PermissionSet> },
}

impl Grants {
    /// Whether the credential holds `permission`. Outside a workspace an
    /// un-narrowed personal token holds every permission over its owner's
    /// own account (its own tokens), never over a workspace.
    pub fn holds(&self, permission: &str) -> bool {
        match self {
            Grants::Workspace(set) => set.contains(permission),
            Grants::Personal { narrowing: None } => true,
            Grants::Personal {
                narrowing: Some(set),
            } => set.contains(permission),
        }
    }

    /// The permissions to report: the workspace's, or the token's narrowing.
    pub fn listed(&self) -> Vec<String> {
        match self {
            Grants::Workspace(set) => set.to_strings(),
            Grants::Personal { narrowing } => narrowing
                .as_ref()
                .map(PermissionSet::to_strings)
                .unwrap_or_default(),
        }
    }
}

/// Who is acting: the answer to a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub token_id: String,
    pub kind: String,
    pub owner: OwnerType,
    pub user_id: Option<String>,
    pub workspace_id: Option<String>,
    pub grants: Grants,
    pub expires_at: Option<OffsetDateTime>,
}

/// A kind that requires the workspace header (GroupChat's PATs) refuses a
/// product's request that names no workspace, whatever it asks. Only the
/// verification surfaces apply it: Tessera's own management API manages a
/// person's tokens outside any workspace.
pub fn check_workspace_named(
    kind: &CredentialKind,
    workspace_header: Option<&str>,
) -> Result<(), Denial> {
    if kind.require_workspace_header && workspace_header.is_none() {
        return Err(Denial::WorkspaceRequired);
    }
    Ok(())
}

/// Which workspace the request acts in, before any membership is known.
pub fn select_workspace<'a>(
    token: &TokenFacts<'a>,
    request: &RequestFacts<'a>,
) -> Result<Option<&'a str>, Denial> {
    match (
        token.kind.binding,
        token.workspace_id,
        request.workspace_header,
    ) {
        (WorkspaceBinding::None, _, _) => Ok(None),
        (_, Some(bound), Some(asked)) if bound != asked => Err(Denial::NotAMember),
        (_, Some(bound), _) => Ok(Some(bound)),
        (WorkspaceBinding::Header, None, asked) => Ok(asked),
        // A bound kind whose token lost its binding cannot act anywhere.
        (WorkspaceBinding::Bound, None, _) => Err(Denial::NotAMember),
    }
}

/// Decides. `membership_role` is the owner's (the user's or the agent's)
/// role in the selected workspace now (`None`: not a member); it is ignored
/// for workspace-owned keys. The decision is [`check_standing`] then
/// [`grant`]: the verifier calls the two itself, so that it can keep the
/// second's answer.
pub fn evaluate(
    token: &TokenFacts<'_>,
    request: &RequestFacts<'_>,
    membership_role: Option<&str>,
    roles: &RoleMap,
    now: OffsetDateTime,
) -> Result<Identity, Denial> {
    check_standing(token, now)?;
    grant(token, request, membership_role, roles)
}

/// Whether the token may act at all at `now`: not revoked, its secret not
/// retired by a rotation, not expired, and its owner (if it has one) active.
pub fn check_standing(token: &TokenFacts<'_>, now: OffsetDateTime) -> Result<(), Denial> {
    if token.revoked {
        return Err(Denial::Revoked);
    }
    if token.secret_retires_at.is_some_and(|t| now >= t) {
        return Err(Denial::Rotated);
    }
    if token.expires_at.is_some_and(|t| now >= t) {
        return Err(Denial::Expired);
    }
    if owner_inactive(token) {
        return Err(Denial::OwnerInactive);
    }
    Ok(())
}

/// Whether the token has an owner (a user or an agent) who is not active.
fn owner_inactive(token: &TokenFacts<'_>) -> bool {
    token.kind.owner.held_by_a_user() && token.owner_status != Some(UserStatus::Active)
}

/// Until when [`check_standing`] passes for this token: `None` if it never
/// does (revoked, or its owner inactive), `Some(None)` if nothing ends it
/// but a change to the token, else `Some(Some(t))`: it passes before `t`.
/// A token's standing changes with time only at that moment, so the
/// verifier can work it out once per cached token.
pub fn stands_until(token: &TokenFacts<'_>) -> Option<Option<OffsetDateTime>> {
    if token.revoked || owner_inactive(token) {
        return None;
    }
    Some(match (token.expires_at, token.secret_retires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// What a token in good standing holds for this request: the workspace it
/// acts in and its permissions there, and whether that covers what the
/// request needs. Nothing here depends on the time, so the same facts,
/// request, role and role map always give the same answer.
pub fn grant(
    token: &TokenFacts<'_>,
    request: &RequestFacts<'_>,
    membership_role: Option<&str>,
    roles: &RoleMap,
) -> Result<Identity, Denial> {
    let workspace = select_workspace(token, request)?;
    let grants = match (token.kind.owner, workspace) {
        (OwnerType::Workspace, Some(_)) => {
            let fixed = match token.role {
                Some(role) => roles.get(role).cloned().unwrap_or_default(),
                None => token.permissions.cloned().unwrap_or_default(),
            };
            Grants::Workspace(fixed)
        }
        // An agent token acts like a personal token of its agent: with the
        // agent's current role in its workspace, within the narrowing.
        (OwnerType::User | OwnerType::Agent, Some(_)) => {
            let role = membership_role.ok_or(Denial::NotAMember)?;
            let from_role = roles.get(role).cloned().unwrap_or_default();
            Grants::Workspace(match token.permissions {
                Some(narrowing) => from_role.intersection(narrowing),
                None => from_role,
            })
        }
        (_, None) => Grants::Personal {
            narrowing: token.permissions.cloned(),
        },
    };

    if !request.required.is_empty() {
        if token.kind.binding == WorkspaceBinding::Header && workspace.is_none() {
            return Err(Denial::WorkspaceRequired);
        }
        if !request.required.iter().all(|p| grants.holds(p)) {
            return Err(Denial::PermissionDenied);
        }
    }

    Ok(Identity {
        token_id: token.token_id.to_owned(),
        kind: token.kind.name.clone(),
        owner: token.kind.owner,
        user_id: token.user_id.map(str::to_owned),
        workspace_id: workspace.map(str::to_owned),
        grants,
        expires_at: token.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn facts<'a>(kind: &'a CredentialKind) -> TokenFacts<'a> {
        TokenFacts {
            token_id: "tok_1",
            kind,
            user_id: Some("usr_1"),
            workspace_id: None,
            permissions: None,
            role: None,
            expires_at: Some(NOW + Duration::days(1)),
            revoked: false,
            secret_retires_at: None,
            owner_status: Some(UserStatus::Active),
        }
    }

    fn need(perms: &[&str]) -> Vec<String> {
        perms.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn every_denial_sits_at_its_index() {
        for (i, denial) in Denial::ALL.iter().enumerate() {
            assert_eq!(denial.index(), i, "{denial:?}");
        }
    }

    #[test]
    fn a_personal_token_acts_with_its_owners_current_role() {
        let pat = CredentialKind::default_pat();
        let roles = RoleMap::default();
        let required = need(&["api:write"]);
        let request = RequestFacts {
            workspace_header: Some("wsp_a"),
            required: &required,
        };
        let as_member = evaluate(&facts(&pat), &request, Some("member"), &roles, NOW).unwrap();
        assert_eq!(as_member.workspace_id.as_deref(), Some("wsp_a"));
        assert_eq!(
            evaluate(&facts(&pat), &request, Some("viewer"), &roles, NOW),
            Err(Denial::PermissionDenied)
        );
        assert_eq!(
            evaluate(&facts(&pat), &request, None, &roles, NOW),
            Err(Denial::NotAMember)
        );
    }

    #[test]
    fn narrowing_limits_the_role_and_never_widens_it() {
        let pat = CredentialKind::default_pat();
        let roles = RoleMap::default();
        let narrowing = PermissionSet::parse_all(["api:read", "api_keys:manage"]).unwrap();
        let mut token = facts(&pat);
        token.permissions = Some(&narrowing);
        let request = RequestFacts {
            workspace_header: Some("wsp_a"),
            required: &[],
        };
        let id = evaluate(&token, &request, Some("member"), &roles, NOW).unwrap();
        assert_eq!(id.grants.listed(), vec!["api:read"]);
    }

    #[test]
    fn lifecycle_denials_come_first() {
        let pat = CredentialKind::default_pat();
        let roles = RoleMap::default();
        let request = RequestFacts::default();
        let check = |t: TokenFacts| evaluate(&t, &request, None, &roles, NOW);

        let mut revoked = facts(&pat);
        revoked.revoked = true;
        assert_eq!(check(revoked), Err(Denial::Revoked));

        let mut expired = facts(&pat);
        expired.expires_at = Some(NOW);
        assert_eq!(check(expired), Err(Denial::Expired));

        let mut suspended = facts(&pat);
        suspended.owner_status = Some(UserStatus::Suspended);
        assert_eq!(check(suspended), Err(Denial::OwnerInactive));

        let mut rotated_out = facts(&pat);
        rotated_out.secret_retires_at = Some(NOW - Duration::seconds(1));
        assert_eq!(check(rotated_out), Err(Denial::Rotated));

        let mut overlapping = facts(&pat);
        overlapping.secret_retires_at = Some(NOW + Duration::seconds(60));
        assert!(check(overlapping).is_ok());
    }

    #[test]
    fn a_kind_may_require_the_workspace_header() {
        let strict = CredentialKind {
            require_workspace_header: true,
            ..CredentialKind::default_pat()
        };
        assert_eq!(
            check_workspace_named(&strict, None),
            Err(Denial::WorkspaceRequired)
        );
        assert_eq!(check_workspace_named(&strict, Some("wsp_a")), Ok(()));
        assert_eq!(
            check_workspace_named(&CredentialKind::default_pat(), None),
            Ok(())
        );
    }

    #[test]
    fn requiring_the_header_is_only_for_header_kinds() {
        let key = CredentialKind {
            require_workspace_header: true,
            ..CredentialKind::default_api_key()
        };
        assert!(key
            .validate()
            .unwrap_err()
            .contains("require_workspace_header"));
    }

    #[test]
    fn workspace_rules() {
        let pat = CredentialKind::default_pat();
        let roles = RoleMap::default();
        let required = need(&["api:read"]);
        let no_header = RequestFacts {
            workspace_header: None,
            required: &required,
        };
        assert_eq!(
            evaluate(&facts(&pat), &no_header, Some("owner"), &roles, NOW),
            Err(Denial::WorkspaceRequired)
        );

        let mut bound = facts(&pat);
        bound.workspace_id = Some("wsp_a");
        let other = RequestFacts {
            workspace_header: Some("wsp_b"),
            required: &[],
        };
        assert_eq!(
            evaluate(&bound, &other, Some("owner"), &roles, NOW),
            Err(Denial::NotAMember)
        );
        let own = evaluate(&bound, &no_header, Some("viewer"), &roles, NOW).unwrap();
        assert_eq!(own.workspace_id.as_deref(), Some("wsp_a"));
    }

    #[test]
    fn an_api_key_keeps_its_fixed_role_whoever_created_it() {
        let key_kind = CredentialKind::default_api_key();
        let roles = RoleMap::default();
        let mut key = facts(&key_kind);
        key.user_id = None;
        key.owner_status = None;
        key.workspace_id = Some("wsp_a");
        key.role = Some("viewer");
        let required = need(&["api:read"]);
        let request = RequestFacts {
            workspace_header: None,
            required: &required,
        };
        let id = evaluate(&key, &request, None, &roles, NOW).unwrap();
        assert_eq!(id.workspace_id.as_deref(), Some("wsp_a"));
        let write = need(&["api:write"]);
        let request = RequestFacts {
            workspace_header: None,
            required: &write,
        };
        assert_eq!(
            evaluate(&key, &request, None, &roles, NOW),
            Err(Denial::PermissionDenied)
        );
    }

    #[test]
    fn an_agent_token_acts_with_its_agents_current_role_while_the_agent_is_active() {
        let agent_kind = CredentialKind::default_agent_token();
        let roles = RoleMap::default();
        let mut token = facts(&agent_kind);
        token.user_id = Some("usr_agent");
        token.workspace_id = Some("wsp_a");
        let write = need(&["api:write"]);
        let request = RequestFacts {
            workspace_header: None,
            required: &write,
        };
        let id = evaluate(&token, &request, Some("member"), &roles, NOW).unwrap();
        assert_eq!(id.owner, OwnerType::Agent);
        assert_eq!(id.user_id.as_deref(), Some("usr_agent"));
        assert_eq!(id.workspace_id.as_deref(), Some("wsp_a"));
        // Its role lowered: the same token no longer writes.
        assert_eq!(
            evaluate(&token, &request, Some("viewer"), &roles, NOW),
            Err(Denial::PermissionDenied)
        );
        // No longer a member, suspended or removed: nothing.
        assert_eq!(
            evaluate(&token, &request, None, &roles, NOW),
            Err(Denial::NotAMember)
        );
        for status in [UserStatus::Suspended, UserStatus::Removed] {
            let mut inactive = token.clone();
            inactive.owner_status = Some(status);
            assert_eq!(
                evaluate(&inactive, &request, Some("member"), &roles, NOW),
                Err(Denial::OwnerInactive)
            );
        }
        let mut ownerless = token.clone();
        ownerless.owner_status = None;
        assert_eq!(
            evaluate(&ownerless, &request, Some("member"), &roles, NOW),
            Err(Denial::OwnerInactive)
        );
        // Narrowing limits the role.
        let narrowing = PermissionSet::parse_all(["api:read"]).unwrap();
        token.permissions = Some(&narrowing);
        assert_eq!(
            evaluate(&token, &request, Some("member"), &roles, NOW),
            Err(Denial::PermissionDenied)
        );
    }

    #[test]
    fn hidden_reasons_share_one_code_and_message() {
        let all = [
            Denial::Malformed,
            Denial::Unknown,
            Denial::Expired,
            Denial::Revoked,
            Denial::OwnerInactive,
            Denial::Rotated,
            Denial::ReuseDetected,
        ];
        for d in all {
            assert_eq!(d.public_code(false), "token_invalid");
            assert_eq!(d.message(false), Denial::Unknown.message(false));
        }
        assert_eq!(Denial::Expired.public_code(true), "token_expired");
        assert_eq!(Denial::NotAMember.public_code(false), "not_a_member");
    }

    mod standing {
        use super::*;
        use proptest::prelude::*;

        fn at(minutes: i64) -> OffsetDateTime {
            NOW + Duration::minutes(minutes)
        }

        proptest! {
            /// `stands_until` says exactly when `check_standing` passes.
            #[test]
            fn stands_until_agrees_with_check_standing(
                api_key in any::<bool>(),
                revoked in any::<bool>(),
                status in prop::option::of(0..3usize),
                expires in prop::option::of(-5..5i64),
                retires in prop::option::of(-5..5i64),
                now in -6..6i64,
            ) {
                let kind = if api_key {
                    CredentialKind::default_api_key()
                } else {
                    CredentialKind::default_pat()
                };
                let token = TokenFacts {
                    revoked,
                    owner_status: status.map(|i| {
                        [UserStatus::Active, UserStatus::Suspended, UserStatus::Removed][i]
                    }),
                    expires_at: expires.map(at),
                    secret_retires_at: retires.map(at),
                    ..facts(&kind)
                };
                let now = at(now);
                let stands = stands_until(&token)
                    .is_some_and(|until| until.is_none_or(|t| now < t));
                prop_assert_eq!(stands, check_standing(&token, now).is_ok());
            }
        }
    }
}

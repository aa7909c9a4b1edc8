//! Reading what a request asks for: names, expiries, permission lists, and
//! the rules on what a new credential may hold. Every way in (the API, the
//! settings pages, the command line) checks its input with these, so that
//! the same input is refused with the same message.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use tessera_core::expiry::ExpiryRequest;
use tessera_core::granting::{self, GrantRefusal, Granter};
use tessera_core::policy::Denial;
use tessera_core::{PermissionSet, RoleMap};

use crate::error::{AppError, AppResult};

pub const MAX_NAME_CHARS: usize = 100;

/// Checks a token name as sent in JSON: required, a string, 1–100 characters.
pub fn token_name(value: Option<&Value>) -> AppResult<String> {
    name_field("Token name", value)
}

/// Checks a name as sent in JSON (`what` names it in the messages):
/// required, a string, 1–100 characters, no control characters.
pub fn name_field(what: &str, value: Option<&Value>) -> AppResult<String> {
    match value {
        None | Some(Value::Null) => Err(AppError::Invalid(format!("{what} is required."))),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(AppError::Invalid(format!("{what} is required.")))
        }
        Some(Value::String(s)) if s.chars().count() > MAX_NAME_CHARS => Err(AppError::Invalid(
            format!("{what} must be at most {MAX_NAME_CHARS} characters."),
        )),
        Some(Value::String(s)) if s.chars().any(char::is_control) => Err(AppError::Invalid(
            format!("{what} must not contain control characters."),
        )),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(_) => Err(AppError::Invalid(format!("{what} must be a string."))),
    }
}

/// Reads `expires_in` / `expires_at` from a request body.
pub fn expiry_request(
    expires_in: Option<&str>,
    expires_at: Option<&str>,
) -> AppResult<ExpiryRequest> {
    match (expires_in, expires_at) {
        (Some(_), Some(_)) => Err(AppError::Invalid(
            "Send either expires_in or expires_at, not both.".into(),
        )),
        (Some(preset), None) => Ok(ExpiryRequest::Preset(preset.to_owned())),
        (None, Some(at)) => OffsetDateTime::parse(at, &Rfc3339)
            .map(ExpiryRequest::At)
            .map_err(|_| {
                AppError::Invalid(
                    "expires_at must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z.".into(),
                )
            }),
        (None, None) => Ok(ExpiryRequest::Default),
    }
}

/// Parses a requested permission list; the message names the field.
pub fn permission_list(field: &str, values: &[String]) -> AppResult<PermissionSet> {
    PermissionSet::parse_all(values).map_err(|e| AppError::Invalid(format!("{field}: {e}")))
}

/// Refuses a narrowing that asks for more than `allowed`, naming what it
/// cannot grant: "{field}: you cannot grant a:b, c:d — {rule}."
pub fn only_narrowing(
    field: &str,
    asked: &PermissionSet,
    allowed: &PermissionSet,
    rule: &str,
) -> AppResult<()> {
    let beyond = asked.missing_from(allowed);
    if beyond.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = beyond.iter().map(|p| p.to_string()).collect();
    Err(AppError::Invalid(format!(
        "{field}: you cannot grant {} — {rule}.",
        names.join(", ")
    )))
}

/// A workspace credential (a key, an agent, an agent's token) may hold no
/// more than the member creating it holds right now: 403 otherwise.
pub fn no_more_than_held(grants: &PermissionSet, held: &PermissionSet) -> AppResult<()> {
    if grants.is_subset(held) {
        Ok(())
    } else {
        Err(AppError::denied(Denial::PermissionDenied, false))
    }
}

/// Refuses a grant of `role` that `granter` may not make: 403
/// `permission_denied` naming the role, or 422 for a role not configured.
pub fn may_grant(roles: &RoleMap, granter: Granter<'_>, role: &str) -> AppResult<()> {
    granting::may_grant(roles, granter, role).map_err(|refusal| match refusal {
        GrantRefusal::UnknownRole(_) => unknown_role("role", roles),
        refused => AppError::Forbidden(refused.to_string()),
    })
}

/// Refuses (403 naming the role) a granter ranked below `role`, whatever
/// it holds: see [`granting::may_outrank`].
pub fn may_outrank(roles: &RoleMap, granter: Granter<'_>, role: &str) -> AppResult<()> {
    granting::may_outrank(roles, granter, role).map_err(|refusal| match refusal {
        GrantRefusal::UnknownRole(_) => unknown_role("role", roles),
        refused => AppError::Forbidden(refused.to_string()),
    })
}

/// The permissions of a configured role, or 422 naming the roles there are.
pub fn role_permissions(roles: &RoleMap, role: &str) -> AppResult<PermissionSet> {
    roles
        .get(role)
        .cloned()
        .ok_or_else(|| unknown_role("role", roles))
}

/// "{field} must be one of: …", naming the configured roles.
pub fn unknown_role(field: &str, roles: &RoleMap) -> AppError {
    let known: Vec<&str> = roles.ranked_names().collect();
    AppError::Invalid(format!("{field} must be one of: {}.", known.join(", ")))
}

/// Usernames: 1–64 of letters, digits, `.`, `_`, `-` (and `@` for emails).
pub fn username(username: &str) -> AppResult<()> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(
            "username must be 1-64 letters, digits, `.`, `_`, `-` or `@`.".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn token_names_are_checked_with_the_documented_messages() {
        let msg = |v: Option<Value>| token_name(v.as_ref()).unwrap_err().to_string();
        assert_eq!(msg(None), "Token name is required.");
        assert_eq!(msg(Some(json!(""))), "Token name is required.");
        assert_eq!(msg(Some(json!(42))), "Token name must be a string.");
        assert_eq!(msg(Some(json!(["a"]))), "Token name must be a string.");
        assert!(msg(Some(json!("x".repeat(101)))).contains("100"));
        assert_eq!(token_name(Some(&json!(" CI "))).unwrap(), "CI");
    }

    #[test]
    fn a_narrowing_may_ask_for_no_more_than_is_allowed() {
        let set = |names: &[&str]| {
            PermissionSet::parse_all(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap()
        };
        let allowed = set(&["tasks:read", "tasks:write"]);
        let rule = "a token can only narrow what your role allows";
        assert!(only_narrowing("permissions", &set(&["tasks:read"]), &allowed, rule).is_ok());
        assert!(only_narrowing("permissions", &set(&[]), &allowed, rule).is_ok());
        let refused = only_narrowing(
            "Permissions",
            &set(&["audit:read", "tasks:read", "users:read"]),
            &allowed,
            rule,
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Permissions: you cannot grant audit:read, users:read — a token can only narrow what your role allows."
        );
    }

    #[test]
    fn expiry_fields_are_exclusive_and_dates_are_rfc3339() {
        assert!(expiry_request(Some("30d"), Some("2030-01-01T00:00:00Z")).is_err());
        assert!(expiry_request(None, Some("tomorrow")).is_err());
        assert_eq!(expiry_request(None, None).unwrap(), ExpiryRequest::Default);
    }
}

//! Issuing, rotating and revoking tokens: the rules every way in (the REST
//! API, the settings pages, `tessera admin token issue`) shares. Handlers
//! decide who may ask; this module decides what is allowed to exist.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use tessera_core::expiry::{self, ExpiryRequest};
use tessera_core::ids::{new_id, IdKind};
use tessera_core::kind::{CredentialKind, OwnerType, WorkspaceBinding};
use tessera_core::{format, PermissionSet, PlaintextToken};
use tessera_store::{NewToken, Revocation, Rotation, StoreError, TokenRecord};

use crate::cache::Invalidation;
use crate::error::{AppError, AppResult};
use crate::principal::{Actor, Target};
use crate::state::AppState;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_OVERLAP_SECONDS: u32 = 86_400;

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

/// What a new token should be.
pub struct IssueRequest<'a> {
    pub kind: &'a CredentialKind,
    pub name: String,
    pub expiry: ExpiryRequest,
    /// A personal token's narrowing, or an API key's fixed permissions.
    pub permissions: Option<PermissionSet>,
    /// An API key's fixed role.
    pub role: Option<String>,
    pub workspace_id: Option<String>,
    /// The owning user of a personal token, or the agent of an agent token.
    pub user_id: Option<String>,
    pub created_by: Option<String>,
    /// The latest expiry allowed: the creating token's own.
    pub ceiling: Option<OffsetDateTime>,
}

/// A new token, and its secret: shown once, then only its hash exists.
pub struct Issued {
    pub record: TokenRecord,
    pub token: PlaintextToken,
}

impl AppState {
    /// The workspace a personal token of a bound kind is created in when the
    /// request names none (TeamDay's "scoped to your current organization"):
    /// the one the caller is acting in (`acting`: the calling token's, or the
    /// workspace header's), else the user's only workspace.
    pub async fn current_workspace(
        &self,
        user_id: &str,
        acting: Option<&str>,
    ) -> AppResult<String> {
        if let Some(acting) = acting {
            return Ok(acting.to_owned());
        }
        let memberships = self.store.memberships_of(user_id).await?;
        match memberships.as_slice() {
            [only] => Ok(only.workspace_id.clone()),
            [] => Err(AppError::Invalid(
                "workspace_id: tokens here belong to a workspace, and you are a member of none."
                    .into(),
            )),
            _ => Err(AppError::Invalid(format!(
                "workspace_id is required: you belong to {} workspaces; name one (or send the {} header).",
                memberships.len(),
                self.config.auth.workspace_header
            ))),
        }
    }

    /// The kind a create request makes: the one it names, which must be
    /// owned as asked, or the deployment's first kind with that owner.
    pub fn kind_for(
        &self,
        requested: Option<&str>,
        owner: OwnerType,
    ) -> AppResult<&CredentialKind> {
        let what = owner.describe();
        let a = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        match requested {
            Some(name) => self
                .config
                .kinds
                .get(name)
                .filter(|k| k.owner == owner)
                .ok_or_else(|| {
                    AppError::Invalid(format!("kind: \"{name}\" is not {a} {what} kind here."))
                }),
            None => self
                .config
                .kinds
                .first_owned_by(owner)
                .ok_or_else(|| AppError::Invalid(format!("This deployment issues no {what}s."))),
        }
    }

    /// Creates a token after checking the kind's rules: binding, expiry
    /// policy, narrowing, the per-user limit.
    pub async fn issue_token(&self, request: IssueRequest<'_>, actor: &Actor) -> AppResult<Issued> {
        let kind = request.kind;
        let now = OffsetDateTime::now_utc();
        let expires_at = expiry::resolve(&request.expiry, &kind.expiry, now, request.ceiling)
            .map_err(|e| AppError::Invalid(e.to_string()))?;

        match (kind.binding, &request.workspace_id) {
            (WorkspaceBinding::None, Some(_)) => {
                return Err(AppError::Invalid(format!(
                    "workspace_id: tokens of kind \"{}\" are not bound to workspaces.",
                    kind.name
                )))
            }
            (WorkspaceBinding::Bound, None) => {
                return Err(AppError::Invalid(format!(
                    "workspace_id is required for tokens of kind \"{}\".",
                    kind.name
                )))
            }
            _ => {}
        }
        if let Some(workspace_id) = &request.workspace_id {
            self.store
                .workspace(workspace_id)
                .await?
                .ok_or_else(|| AppError::Invalid("workspace_id names no workspace.".into()))?;
        }
        if request.permissions.is_some() && !kind.allow_narrowing && kind.owner.held_by_a_user() {
            return Err(AppError::Invalid(format!(
                "permissions: this deployment does not narrow tokens of kind \"{}\"; \
                 a token acts with its owner's role.",
                kind.name
            )));
        }

        let id = new_id(IdKind::Token);
        let token = format::generate(&kind.shape(), &id);
        let secret = token.expose();
        let new = NewToken {
            id,
            kind: kind.name.clone(),
            user_id: request.user_id,
            workspace_id: request.workspace_id,
            name: request.name,
            display_prefix: format::display_prefix(secret, kind.display_prefix_len),
            last4: format::last4(secret),
            permissions: request.permissions.map(|p| p.to_strings()),
            role: request.role,
            created_at: now,
            created_by: request.created_by,
            expires_at,
            hash: self.config.hasher.hash(secret),
        };
        // A person, and each agent, may hold at most this many active
        // tokens; a workspace's API keys are managed by its admins instead.
        let max = self.config.limits.max_active_tokens_per_user;
        let limit = kind.owner.held_by_a_user().then_some(max);
        let record = self
            .store
            .insert_token(&new, limit)
            .await
            .map_err(|e| match e {
                StoreError::LimitReached => {
                    let holder = match kind.owner {
                        OwnerType::Agent => "This agent already holds",
                        _ => "You already hold",
                    };
                    AppError::Invalid(format!(
                        "{holder} {max} active tokens, the most this deployment allows: revoke one first."
                    ))
                }
                other => other.into(),
            })?;

        self.invalidate(Invalidation::Created(hex::encode(new.hash.digest)))
            .await;
        let action = match kind.owner {
            OwnerType::User => "token.create",
            OwnerType::Workspace => "api_key.create",
            OwnerType::Agent => "agent_token.create",
        };
        self.audit(
            actor,
            action,
            Some(token_target(&record)),
            json!({
                "name": record.name,
                "kind": record.kind,
                "owner": record.user_id,
                "permissions": record.permissions,
                "role": record.role,
                "expires_at": record.expires_at.map(rfc3339),
            }),
        )
        .await;
        Ok(Issued { record, token })
    }

    /// Gives a token a new secret. The old one keeps working for
    /// `overlap_seconds` (0: it stops now); presenting it after that revokes
    /// the token. The expiry stays unless `expiry` asks for another within
    /// the kind's policy.
    pub async fn rotate(
        &self,
        record: &TokenRecord,
        overlap_seconds: u32,
        expiry: ExpiryRequest,
        ceiling: Option<OffsetDateTime>,
        actor: &Actor,
    ) -> AppResult<Issued> {
        let kind = self
            .config
            .kinds
            .get(&record.kind)
            .ok_or(AppError::NotFound)?;
        if !kind.allow_rotation {
            return Err(AppError::Invalid(format!(
                "Tokens of kind \"{}\" cannot be rotated here: create a new token and revoke this one.",
                kind.name
            )));
        }
        if overlap_seconds > MAX_OVERLAP_SECONDS {
            return Err(AppError::Invalid(format!(
                "overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}."
            )));
        }
        let now = OffsetDateTime::now_utc();
        if record.revoked_at.is_some() || record.expires_at.is_some_and(|t| now >= t) {
            return Err(AppError::Conflict(
                "Only an active token can be rotated: this one is revoked or expired.".into(),
            ));
        }
        let expires_at = match expiry {
            ExpiryRequest::Default => record.expires_at,
            asked => expiry::resolve(&asked, &kind.expiry, now, ceiling)
                .map_err(|e| AppError::Invalid(e.to_string()))?,
        };
        let token = format::generate(&kind.shape(), &record.id);
        let secret = token.expose();
        let rotated = self
            .store
            .rotate_token(&Rotation {
                token_id: record.id.clone(),
                at: now,
                new_hash: self.config.hasher.hash(secret),
                display_prefix: format::display_prefix(secret, kind.display_prefix_len),
                last4: format::last4(secret),
                expires_at,
                old_secret_retires_at: now + Duration::seconds(i64::from(overlap_seconds)),
            })
            .await?;
        self.invalidate(Invalidation::Token(record.id.clone()))
            .await;
        self.audit(
            actor,
            "token.rotate",
            Some(token_target(&rotated)),
            json!({ "name": rotated.name, "overlap_seconds": overlap_seconds }),
        )
        .await;
        Ok(Issued {
            record: rotated,
            token,
        })
    }

    /// Revokes one token; revoking a revoked token changes nothing.
    pub async fn revoke(
        &self,
        record: &TokenRecord,
        actor: &Actor,
        reason: &str,
    ) -> AppResult<bool> {
        let revoked = self
            .store
            .revoke_token(
                &record.id,
                &Revocation {
                    at: OffsetDateTime::now_utc(),
                    by: actor.user_id.clone(),
                    reason: reason.to_owned(),
                },
            )
            .await?;
        self.invalidate(Invalidation::Token(record.id.clone()))
            .await;
        if revoked {
            let action = match self.config.kinds.get(&record.kind).map(|k| k.owner) {
                Some(OwnerType::Workspace) => "api_key.revoke",
                Some(OwnerType::Agent) => "agent_token.revoke",
                _ => "token.revoke",
            };
            self.audit(
                actor,
                action,
                Some(token_target(record)),
                json!({ "name": record.name, "reason": reason }),
            )
            .await;
        }
        Ok(revoked)
    }

    /// Revokes every personal token of a user; returns how many.
    pub async fn revoke_all(&self, user_id: &str, actor: &Actor, reason: &str) -> AppResult<usize> {
        let ids = self
            .store
            .revoke_user_tokens(
                user_id,
                &Revocation {
                    at: OffsetDateTime::now_utc(),
                    by: actor.user_id.clone(),
                    reason: reason.to_owned(),
                },
            )
            .await?;
        for id in &ids {
            self.invalidate(Invalidation::Token(id.clone())).await;
        }
        self.audit(
            actor,
            "token.revoke_all",
            Some(Target {
                kind: "user",
                id: user_id,
                workspace_id: None,
            }),
            json!({ "revoked": ids.len(), "token_ids": ids, "reason": reason }),
        )
        .await;
        Ok(ids.len())
    }
}

pub fn token_target(record: &TokenRecord) -> Target<'_> {
    Target {
        kind: "token",
        id: &record.id,
        workspace_id: record.workspace_id.as_deref(),
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
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

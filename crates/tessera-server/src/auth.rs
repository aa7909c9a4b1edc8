//! Who is calling: a presented token (Bearer header, a Basic password where
//! its kind allows, or the configured cookie) or a signed-in browser session. Handlers take a [`Caller`] and
//! state what they need of it at their top; deny by default.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::basic_auth;
use crate::client::ClientInfo;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::principal::{Caller, Presentation};
use crate::service::rfc3339;
use crate::service::sessions::Sessions;
use crate::service::verification::Verification;
use crate::session::{check_csrf, cookie_value, is_change, session_secret, CSRF_HEADER};
use crate::verification::VerifyFailure;

/// `Tessera-Token-Expires`: when the token that made a request expires.
pub const TOKEN_EXPIRES_HEADER: HeaderName = HeaderName::from_static("tessera-token-expires");

/// Where a request's verified token leaves its expiry for the response
/// (see `routes::with_token_expiry`): set at most once, by [`caller`].
#[derive(Debug, Clone, Default)]
pub struct TokenExpirySlot(Arc<OnceLock<OffsetDateTime>>);

impl TokenExpirySlot {
    /// The header's value: the expiry in RFC 3339, if a token with one made
    /// the request.
    pub fn header_value(&self) -> Option<HeaderValue> {
        self.0
            .get()
            .and_then(|at| HeaderValue::try_from(rfc3339(*at)).ok())
    }
}

/// The credential as it arrived, before verification.
pub enum Presented<'a> {
    Token(Cow<'a, str>),
    SessionCookie(SecretString),
    Nothing,
}

/// A token in the query string (`?token=`, `?access_token=`, …) is refused
/// on every surface, never ignored: logs and browser history keep URLs.
pub fn refuse_token_in_url(uri: &axum::http::Uri) -> AppResult<()> {
    let Some(query) = uri.query() else {
        return Ok(());
    };
    let in_url = query.split('&').any(|pair| {
        let key = pair.split('=').next().unwrap_or("");
        matches!(key, "access_token" | "token" | "api_key" | "private_token")
    });
    if in_url {
        return Err(AppError::BadRequest(
            "Tokens are never accepted in a URL, where logs and browser history keep them: \
             send `Authorization: Bearer <token>` instead, and revoke the token you just sent."
                .into(),
        ));
    }
    Ok(())
}

/// Finds the credential in a request. Several `Authorization` headers, a
/// scheme other than Bearer or Basic, a Basic password of a kind that does
/// not accept Basic, or a token in the query string are refused.
pub fn presented_credential<'a>(parts: &'a Parts, config: &Config) -> AppResult<Presented<'a>> {
    let token_cookie = config.auth.token_cookie.as_deref();
    refuse_token_in_url(&parts.uri)?;
    let mut authorizations = parts.headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() {
            return Ok(Presented::Token(Cow::Borrowed("")));
        }
        let value = value.to_str().unwrap_or("");
        return Ok(match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Presented::Token(Cow::Borrowed(token.trim()))
            }
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                basic_password(encoded, config)?
            }
            // An odd scheme is a malformed credential, never "no credential".
            _ => Presented::Token(Cow::Borrowed("")),
        });
    }
    if let Some(token) = token_cookie.and_then(|name| cookie_value(&parts.headers, name)) {
        return Ok(Presented::Token(Cow::Owned(token)));
    }
    if let Some(secret) = session_secret(&parts.headers) {
        return Ok(Presented::SessionCookie(secret));
    }
    Ok(Presented::Nothing)
}

/// The token sent as a Basic password: malformed credentials are 401 saying
/// what to send; a token of a kind that does not accept Basic is refused
/// as an invalid token (an empty one), like an odd scheme. A password that
/// is no token of ours goes on, to be refused by verification like any.
fn basic_password<'a>(encoded: &str, config: &Config) -> AppResult<Presented<'a>> {
    let password = basic_auth::password(encoded)
        .map_err(|e| AppError::MalformedAuthorization(e.to_string()))?;
    let refused = matches!(config.kinds.parse(&password), Ok((kind, _)) if !kind.basic_auth);
    Ok(Presented::Token(if refused {
        Cow::Borrowed("")
    } else {
        Cow::Owned(password)
    }))
}

/// Maps a verifier failure to the HTTP error, under the reveal rule.
pub fn verify_failure(config: &Config, failure: VerifyFailure) -> AppError {
    match failure {
        VerifyFailure::Denied {
            denial,
            retry_after,
        } => AppError::Denied {
            denial,
            reveal: config.auth.reveal_failure_reasons,
            retry_after,
        },
        VerifyFailure::RotatedOut(_) => AppError::Denied {
            denial: tessera_core::Denial::Rotated,
            reveal: config.auth.reveal_failure_reasons,
            retry_after: None,
        },
        VerifyFailure::Store(e) => e.into(),
    }
}

/// The workspace a request names in the configured workspace header
/// (`X-Workspace-Id` by default); an empty value names none.
pub fn workspace_header<'a>(config: &Config, headers: &'a HeaderMap) -> Option<&'a str> {
    headers
        .get(config.auth.workspace_header.name())
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The caller of a request: the token it presents, verified, or its
/// signed-in session (whose changes must echo the CSRF value). Deny by
/// default: no credential is 401.
pub async fn caller(
    parts: &Parts,
    presentation: Presentation,
    config: &Config,
    verification: &Verification,
    sessions: &Sessions,
) -> AppResult<Caller> {
    let auth = &config.auth;
    match presented_credential(parts, config)? {
        Presented::Token(token) => {
            let client = ClientInfo::from_parts(parts, &auth.trusted_proxies);
            let workspace_header = workspace_header(config, &parts.headers);
            let verified = verification
                .verify(&token, workspace_header, &[], &client, presentation, None)
                .await
                .map_err(|f| verify_failure(config, f))?;
            if let (Some(slot), Some(expires_at)) = (
                parts.extensions.get::<TokenExpirySlot>(),
                verified.identity().expires_at,
            ) {
                let _ = slot.0.set(expires_at);
            }
            Ok(Caller::Token(Box::new(verified)))
        }
        Presented::SessionCookie(secret) => {
            let (session, user) = sessions
                .resume(&secret)
                .await?
                .ok_or(AppError::Unauthenticated)?;
            if is_change(&parts.method) {
                let sent = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes());
                check_csrf(&session, sent.unwrap_or(b""))?;
            }
            Ok(Caller::Session {
                user: Box::new(user),
                session: Box::new(session),
            })
        }
        Presented::Nothing => Err(AppError::Unauthenticated),
    }
}

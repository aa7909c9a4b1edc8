//! Asking Tessera, and remembering its positive answers for a short while.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use moka::sync::Cache;
use moka::Expiry;
use reqwest::Url;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::{ConfigError, TesseraConfig};
use crate::identity::VerifiedIdentity;
use crate::rejection::TesseraRejection;

/// A presented token. Its `Debug` hides it, so that no `{:?}` of a request's
/// state can put it in a log.
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a request presents, copied out of its headers so that verifying
/// does not borrow the request across the call to Tessera.
#[derive(Debug)]
pub(crate) struct Presented {
    pub token: Option<Secret>,
    pub workspace: Option<String>,
}

type Key = [u8; 32];

#[derive(Clone)]
struct Cached {
    identity: Arc<VerifiedIdentity>,
    lifetime: Duration,
}

/// Each entry lives for its own lifetime: the TTL, or less when the token
/// expires sooner.
struct Lifetime;

impl Expiry<Key, Cached> for Lifetime {
    fn expire_after_create(&self, _key: &Key, value: &Cached, _at: Instant) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// Where the product's verifier credential goes on every verification.
const VERIFIER_HEADER: &str = "tessera-verifier";

pub(crate) struct Verifier {
    http: reqwest::Client,
    verify_url: Url,
    workspace_header: HeaderName,
    token_cookie: Option<String>,
    cache: Option<Cache<Key, Cached>>,
    cache_ttl: Duration,
    verifier_header: Option<HeaderValue>,
}

#[derive(Serialize)]
struct VerifyBody<'a> {
    token: &'a str,
    workspace_id: Option<&'a str>,
    permissions: &'a [String],
}

impl Verifier {
    pub fn new(config: &TesseraConfig) -> Result<Self, ConfigError> {
        let verify_url = config.verify_url()?;
        let workspace_header = config.workspace_header_name()?;
        let token_cookie = config.checked_cookie()?;
        let verifier_header = config.verifier_header()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // Tessera answers verify directly; a redirect would mean a
            // wrong URL, and following it would send the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let cache =
            (config.cache_ttl > Duration::ZERO && config.cache_max_entries > 0).then(|| {
                Cache::builder()
                    .max_capacity(config.cache_max_entries)
                    .expire_after(Lifetime)
                    .build()
            });
        Ok(Verifier {
            http,
            verify_url,
            workspace_header,
            token_cookie,
            cache,
            cache_ttl: config.cache_ttl,
            verifier_header,
        })
    }

    /// Reads the credential the way Tessera does: `Authorization: Bearer`
    /// first; several `Authorization` headers or another scheme present an
    /// empty token (a malformed credential, which Tessera refuses under its
    /// own reveal rule), never "no credential"; then the configured cookie.
    pub fn presented(&self, headers: &HeaderMap) -> Presented {
        let workspace = headers
            .get(&self.workspace_header)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
        let token = if let Some(value) = authorizations.next() {
            let token = match (authorizations.next(), value.to_str().ok()) {
                (None, Some(value)) => match value.split_once(' ') {
                    Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                    _ => "",
                },
                _ => "",
            };
            Some(Secret(token.to_owned()))
        } else {
            self.token_cookie
                .as_deref()
                .and_then(|name| cookie_value(headers, name))
                .map(Secret)
        };
        Presented { token, workspace }
    }

    pub async fn verify(
        &self,
        presented: Presented,
        required: &[String],
    ) -> Result<VerifiedIdentity, TesseraRejection> {
        let Some(Secret(token)) = presented.token else {
            tracing::debug!("no credential presented");
            return Err(TesseraRejection::unauthenticated());
        };
        let workspace = presented.workspace.as_deref();
        let key = self
            .cache
            .as_ref()
            .map(|cache| (cache, cache_key(&token, workspace, required)));
        if let Some((cache, key)) = &key {
            if let Some(hit) = cache.get(key) {
                tracing::debug!(token_id = %hit.identity.token_id, "verified (cached)");
                return Ok(VerifiedIdentity::clone(&hit.identity));
            }
        }
        let identity = self.ask(&token, workspace, required).await?;
        if let Some((cache, key)) = key {
            if let Some(lifetime) = self.lifetime(&identity) {
                cache.insert(
                    key,
                    Cached {
                        identity: Arc::new(identity.clone()),
                        lifetime,
                    },
                );
            }
        }
        Ok(identity)
    }

    /// The TTL, cut short by the token's expiry; `None` when the answer is
    /// not worth keeping (expiring now, or an expiry it cannot read).
    fn lifetime(&self, identity: &VerifiedIdentity) -> Option<Duration> {
        let Some(expires_at) = &identity.expires_at else {
            return Some(self.cache_ttl);
        };
        let expires_at = OffsetDateTime::parse(expires_at, &Rfc3339).ok()?;
        let left: Duration = (expires_at - OffsetDateTime::now_utc()).try_into().ok()?;
        Some(left.min(self.cache_ttl)).filter(|d| !d.is_zero())
    }

    async fn ask(
        &self,
        token: &str,
        workspace: Option<&str>,
        required: &[String],
    ) -> Result<VerifiedIdentity, TesseraRejection> {
        let mut request = self.http.post(self.verify_url.clone());
        if let Some(verifier) = &self.verifier_header {
            request = request.header(VERIFIER_HEADER, verifier.clone());
        }
        let response = request
            .json(&VerifyBody {
                token,
                workspace_id: workspace,
                permissions: required,
            })
            .send()
            .await
            .map_err(|e| {
                // reqwest's error names the URL, never the body with the token.
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                tracing::warn!(error = %e, "asking Tessera {what}: answering 503");
                TesseraRejection::unavailable()
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            tracing::error!(
                url = %self.verify_url,
                "Tessera refused this product's verifier credential (verifier_required): \
                 set TesseraConfig::verifier to a secret from `tessera admin verifier add`; answering 503"
            );
            return Err(TesseraRejection::unavailable());
        }
        if status != reqwest::StatusCode::OK {
            tracing::warn!(%status, url = %self.verify_url, "Tessera did not answer verify with 200: answering 503");
            return Err(TesseraRejection::unavailable());
        }
        let answer: Value = response.json().await.map_err(|e| {
            tracing::warn!(error = %e, "Tessera's answer to verify is unreadable: answering 503");
            TesseraRejection::unavailable()
        })?;
        read_answer(answer)
    }
}

/// Anything but a well-formed `valid: true` with every identity field is a
/// refusal or an error: an answer this crate cannot read never lets a
/// request through.
fn read_answer(answer: Value) -> Result<VerifiedIdentity, TesseraRejection> {
    match answer.get("valid").and_then(Value::as_bool) {
        Some(true) => match serde_json::from_value::<VerifiedIdentity>(answer) {
            Ok(identity) => {
                tracing::debug!(token_id = %identity.token_id, kind = %identity.kind, "verified");
                Ok(identity)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Tessera's positive answer lacks identity fields: answering 503");
                Err(TesseraRejection::unavailable())
            }
        },
        Some(false) => {
            let text = |field: &str| answer.get(field).and_then(Value::as_str);
            let (Some(code), Some(message)) = (text("code"), text("message")) else {
                tracing::warn!("Tessera's refusal has no code or message: answering 503");
                return Err(TesseraRejection::unavailable());
            };
            tracing::info!(code, "Tessera refused the token");
            Err(TesseraRejection::denied(
                code.to_owned(),
                message.to_owned(),
                answer.get("retry_after").and_then(Value::as_u64),
            ))
        }
        None => {
            tracing::warn!("Tessera's answer to verify has no `valid`: answering 503");
            Err(TesseraRejection::unavailable())
        }
    }
}

/// Length-prefixed parts, so that no two different (token, workspace,
/// permissions) triples can digest the same bytes; the digest, not the
/// token, is what the cache holds.
fn cache_key(token: &str, workspace: Option<&str>, required: &[String]) -> Key {
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(b"tessera-axum verify v1");
    part(token.as_bytes());
    match workspace {
        None => part(b"-"),
        Some(w) => {
            part(b"+");
            part(w.as_bytes());
        }
    }
    for permission in required {
        part(permission.as_bytes());
    }
    hash.finalize().into()
}

/// The value of cookie `name`, parsed by the `cookie` crate (RFC 6265); an
/// empty value counts as none.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value_trimmed().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn verifier(config: TesseraConfig) -> Verifier {
        Verifier::new(&config).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::try_from(*name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn token(p: &Presented) -> Option<&str> {
        p.token.as_ref().map(|s| s.0.as_str())
    }

    #[test]
    fn reads_the_credential_like_tessera() {
        let v = verifier(TesseraConfig::new("http://x").token_cookie("session"));
        let p = v.presented(&headers(&[("authorization", "Bearer  abc ")]));
        assert_eq!(token(&p), Some("abc"));
        let p = v.presented(&headers(&[("authorization", "bearer abc")]));
        assert_eq!(token(&p), Some("abc"));
        let p = v.presented(&headers(&[("authorization", "Basic abc")]));
        assert_eq!(token(&p), Some(""), "another scheme is malformed");
        let p = v.presented(&headers(&[
            ("authorization", "Bearer a"),
            ("authorization", "Bearer b"),
        ]));
        assert_eq!(token(&p), Some(""), "two headers are malformed");
        let p = v.presented(&headers(&[("cookie", "theme=dark; session=abc")]));
        assert_eq!(token(&p), Some("abc"));
        let p = v.presented(&headers(&[
            ("authorization", "Bearer header"),
            ("cookie", "session=cookie"),
        ]));
        assert_eq!(token(&p), Some("header"));
        let p = v.presented(&headers(&[("cookie", "other=abc")]));
        assert_eq!(token(&p), None);
        let p = verifier(TesseraConfig::new("http://x"))
            .presented(&headers(&[("cookie", "session=abc")]));
        assert_eq!(token(&p), None, "no cookie is read unless configured");
    }

    #[test]
    fn reads_the_configured_workspace_header() {
        let v = verifier(TesseraConfig::new("http://x").workspace_header("X-Tenant"));
        let p = v.presented(&headers(&[
            ("x-tenant", "wsp_1"),
            ("x-workspace-id", "wsp_2"),
        ]));
        assert_eq!(p.workspace.as_deref(), Some("wsp_1"));
        let p = v.presented(&headers(&[("x-tenant", "")]));
        assert_eq!(p.workspace, None);
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let v = verifier(TesseraConfig::new("http://x"));
        let p = v.presented(&headers(&[("authorization", "Bearer tsr_pat_secret")]));
        assert!(!format!("{p:?}").contains("tsr_pat_secret"));
    }

    #[test]
    fn cache_keys_separate_every_part() {
        let perms = |ps: &[&str]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let base = cache_key("t", Some("w"), &perms(&["a"]));
        assert_ne!(base, cache_key("u", Some("w"), &perms(&["a"])));
        assert_ne!(base, cache_key("t", None, &perms(&["a"])));
        assert_ne!(base, cache_key("t", Some("w"), &perms(&[])));
        assert_ne!(base, cache_key("t", Some("w"), &perms(&["a", "b"])));
        assert_ne!(
            cache_key("t", None, &perms(&["ab"])),
            cache_key("t", None, &perms(&["a", "b"]))
        );
        assert_eq!(base, cache_key("t", Some("w"), &perms(&["a"])));
    }

    #[test]
    fn unreadable_answers_fail_closed() {
        let unavailable = |answer: Value| read_answer(answer).unwrap_err().code().to_owned();
        assert_eq!(unavailable(json!({})), "unavailable");
        assert_eq!(unavailable(json!({"valid": "yes"})), "unavailable");
        assert_eq!(
            unavailable(json!({"valid": true, "token_id": "tok_1"})),
            "unavailable"
        );
        assert_eq!(unavailable(json!({"valid": false})), "unavailable");
        let denied =
            read_answer(json!({"valid": false, "code": "permission_denied", "message": "no"}))
                .unwrap_err();
        assert_eq!(denied.status(), 403);
    }

    #[test]
    fn an_answer_is_not_kept_past_the_token_expiry() {
        let v = verifier(TesseraConfig::new("http://x").cache_ttl(Duration::from_secs(5)));
        let identity = |expires_at: Option<String>| VerifiedIdentity {
            token_id: "tok_1".into(),
            kind: "pat".into(),
            user_id: None,
            workspace_id: None,
            permissions: vec![],
            expires_at,
        };
        let at =
            |d: time::Duration| Some((OffsetDateTime::now_utc() + d).format(&Rfc3339).unwrap());
        assert_eq!(v.lifetime(&identity(None)), Some(Duration::from_secs(5)));
        assert_eq!(
            v.lifetime(&identity(at(time::Duration::hours(1)))),
            Some(Duration::from_secs(5))
        );
        let soon = v
            .lifetime(&identity(at(time::Duration::seconds(2))))
            .unwrap();
        assert!(soon <= Duration::from_secs(2) && soon > Duration::from_secs(1));
        assert_eq!(v.lifetime(&identity(at(time::Duration::seconds(-1)))), None);
        assert_eq!(v.lifetime(&identity(Some("garbage".into()))), None);
    }
}

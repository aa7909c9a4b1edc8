//! Browser sign-in: a random session secret in an HttpOnly cookie, stored
//! only as its SHA-256, with a CSRF value that every cookie-authenticated
//! change must echo in `X-CSRF-Token`.

use axum::http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;

use tessera_core::{base62, hash};
use tessera_store::{Session, User};

use serde_json::json;
use tessera_core::policy::UserStatus;

use crate::client::ClientInfo;
use crate::error::AppResult;
use crate::password;
use crate::principal::{Actor, Target};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// 43 base62 characters ≈ 256 bits.
const SESSION_SECRET_LEN: usize = 43;

/// A new session: the secret goes to the browser, the record to the store.
pub struct NewSession {
    pub secret: String,
    pub session: Session,
}

impl AppState {
    pub async fn start_session(&self, user: &User) -> AppResult<NewSession> {
        let secret = base62::random(SESSION_SECRET_LEN);
        let now = OffsetDateTime::now_utc();
        let session = Session {
            id_hash: hash::sha256_hex(&secret),
            user_id: user.id.clone(),
            csrf_token: base62::random(32),
            created_at: now,
            expires_at: now + self.config.auth.session_ttl,
        };
        self.store.create_session(&session).await?;
        Ok(NewSession { secret, session })
    }

    /// Checks a username and password and, if they match an active user,
    /// starts a session. Every attempt is audited; `None` is the one answer
    /// for an unknown user, a wrong password or an inactive account, and the
    /// password hash is checked in every case so that timing tells nothing
    /// either. `via` names the way in for the audit trail.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        client: &ClientInfo,
        via: &str,
    ) -> AppResult<Option<(User, NewSession)>> {
        let user = if username.is_empty() || username.len() > 64 {
            None
        } else {
            self.store.user_by_username(username).await?
        };
        // An agent has no password and never signs in: with no stored hash
        // to check, it is answered like an unknown user.
        let stored = user
            .as_ref()
            .filter(|u| u.status == UserStatus::Active && !u.is_agent())
            .map(|u| u.password_hash.clone());
        let valid = password::verify(password, stored).await?;
        let user = match user {
            Some(u) if valid => u,
            _ => {
                let username: String = username.chars().take(100).collect();
                self.audit(
                    &Actor::anonymous(client),
                    "session.sign_in_failed",
                    None,
                    json!({ "username": username, "via": via }),
                )
                .await;
                return Ok(None);
            }
        };
        let new = self.start_session(&user).await?;
        let actor = Actor {
            user_id: Some(user.id.clone()),
            label: Some(user.username.clone()),
            client: client.clone(),
            token_id: None,
        };
        self.audit(
            &actor,
            "session.sign_in",
            Some(Target {
                kind: "user",
                id: &user.id,
                workspace_id: None,
            }),
            json!({ "via": via }),
        )
        .await;
        Ok(Some((user, new)))
    }

    /// The session a cookie secret names, if it is live.
    pub async fn find_session(&self, secret: &str) -> AppResult<Option<Session>> {
        if secret.len() != SESSION_SECRET_LEN || !base62::is_base62(secret) {
            return Ok(None);
        }
        Ok(self
            .store
            .session(&hash::sha256_hex(secret), OffsetDateTime::now_utc())
            .await?)
    }
}

/// `Set-Cookie` for a new session. `Secure` when the request came over TLS
/// (as a trusted proxy reports it).
pub fn session_cookie(secret: &str, max_age: std::time::Duration, secure: bool) -> HeaderValue {
    let mut cookie = format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        max_age.as_secs()
    );
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("base62 cookie values are valid header text")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clearing_cookie() -> HeaderValue {
    HeaderValue::from_static("tessera_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}

pub fn request_is_tls(headers: &HeaderMap, trust_forwarded: bool) -> bool {
    trust_forwarded
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            HeaderValue::from_static("a=1; tessera_session=abc"),
        );
        headers.append("cookie", HeaderValue::from_static("session=xyz"));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "session"), Some("xyz"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn session_cookie_is_http_only_and_lax() {
        let c = session_cookie("s3cr3t", std::time::Duration::from_secs(60), true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
    }
}

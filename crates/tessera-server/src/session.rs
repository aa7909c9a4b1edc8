//! Browser sessions over HTTP: the HttpOnly cookie that carries a session's
//! secret, and the one check every cookie-authenticated request passes (a
//! live session of an active user, and for a change, the echoed CSRF value).
//! The API and the pages both read the cookie with [`session_secret`],
//! resume the session with `Sessions::resume` (the pages through
//! [`browser_session`]) and check changes with [`check_csrf`]; signing in and
//! out is `service::sessions`.
//!
//! Cookies are read and written with the `cookie` crate, which follows
//! RFC 6265 (quoting, attribute order, `Max-Age`) so that this module does not
//! have to.

use axum::http::{header, HeaderMap, HeaderValue, Method};
use cookie::{Cookie, SameSite};
use secrecy::{ExposeSecret, SecretString};

use tessera_core::hash::constant_time_eq;
use tessera_store::{Session, User};

use crate::error::{AppError, AppResult};
use crate::service::sessions::Sessions;

pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `Set-Cookie` for a new session. `Secure` when the request came over TLS
/// (as a trusted proxy reports it).
pub fn session_cookie(
    secret: &SecretString,
    max_age: std::time::Duration,
    secure: bool,
) -> HeaderValue {
    let max_age = cookie::time::Duration::seconds(max_age.as_secs().try_into().unwrap_or(i64::MAX));
    set_session_cookie(secret.expose_secret(), max_age, secure)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clearing_cookie() -> HeaderValue {
    set_session_cookie("", cookie::time::Duration::ZERO, false)
}

/// The session cookie's one set of attributes, for setting and clearing it
/// alike (a browser clears a cookie only when name, path and flags match).
fn set_session_cookie(value: &str, max_age: cookie::time::Duration, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(max_age)
        .secure(secure)
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("base62 cookie values are valid header text")
}

/// The value of cookie `name` in the request's `Cookie` headers (the first,
/// if a browser sent it twice); a pair that does not parse is skipped.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value_trimmed().to_owned())
}

/// The session secret a browser presents in its cookie, if any.
pub fn session_secret(headers: &HeaderMap) -> Option<SecretString> {
    cookie_value(headers, SESSION_COOKIE).map(SecretString::from)
}

/// The live session, and its active user, that the request's cookie names;
/// `None` when there is no cookie or it names no live session.
pub async fn browser_session(
    headers: &HeaderMap,
    sessions: &Sessions,
) -> AppResult<Option<(Session, User)>> {
    match session_secret(headers) {
        Some(secret) => sessions.resume(&secret).await,
        None => Ok(None),
    }
}

/// Whether a request by this method changes something, and so must echo the
/// session's CSRF value.
pub fn is_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF check: `sent` (the `X-CSRF-Token` header for the API, the
/// `csrf_token` field for a form) must equal the session's value, compared in
/// constant time.
pub fn check_csrf(session: &Session, sent: &[u8]) -> AppResult<()> {
    if constant_time_eq(sent, session.csrf_token.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::CsrfFailed)
    }
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
        headers.append("cookie", HeaderValue::from_static("session=\"xyz\""));
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("abc")
        );
        assert_eq!(cookie_value(&headers, "session").as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn session_cookie_is_http_only_and_lax() {
        let secret = SecretString::from("s3cr3t");
        let c = session_cookie(&secret, std::time::Duration::from_secs(60), true);
        let c = c.to_str().unwrap();
        assert!(c.starts_with("tessera_session=s3cr3t"));
        for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(c.contains(attribute), "{attribute} missing from {c}");
        }
        let plain = session_cookie(&secret, std::time::Duration::from_secs(60), false);
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn clearing_cookie_expires_at_once() {
        let c = clearing_cookie();
        let c = c.to_str().unwrap();
        assert!(c.starts_with("tessera_session=;") && c.contains("Max-Age=0"));
    }

    #[test]
    fn csrf_must_match_exactly() {
        let now = time::OffsetDateTime::now_utc();
        let session = Session {
            id_hash: "h".into(),
            user_id: "u".into(),
            csrf_token: "right".into(),
            created_at: now,
            expires_at: now,
        };
        assert!(check_csrf(&session, b"right").is_ok());
        assert!(matches!(
            check_csrf(&session, b"wrong"),
            Err(AppError::CsrfFailed)
        ));
        assert!(matches!(
            check_csrf(&session, b""),
            Err(AppError::CsrfFailed)
        ));
    }
}

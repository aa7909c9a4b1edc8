//! Browser sessions over HTTP: the HttpOnly cookie that carries a session's
//! secret, and the header every cookie-authenticated change must echo its
//! CSRF value in. Signing in and out is `service::sessions`.

use axum::http::{HeaderMap, HeaderValue};

pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

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

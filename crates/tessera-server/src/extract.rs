//! Extractors whose rejections use our error body, and the client facts
//! (address, user agent) that usage records and audit events carry.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::state::AppState;

/// `axum::Json` with our error body for malformed input.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(AppError::BadRequest(
                "Send the body as JSON with `Content-Type: application/json`.".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        parse_json(&bytes).map(AppJson)
    }
}

fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// Parses a JSON body. Text with a NUL character is refused here, once for
/// every route: no field has a use for it, and PostgreSQL cannot store it.
/// (JSON can only carry NUL escaped, so the escape is what to look for.)
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(AppError::BadRequest(
            "Text in the body must not contain NUL characters (\\u0000).".into(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_data() && path != "." {
            format!("{path}: {inner}")
        } else if inner.is_data() {
            inner.to_string()
        } else {
            format!("The body is not valid JSON: {inner}")
        };
        AppError::BadRequest(message)
    })?;
    deserializer
        .end()
        .map_err(|e| AppError::BadRequest(format!("The body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Like [`AppJson`], but an absent body counts as `T::default()`: for
/// endpoints whose body is optional (`rotate`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v != "0");
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        if !has_body || !has_type {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| AppError::BadRequest(e.body_text()))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            return parse_json(&bytes).map(OptionalJson);
        }
        let AppJson(value) = AppJson::<T>::from_request(req, state).await?;
        Ok(OptionalJson(value))
    }
}

/// `axum::extract::Path` whose failure is a 404 with our body.
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(AppPath(value))
    }
}

/// `axum::extract::Query` whose failure is a 400 with our body.
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(AppQuery(value))
    }
}

/// Who is on the other end of the connection, as far as we can tell. Made
/// for every request that presents a credential, so it copies nothing: the
/// address text is shared, the `User-Agent` is the request's own value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    ip: Option<Arc<str>>,
    user_agent: Option<HeaderValue>,
}

/// The longest `User-Agent` kept with a use or an audit event.
const USER_AGENT_KEPT: usize = 256;

impl ClientInfo {
    /// A client described by hand (tests, benches).
    pub fn new(ip: Option<&str>, user_agent: Option<&str>) -> Self {
        ClientInfo {
            ip: ip.map(Arc::from),
            user_agent: user_agent.and_then(|v| HeaderValue::from_str(v).ok()),
        }
    }

    pub fn from_parts(parts: &Parts, trust_forwarded_for: bool) -> Self {
        let forwarded = trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .and_then(|v| v.trim().parse::<IpAddr>().ok())
            })
            .flatten();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        ClientInfo {
            ip: forwarded.or(peer).map(|ip| ip_text(ip.to_canonical())),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
        }
    }

    /// The client as the verification engine notes it with a use.
    pub fn as_client(&self) -> tessera_verify::Client<'_> {
        tessera_verify::Client::new(self.ip(), self.user_agent())
    }

    /// The client's address, as text.
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }

    /// The `User-Agent`, if it is printable text, cut to 256 characters.
    pub fn user_agent(&self) -> Option<&str> {
        let text = self.user_agent.as_ref()?.to_str().ok()?;
        // `to_str` admits visible ASCII only: any byte is a character boundary.
        Some(&text[..text.len().min(USER_AGENT_KEPT)])
    }
}

/// An address as text. Requests mostly come from a few addresses (a
/// gateway, a product's servers), so each thread keeps its last one
/// formatted: formatting was a tenth of a cached verification's work.
fn ip_text(ip: IpAddr) -> Arc<str> {
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, Arc<str>)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((seen, text)) if *seen == ip => text.clone(),
        _ => {
            let text: Arc<str> = ip.to_string().into();
            *last = Some((ip, text.clone()));
            text
        }
    })
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo::from_parts(
            parts,
            state.config.auth.trust_forwarded_for,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_written_afresh_when_it_changes() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(&*ip_text(a), "10.0.0.1");
        assert_eq!(&*ip_text(a), "10.0.0.1");
        assert_eq!(&*ip_text(b), "2001:db8::1");
        assert_eq!(&*ip_text(a), "10.0.0.1");
    }

    #[test]
    fn a_long_user_agent_is_kept_to_256_characters() {
        let long = "x".repeat(1000);
        let client = ClientInfo::new(Some("10.0.0.1"), Some(&long));
        assert_eq!(client.user_agent().map(str::len), Some(256));
        assert_eq!(client.ip(), Some("10.0.0.1"));
        let odd = ClientInfo {
            ip: None,
            user_agent: Some(HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()),
        };
        assert_eq!(odd.user_agent(), None);
    }
}

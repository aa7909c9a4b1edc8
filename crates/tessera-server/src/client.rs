//! Who is on the other end of the connection: the client's address and user
//! agent, which usage records and audit events carry. Built from a
//! request's parts alone, so that everything below the HTTP layer can take
//! it without knowing the server's state.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};

use crate::forwarded::{self, TrustedProxies};

/// Who is on the other end of the connection, as far as we can tell. Made
/// for every request that presents a credential, so it copies nothing: the
/// address text is shared, the `User-Agent` is the request's own value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    ip: Option<Arc<str>>,
    user_agent: Option<HeaderValue>,
    tls: bool,
}

/// The longest `User-Agent` kept with a use or an audit event.
const USER_AGENT_KEPT: usize = 256;

impl ClientInfo {
    /// A client described by hand (tests, benches).
    pub fn new(ip: Option<&str>, user_agent: Option<&str>) -> Self {
        ClientInfo {
            ip: ip.map(Arc::from),
            user_agent: user_agent.and_then(|v| HeaderValue::from_str(v).ok()),
            tls: false,
        }
    }

    /// The client of a request: its TCP peer, or whom the peer names when
    /// it is one of the `trusted` proxies (see [`crate::forwarded`]).
    pub fn from_parts(parts: &Parts, trusted: &TrustedProxies) -> Self {
        let origin = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| forwarded::origin(peer.ip(), &parts.headers, trusted));
        ClientInfo {
            ip: origin.map(|o| ip_text(o.ip)),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
            tls: origin.is_some_and(|o| o.tls),
        }
    }

    /// Whether the client reached us over HTTPS, as a trusted proxy says
    /// (for the cookie's `Secure` flag and the URLs a page shows).
    pub fn over_tls(&self) -> bool {
        self.tls
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

/// Which proxies a server believes about who is behind them: all that
/// [`ClientInfo`]'s extractor needs of the server's state.
pub trait KnowsTrustedProxies {
    fn trusted_proxies(&self) -> &TrustedProxies;
}

impl<S: KnowsTrustedProxies + Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(ClientInfo::from_parts(parts, state.trusted_proxies()))
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
            tls: false,
        };
        assert_eq!(odd.user_agent(), None);
    }
}

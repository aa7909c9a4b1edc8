use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

/// How to reach Tessera and how a request presents its credential.
///
/// Nothing is checked until [`crate::TesseraLayer::try_new`], so that the
/// builder reads as plain settings and every mistake is reported in one
/// place, before the service starts taking requests.
#[derive(Debug, Clone)]
pub struct TesseraConfig {
    pub(crate) base_url: String,
    pub(crate) timeout: Duration,
    pub(crate) workspace_header: String,
    pub(crate) token_cookie: Option<String>,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_max_entries: u64,
    pub(crate) verifier_secret: Option<SecretString>,
}

impl TesseraConfig {
    /// Tessera's base URL, such as `http://127.0.0.1:7400` (a path prefix,
    /// for a Tessera behind a reverse proxy, is kept).
    ///
    /// Only `http://` works: no TLS backend is compiled in, to keep the
    /// dependency tree small. Run Tessera on a private network or a sidecar
    /// next to the product; an `https://` URL is refused by
    /// [`crate::TesseraLayer::try_new`] rather than failing every request.
    pub fn new(base_url: impl Into<String>) -> Self {
        TesseraConfig {
            base_url: base_url.into(),
            timeout: Duration::from_secs(2),
            workspace_header: "x-workspace-id".into(),
            token_cookie: None,
            cache_ttl: Duration::from_secs(5),
            cache_max_entries: 10_000,
            verifier_secret: None,
        }
    }

    /// The product's verifier credential (`tsr_vfr_…`), sent as the
    /// `Tessera-Verifier` header with every verification. Tessera requires
    /// one by default (a deployment admin makes it with `tessera admin
    /// verifier add <name>`); without it every request is answered 503 and
    /// the log says why.
    pub fn verifier(mut self, secret: impl Into<String>) -> Self {
        self.verifier_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// How long one verification may take, connecting included (2 s by
    /// default). Past it the request is answered 503: a slow Tessera must
    /// not hold the product's requests, and must never let them through.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The header that selects the workspace for a user's personal token
    /// (`X-Workspace-Id` by default). Use the same name Tessera is
    /// configured with (`[auth] workspace_header`), so that clients send
    /// one header to both.
    pub fn workspace_header(mut self, name: impl Into<String>) -> Self {
        self.workspace_header = name.into();
        self
    }

    /// Also accept the token from this cookie when there is no
    /// `Authorization` header (for browser clients of the product). Off by
    /// default.
    pub fn token_cookie(mut self, name: impl Into<String>) -> Self {
        self.token_cookie = Some(name.into());
        self
    }

    /// How long a positive answer is reused without asking Tessera (5 s by
    /// default; `Duration::ZERO` turns the cache off). This is the longest
    /// time a revoked token, a suspended owner or a lowered role keeps
    /// working in the product, so keep it short. An answer is also never
    /// kept past the token's own expiry.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// At most this many answers are cached (10,000 by default; 0 turns the
    /// cache off), so that a flood of distinct valid tokens cannot grow the
    /// product's memory without bound.
    pub fn cache_max_entries(mut self, entries: u64) -> Self {
        self.cache_max_entries = entries;
        self
    }

    pub(crate) fn verify_url(&self) -> Result<Url, ConfigError> {
        let base = Url::parse(&self.base_url).map_err(|e| ConfigError::BaseUrl {
            url: self.base_url.clone(),
            reason: e.to_string(),
        })?;
        match base.scheme() {
            "http" => {}
            "https" => return Err(ConfigError::HttpsUnsupported),
            other => {
                return Err(ConfigError::BaseUrl {
                    url: self.base_url.clone(),
                    reason: format!("the scheme must be http, not {other}"),
                })
            }
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConfigError::BaseUrl {
                url: self.base_url.clone(),
                reason: "a base URL has no query string or fragment".into(),
            });
        }
        let mut verify = base;
        let path = format!("{}/api/v1/verify", verify.path().trim_end_matches('/'));
        verify.set_path(&path);
        Ok(verify)
    }

    pub(crate) fn workspace_header_name(&self) -> Result<HeaderName, ConfigError> {
        HeaderName::try_from(self.workspace_header.to_ascii_lowercase())
            .map_err(|_| ConfigError::WorkspaceHeader(self.workspace_header.clone()))
    }

    /// The `Tessera-Verifier` header value, marked sensitive so that no
    /// debug output of a request shows it.
    pub(crate) fn verifier_header(&self) -> Result<Option<HeaderValue>, ConfigError> {
        let Some(secret) = &self.verifier_secret else {
            return Ok(None);
        };
        let mut value = HeaderValue::from_str(secret.expose_secret().trim())
            .map_err(|_| ConfigError::VerifierSecret)?;
        if value.is_empty() {
            return Err(ConfigError::VerifierSecret);
        }
        value.set_sensitive(true);
        Ok(Some(value))
    }

    pub(crate) fn checked_cookie(&self) -> Result<Option<String>, ConfigError> {
        match &self.token_cookie {
            None => Ok(None),
            Some(name)
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"=;,\"\\".contains(&b)) =>
            {
                Ok(Some(name.clone()))
            }
            Some(name) => Err(ConfigError::TokenCookie(name.clone())),
        }
    }
}

/// A setting [`crate::TesseraLayer::try_new`] cannot work with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("Tessera's URL {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error(
        "Tessera's URL uses https, but tessera-axum is built without TLS: \
         reach Tessera over plain http on a private network or a sidecar"
    )]
    HttpsUnsupported,
    #[error("{0:?} is not a valid HTTP header name for the workspace header")]
    WorkspaceHeader(String),
    #[error("{0:?} is not a valid cookie name for the token cookie")]
    TokenCookie(String),
    #[error("the verifier secret is empty or not usable as an HTTP header value")]
    VerifierSecret,
    #[error("the HTTP client for Tessera cannot be built: {0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_url_keeps_a_path_prefix() {
        let url = |base: &str| TesseraConfig::new(base).verify_url().map(|u| u.to_string());
        assert_eq!(
            url("http://127.0.0.1:7400").unwrap(),
            "http://127.0.0.1:7400/api/v1/verify"
        );
        assert_eq!(
            url("http://auth.internal/tessera/").unwrap(),
            "http://auth.internal/tessera/api/v1/verify"
        );
        assert!(matches!(
            url("https://auth.example.com"),
            Err(ConfigError::HttpsUnsupported)
        ));
        assert!(url("ftp://x").is_err());
        assert!(url("not a url").is_err());
        assert!(url("http://x/?a=b").is_err());
    }

    #[test]
    fn the_verifier_secret_is_a_sensitive_header_value() {
        let value = TesseraConfig::new("http://x")
            .verifier(" tsr_vfr_abc ")
            .verifier_header()
            .unwrap()
            .unwrap();
        assert_eq!(value, "tsr_vfr_abc");
        assert!(value.is_sensitive());
        assert!(TesseraConfig::new("http://x")
            .verifier_header()
            .unwrap()
            .is_none());
        for bad in ["", "a\nb"] {
            assert!(TesseraConfig::new("http://x")
                .verifier(bad)
                .verifier_header()
                .is_err());
        }
        let debug = format!(
            "{:?}",
            TesseraConfig::new("http://x").verifier("tsr_vfr_abc")
        );
        assert!(!debug.contains("tsr_vfr_abc"), "{debug}");
    }

    #[test]
    fn header_and_cookie_names_are_checked() {
        let config = TesseraConfig::new("http://x").workspace_header("X-Tenant");
        assert_eq!(config.workspace_header_name().unwrap(), "x-tenant");
        assert!(TesseraConfig::new("http://x")
            .workspace_header("bad header")
            .workspace_header_name()
            .is_err());
        assert!(TesseraConfig::new("http://x")
            .token_cookie("session")
            .checked_cookie()
            .is_ok());
        assert!(TesseraConfig::new("http://x")
            .token_cookie("a=b")
            .checked_cookie()
            .is_err());
    }
}

//! What one layer of the configuration may write: the keys of
//! `tessera.toml`, every one optional, so that a layer (the defaults, the
//! file, the variables) writes only what it sets.
//!
//! Each value is checked as it is read, so a bad one is reported by the
//! layer that wrote it, under the name that layer gives it. Only the checks
//! that need several keys at once (roles, kinds) wait for the merged layers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use serde::de::value::StrDeserializer;
use serde::de::{Deserializer, Error as _, IntoDeserializer};
use serde::Deserialize;

use tessera_core::expiry::{Lifetime, Preset};
use tessera_core::kind::{OwnerType, WorkspaceBinding};
use tessera_core::TokenFormat;
use tessera_store::DatabaseUrl;

use crate::forwarded::TrustedProxies;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    #[serde(default, deserialize_with = "listen")]
    pub listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "database_url")]
    pub database_url: Option<DatabaseUrl>,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub usage: UsageSection,
    #[serde(default)]
    pub tokens: TokensSection,
    #[serde(default)]
    pub cache: CacheSection,
    #[serde(default)]
    pub hashing: HashingSection,
    #[serde(default)]
    pub permissions: PermissionsSection,
    #[serde(default)]
    pub compat: CompatSection,
    #[serde(default)]
    pub verify: VerifySection,
    #[serde(default)]
    pub sign_in: SignInSection,
    #[serde(default)]
    pub server: ServerSection,
    pub roles: Option<BTreeMap<String, Vec<String>>>,
    /// The roles' ranks, highest first.
    pub role_order: Option<Vec<String>>,
    pub kinds: Option<Vec<KindEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSection {
    #[serde(default, deserialize_with = "token_cookie")]
    pub token_cookie: Option<String>,
    #[serde(default, deserialize_with = "header_name")]
    pub workspace_header: Option<ConfiguredHeader>,
    pub reveal_failure_reasons: Option<bool>,
    #[serde(default, deserialize_with = "duration")]
    pub session_ttl: Option<Duration>,
    /// Read only to refuse `true`: see [`no_trust_forwarded_for`].
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "no_trust_forwarded_for")]
    pub trust_forwarded_for: Option<bool>,
    #[serde(default, deserialize_with = "trusted_proxies")]
    pub trusted_proxies: Option<TrustedProxies>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    #[serde(default, deserialize_with = "at_least_one")]
    pub max_active_tokens_per_user: Option<u32>,
    pub rate_limit: Option<RateLimitSection>,
}

/// Both keys optional here, so that a layer may change one of them; the
/// merged layers must hold both.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitSection {
    #[serde(default, deserialize_with = "at_least_one")]
    pub requests: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub per: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UsageSection {
    #[serde(default, deserialize_with = "duration")]
    pub flush_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokensSection {
    #[serde(default, deserialize_with = "duration_or_zero")]
    pub revoked_retention: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheSection {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "cache_size")]
    pub max_tokens: Option<u64>,
    #[serde(default, deserialize_with = "duration")]
    pub ttl: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub negative_ttl: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HashingSection {
    #[serde(default)]
    pub keys: Vec<HashKeyEntry>,
}

/// `Debug` shows the id only: the secret is a [`SecretString`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HashKeyEntry {
    #[serde(deserialize_with = "key_id")]
    pub id: String,
    #[serde(deserialize_with = "key_secret")]
    pub secret: SecretString,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PermissionsSection {
    pub declared: Option<Vec<String>>,
}

/// Password sign-in's throttle and hashing bound (`[sign_in]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInSection {
    #[serde(default, deserialize_with = "at_least_one")]
    pub free_failures: Option<u32>,
    #[serde(default, deserialize_with = "at_least_one")]
    pub free_failures_per_address: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub backoff: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub max_backoff: Option<Duration>,
    /// Absent: one per core.
    #[serde(default, deserialize_with = "at_least_one")]
    pub concurrent_hashes: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    pub queue_wait: Option<Duration>,
}

/// How the server treats connections (`[server]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerSection {
    #[serde(default, deserialize_with = "duration")]
    pub header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub idle_timeout: Option<Duration>,
    /// Absent: derived from the open-file limit.
    #[serde(default, deserialize_with = "at_least_one")]
    pub max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifySection {
    pub require_verifier: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompatSection {
    pub teamgantt: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KindEntry {
    pub name: String,
    pub prefix: String,
    #[serde(default = "default_format")]
    pub format: TokenFormat,
    pub owner: OwnerType,
    pub binding: Option<WorkspaceBinding>,
    pub expiry_presets: Option<Vec<Preset>>,
    pub default_expiry: Option<Preset>,
    pub max_lifetime: Option<Lifetime>,
    pub display_prefix_len: Option<usize>,
    pub allow_narrowing: Option<bool>,
    pub allow_rotation: Option<bool>,
    pub require_workspace_header: Option<bool>,
    pub basic_auth: Option<bool>,
}

fn default_format() -> TokenFormat {
    TokenFormat::Checksummed
}

// ---- reading one value ------------------------------------------------------------

/// A value read from text, or the message saying why the text is refused.
fn parsed<'de, D, T>(
    d: D,
    parse: impl FnOnce(String) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    parse(text).map(Some).map_err(D::Error::custom)
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    parsed(d, |text| {
        text.parse()
            .map_err(|_| format!("\"{text}\" is not an address and port such as 127.0.0.1:7400"))
    })
}

/// Read as a secret: the URL may carry a password, and [`DatabaseUrl`]'s
/// messages and `Debug` mask it.
fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DatabaseUrl>, D::Error> {
    let url = SecretString::deserialize(d)?;
    DatabaseUrl::parse(url.expose_secret())
        .map(Some)
        .map_err(D::Error::custom)
}

/// The browser session's cookie, `crate::session::SESSION_COOKIE` (a test
/// keeps the two equal). Written out here so that reading the configuration
/// does not depend on sessions, which depend on the configuration.
const SESSION_COOKIE: &str = "tessera_session";

/// An empty name means no cookie, so that `TESSERA_TOKEN_COOKIE=` turns off
/// a cookie the file names.
fn token_cookie<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Ok(None);
    }
    let well_formed = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !well_formed {
        return Err(D::Error::custom(format!(
            "\"{name}\" is not a valid cookie name"
        )));
    }
    if name == SESSION_COOKIE {
        return Err(D::Error::custom(
            "tessera_session is reserved for browser sign-in",
        ));
    }
    Ok(Some(name))
}

fn header_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ConfiguredHeader>, D::Error> {
    parsed(d, |written| {
        match HeaderName::from_bytes(written.as_bytes()) {
            Ok(name) => Ok(ConfiguredHeader { name, written }),
            Err(_) => Err(format!("\"{written}\" is not a valid HTTP header name")),
        }
    })
}

/// `trust_forwarded_for = true` believed the first `X-Forwarded-For`
/// address, which the client writes: refused, so that a deployment that
/// relied on it learns what replaces it. `false` is what it always meant.
fn no_trust_forwarded_for<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match bool::deserialize(d)? {
        false => Ok(Some(false)),
        true => Err(D::Error::custom(
            "is no longer supported: it let any client choose its address. List the addresses \
             of your proxies in `auth.trusted_proxies` instead (e.g. trusted_proxies = \
             [\"10.0.0.0/8\"]), and remove trust_forwarded_for",
        )),
    }
}

/// A list of CIDRs or addresses; a variable may also write them
/// comma-separated (`TESSERA_AUTH__TRUSTED_PROXIES=10.0.0.0/8,::1`).
fn trusted_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TrustedProxies>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        List(Vec<String>),
        Text(String),
    }
    let entries = match Written::deserialize(d).map_err(|_| {
        D::Error::custom("expected a list of CIDRs such as [\"10.0.0.0/8\", \"::1\"]")
    })? {
        Written::List(list) => list,
        Written::Text(text) if text.trim().is_empty() => Vec::new(),
        Written::Text(text) => text.split(',').map(|e| e.trim().to_owned()).collect(),
    };
    TrustedProxies::parse(&entries)
        .map(Some)
        .map_err(D::Error::custom)
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match u32::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        n => Ok(Some(n)),
    }
}

fn cache_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(D::Error::custom(
            "must be at least 1 (to turn the cache off, set enabled = false)",
        )),
        n => Ok(Some(n)),
    }
}

fn key_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    if id.is_empty() || id.len() > 32 {
        return Err(D::Error::custom("must be 1-32 characters"));
    }
    Ok(id)
}

/// The message never quotes the secret.
fn key_secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    let secret = SecretString::deserialize(d)?;
    if secret.expose_secret().len() < 32 {
        return Err(D::Error::custom(
            "must be at least 32 characters (use a random string)",
        ));
    }
    Ok(secret)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    parsed(d, |text| read_duration(&text))
}

/// Revoked tokens may leave lists at once: `0` and `0s` mean that.
fn duration_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    parsed(d, |text| match text.as_str() {
        "0" | "0s" => Ok(Duration::ZERO),
        _ => read_duration(&text),
    })
}

/// A duration as Tessera has always written them: a whole number and one of
/// `ms`, `s`, `m`, `h` or `d`, longer than zero.
///
/// humantime-serde reads it. humantime alone would take more (`1h 30m`,
/// `1.5h`, `2w`, `10sec`, and `1y` as 365.25 days where a token lifetime's
/// `1y` is 365), so other spellings are refused before it sees them, and a
/// file means the same to every version of Tessera.
pub(super) fn read_duration(text: &str) -> Result<Duration, String> {
    let refused = || format!("\"{text}\" is not a duration such as 250ms, 10s, 5m, 12h or 30d");
    let unit = text.trim_start_matches(|c: char| c.is_ascii_digit());
    let written_plainly = unit.len() < text.len() && matches!(unit, "ms" | "s" | "m" | "h" | "d");
    if !written_plainly {
        return Err(refused());
    }
    let text_reader: StrDeserializer<'_, serde::de::value::Error> = text.into_deserializer();
    let duration: Duration = humantime_serde::deserialize(text_reader).map_err(|_| refused())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    // Durations have always been counted in milliseconds, up to u64::MAX of them.
    if duration.as_millis() > u128::from(u64::MAX) {
        return Err(refused());
    }
    Ok(duration)
}

/// A header name as configured: parsed once, for the look-up on every
/// request, and kept as written, for messages and pages.
#[derive(Debug, Clone)]
pub struct ConfiguredHeader {
    name: HeaderName,
    written: String,
}

impl ConfiguredHeader {
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub fn as_str(&self) -> &str {
        &self.written
    }
}

impl std::fmt::Display for ConfiguredHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reserved_cookie_is_the_session_cookie() {
        assert_eq!(super::SESSION_COOKIE, crate::session::SESSION_COOKIE);
    }
}

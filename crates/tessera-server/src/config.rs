//! Configuration, layered: built-in defaults, then `tessera.toml` (or the
//! file given with `--config`), then `TESSERA_*` variables. Every error names
//! the key at fault; secrets never print.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use tessera_core::expiry::{ExpiryPolicy, Lifetime, Preset};
use tessera_core::kind::{CredentialKind, KindSet, OwnerType, WorkspaceBinding};
use tessera_core::permissions::{PermissionSet, RoleMap, DEFAULT_DECLARED};
use tessera_core::{HashKey, TokenFormat, TokenHasher};
use tessera_store::DatabaseUrl;

use crate::cache::CacheSettings;

pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";
pub const DEFAULT_DATABASE_URL: &str = "sqlite:tessera.db";

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub usage_flush_interval: Duration,
    pub kinds: KindSet,
    pub roles: RoleMap,
    pub hasher: TokenHasher,
    /// Revoked tokens stay listed this long after revocation, then drop out
    /// of lists (they stay in the database and the audit trail).
    pub revoked_retention: Duration,
    /// The verifier's in-memory cache.
    pub cache: CacheSettings,
    /// Other products' endpoints, mounted beside Tessera's own API.
    pub compat: CompatConfig,
    /// Where the configuration came from, for the start-up log line.
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A cookie that may carry a token (Groo's `session`); none by default.
    pub token_cookie: Option<String>,
    /// The header that selects a workspace for a personal token.
    pub workspace_header: ConfiguredHeader,
    /// Name 401 reasons (`token_expired`, …) instead of `token_invalid`.
    pub reveal_failure_reasons: bool,
    /// How long a browser sign-in lasts.
    pub session_ttl: Duration,
    /// Trust the first `X-Forwarded-For` address as the client's (only
    /// behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

/// Compatibility routes: a product's own token endpoints, answered by the
/// same lifecycle as `/api/v1/tokens`. Each is off unless switched on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompatConfig {
    /// TeamGantt's `/v1/current_user` and `/v1/current_user/tokens…`
    /// ([`crate::routes::compat::teamgantt`]).
    pub teamgantt: bool,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_active_tokens_per_user: u32,
    /// Requests per token per window; `None` turns rate limiting off.
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &self.database_url)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("compat", &self.compat)
            .field(
                "kinds",
                &self.kinds.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .field("hasher", &self.hasher)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    File { path: PathBuf, message: String },
    #[error("the variable {name} is not valid: {message}")]
    Env { name: String, message: String },
    #[error("`{key}` is not valid: {message}")]
    Value { key: String, message: String },
}

fn value_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.into(),
        message: message.into(),
    }
}

// ---- the file's shape ----------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    usage: FileUsage,
    #[serde(default)]
    tokens: FileTokens,
    #[serde(default)]
    cache: FileCache,
    #[serde(default)]
    hashing: FileHashing,
    #[serde(default)]
    permissions: FilePermissions,
    #[serde(default)]
    compat: FileCompat,
    roles: Option<BTreeMap<String, Vec<String>>>,
    kinds: Option<Vec<FileKind>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    token_cookie: Option<String>,
    workspace_header: Option<String>,
    reveal_failure_reasons: Option<bool>,
    session_ttl: Option<String>,
    trust_forwarded_for: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_active_tokens_per_user: Option<u32>,
    rate_limit: Option<FileRateLimit>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimit {
    requests: u32,
    per: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUsage {
    flush_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTokens {
    revoked_retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCache {
    enabled: Option<bool>,
    max_tokens: Option<u64>,
    ttl: Option<String>,
    negative_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHashing {
    #[serde(default)]
    keys: Vec<FileHashKey>,
}

/// `Debug` shows the id only: the secret is a [`SecretString`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHashKey {
    id: String,
    secret: SecretString,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePermissions {
    declared: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCompat {
    teamgantt: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKind {
    name: String,
    prefix: String,
    #[serde(default = "default_format")]
    format: TokenFormat,
    owner: OwnerType,
    binding: Option<WorkspaceBinding>,
    expiry_presets: Option<Vec<Preset>>,
    default_expiry: Option<Preset>,
    max_lifetime: Option<Lifetime>,
    display_prefix_len: Option<usize>,
    allow_narrowing: Option<bool>,
    allow_rotation: Option<bool>,
}

fn default_format() -> TokenFormat {
    TokenFormat::Checksummed
}

// ---- loading ---------------------------------------------------------------------

impl Config {
    /// Loads the configuration: `path` if given (it must exist), else
    /// `tessera.toml` in the working folder if present, else defaults; then
    /// `TESSERA_*` variables from `env` on top.
    pub fn load(
        path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let (file, source) = match path {
            Some(p) => (read_file(p)?, Some(p.to_path_buf())),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                let p = Path::new(DEFAULT_CONFIG_FILE);
                (read_file(p)?, Some(p.to_path_buf()))
            }
            None => (FileConfig::default(), None),
        };
        layered(file, source, env)
    }

    /// Loads the seed profile `name` (see [`crate::profiles`]), then
    /// `TESSERA_*` variables from `env` on top.
    pub fn load_profile(name: &str, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let profile = crate::profiles::find(name).ok_or_else(|| {
            value_error(
                "--profile",
                format!(
                    "there is no profile \"{name}\" (known: {})",
                    crate::profiles::names()
                ),
            )
        })?;
        let source = PathBuf::from(format!("profiles/{}.toml", profile.name));
        let file = parse_file(&source, profile.toml)?;
        layered(file, Some(source), env)
    }

    /// Parses a configuration from TOML text with no variables applied.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::File {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        })?;
        build(file)
    }

    /// The built-in defaults, as `tessera serve` uses with no file.
    pub fn defaults() -> Config {
        build(FileConfig::default()).expect("the defaults are valid")
    }

    /// The `TESSERA_*` variables of this process.
    pub fn process_env() -> BTreeMap<String, String> {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("TESSERA_"))
            .collect()
    }
}

/// The file layer, built, with the variables on top.
fn layered(
    file: FileConfig,
    source: Option<PathBuf>,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigError> {
    let mut config = build(file)?;
    config.source = source;
    apply_env(&mut config, env)?;
    Ok(config)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(path, &text)
}

/// Parses configuration text; errors name `path`, where the text came from.
fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn build(file: FileConfig) -> Result<Config, ConfigError> {
    let listen = parse_listen("listen", file.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
    let database_url =
        DatabaseUrl::parse(file.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL))
            .map_err(|m| value_error("database_url", m))?;

    let auth = AuthConfig {
        token_cookie: file
            .auth
            .token_cookie
            .map(|c| validate_cookie_name("auth.token_cookie", c))
            .transpose()?,
        workspace_header: validate_header_name(
            "auth.workspace_header",
            file.auth
                .workspace_header
                .unwrap_or_else(|| "X-Workspace-Id".into()),
        )?,
        reveal_failure_reasons: file.auth.reveal_failure_reasons.unwrap_or(false),
        session_ttl: parse_duration(
            "auth.session_ttl",
            file.auth.session_ttl.as_deref().unwrap_or("12h"),
        )?,
        trust_forwarded_for: file.auth.trust_forwarded_for.unwrap_or(false),
    };

    let rate_limit = file
        .limits
        .rate_limit
        .map(|r| -> Result<RateLimit, ConfigError> {
            if r.requests == 0 {
                return Err(value_error(
                    "limits.rate_limit.requests",
                    "must be at least 1",
                ));
            }
            Ok(RateLimit {
                requests: r.requests,
                per: parse_duration("limits.rate_limit.per", &r.per)?,
            })
        })
        .transpose()?;
    let limits = Limits {
        max_active_tokens_per_user: file.limits.max_active_tokens_per_user.unwrap_or(500),
        rate_limit,
    };
    if limits.max_active_tokens_per_user == 0 {
        return Err(value_error(
            "limits.max_active_tokens_per_user",
            "must be at least 1",
        ));
    }

    let usage_flush_interval = parse_duration(
        "usage.flush_interval",
        file.usage.flush_interval.as_deref().unwrap_or("10s"),
    )?;
    // Zero is allowed here: revoked tokens drop out of lists at once
    // (TeamDay's "Remove the token from your account").
    let revoked_retention = match file.tokens.revoked_retention.as_deref() {
        Some("0" | "0s") => Duration::ZERO,
        other => parse_duration("tokens.revoked_retention", other.unwrap_or("30d"))?,
    };

    let cache = CacheSettings {
        enabled: file.cache.enabled.unwrap_or(true),
        max_tokens: file.cache.max_tokens.unwrap_or(100_000),
        ttl: parse_duration("cache.ttl", file.cache.ttl.as_deref().unwrap_or("10s"))?,
        negative_ttl: parse_duration(
            "cache.negative_ttl",
            file.cache.negative_ttl.as_deref().unwrap_or("2s"),
        )?,
    };
    if cache.max_tokens == 0 {
        return Err(value_error(
            "cache.max_tokens",
            "must be at least 1 (to turn the cache off, set enabled = false)",
        ));
    }

    let declared = match file.permissions.declared {
        Some(list) => PermissionSet::parse_all(&list)
            .map_err(|e| value_error("permissions.declared", e.to_string()))?,
        None => PermissionSet::parse_all(DEFAULT_DECLARED).expect("valid defaults"),
    };
    let roles = match file.roles {
        Some(table) => {
            let mut roles = BTreeMap::new();
            for (name, perms) in table {
                let set = PermissionSet::parse_all(&perms)
                    .map_err(|e| value_error(format!("roles.{name}"), e.to_string()))?;
                roles.insert(name, set);
            }
            if roles.is_empty() {
                return Err(value_error("roles", "at least one role must be configured"));
            }
            RoleMap::new(roles, declared).map_err(|m| value_error("roles", m))?
        }
        None if declared_is_default(&declared) => RoleMap::default(),
        None => {
            return Err(value_error(
                "roles",
                "declaring permissions requires configuring the roles that grant them",
            ))
        }
    };

    let kinds = match file.kinds {
        Some(list) => {
            let kinds = list
                .into_iter()
                .enumerate()
                .map(|(i, k)| build_kind(i, k))
                .collect::<Result<Vec<_>, _>>()?;
            KindSet::new(kinds).map_err(|m| value_error("kinds", m))?
        }
        None => KindSet::default(),
    };

    let mut keys = Vec::new();
    for (i, key) in file.hashing.keys.into_iter().enumerate() {
        if key.id.is_empty() || key.id.len() > 32 {
            return Err(value_error(
                format!("hashing.keys[{i}].id"),
                "must be 1-32 characters",
            ));
        }
        let secret = key.secret.expose_secret();
        if secret.len() < 32 {
            return Err(value_error(
                format!("hashing.keys[{i}].secret"),
                "must be at least 32 characters (use a random string)",
            ));
        }
        keys.push(HashKey {
            id: key.id,
            secret: secret.as_bytes().to_vec().into(),
        });
    }

    Ok(Config {
        listen,
        database_url,
        auth,
        limits,
        usage_flush_interval,
        kinds,
        roles,
        hasher: TokenHasher::new(keys),
        revoked_retention,
        cache,
        compat: CompatConfig {
            teamgantt: file.compat.teamgantt.unwrap_or(false),
        },
        source: None,
    })
}

fn declared_is_default(declared: &PermissionSet) -> bool {
    *declared == PermissionSet::parse_all(DEFAULT_DECLARED).expect("valid defaults")
}

fn build_kind(index: usize, k: FileKind) -> Result<CredentialKind, ConfigError> {
    let key = |field: &str| format!("kinds[{index}].{field}");
    let base = match k.owner {
        OwnerType::User => CredentialKind::default_pat(),
        OwnerType::Workspace => CredentialKind::default_api_key(),
        OwnerType::Agent => CredentialKind::default_agent_token(),
    };
    let presets = k.expiry_presets.unwrap_or(base.expiry.presets);
    if presets.is_empty() {
        return Err(value_error(
            key("expiry_presets"),
            "must offer at least one preset",
        ));
    }
    let default = match k.default_expiry {
        Some(d) => d,
        None if presets.contains(&base.expiry.default) => base.expiry.default,
        None => presets[0],
    };
    let kind = CredentialKind {
        name: k.name,
        prefix: k.prefix,
        format: k.format,
        owner: k.owner,
        binding: k.binding.unwrap_or(base.binding),
        expiry: ExpiryPolicy {
            presets,
            default,
            max_lifetime: k.max_lifetime,
        },
        display_prefix_len: k.display_prefix_len.unwrap_or(base.display_prefix_len),
        allow_narrowing: k.allow_narrowing.unwrap_or(true),
        allow_rotation: k.allow_rotation.unwrap_or(true),
    };
    kind.validate()
        .map_err(|m| value_error(format!("kinds[{index}]"), m))?;
    Ok(kind)
}

fn apply_env(config: &mut Config, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let env_error = |name: &str, message: String| ConfigError::Env {
        name: name.to_string(),
        message,
    };
    let flag = |name: &str, value: &str| -> Result<bool, ConfigError> {
        match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(env_error(name, format!("\"{value}\" is not true or false"))),
        }
    };
    for (name, value) in env {
        match name.as_str() {
            "TESSERA_LISTEN" => {
                config.listen = parse_listen(name, value).map_err(|e| env_error(name, e.to_string()))?
            }
            "TESSERA_DATABASE_URL" => {
                config.database_url = DatabaseUrl::parse(value).map_err(|m| env_error(name, m))?
            }
            "TESSERA_REVEAL_FAILURE_REASONS" => config.auth.reveal_failure_reasons = flag(name, value)?,
            "TESSERA_TRUST_FORWARDED_FOR" => config.auth.trust_forwarded_for = flag(name, value)?,
            "TESSERA_CACHE" => config.cache.enabled = flag(name, value)?,
            "TESSERA_TOKEN_COOKIE" => {
                config.auth.token_cookie = if value.is_empty() {
                    None
                } else {
                    Some(validate_cookie_name(name, value.clone()).map_err(|e| env_error(name, e.to_string()))?)
                }
            }
            "TESSERA_WORKSPACE_HEADER" => {
                config.auth.workspace_header = validate_header_name(name, value.clone())
                    .map_err(|e| env_error(name, e.to_string()))?
            }
            "TESSERA_MAX_ACTIVE_TOKENS_PER_USER" => {
                config.limits.max_active_tokens_per_user = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| env_error(name, format!("\"{value}\" is not a positive number")))?
            }
            "TESSERA_USAGE_FLUSH_INTERVAL" => {
                config.usage_flush_interval =
                    parse_duration(name, value).map_err(|e| env_error(name, e.to_string()))?
            }
            // Read elsewhere: the admin's first password, `admin`'s new password,
            // the log filter and format, and the client's URL and token.
            "TESSERA_ADMIN_PASSWORD" | "TESSERA_NEW_PASSWORD" | "TESSERA_LOG"
            | "TESSERA_LOG_FORMAT" | "TESSERA_URL" | "TESSERA_TOKEN" | "TESSERA_CONFIG"
            | "TESSERA_PROFILE" => {}
            other if other.starts_with("TESSERA_TEST_") => {}
            other => {
                return Err(env_error(
                    other,
                    "no such setting (known: TESSERA_LISTEN, TESSERA_DATABASE_URL, \
                     TESSERA_REVEAL_FAILURE_REASONS, TESSERA_TRUST_FORWARDED_FOR, TESSERA_CACHE, TESSERA_TOKEN_COOKIE, \
                     TESSERA_WORKSPACE_HEADER, TESSERA_MAX_ACTIVE_TOKENS_PER_USER, \
                     TESSERA_USAGE_FLUSH_INTERVAL, TESSERA_ADMIN_PASSWORD, TESSERA_LOG, TESSERA_LOG_FORMAT)"
                        .into(),
                ))
            }
        }
    }
    Ok(())
}

fn parse_listen(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        value_error(
            key,
            format!("\"{value}\" is not an address and port such as 127.0.0.1:7400"),
        )
    })
}

/// `250ms`, `10s`, `5m`, `12h`, `30d`.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    let error = || {
        value_error(
            key,
            format!("\"{value}\" is not a duration such as 250ms, 10s, 5m, 12h or 30d"),
        )
    };
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(error)?;
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().map_err(|_| error())?;
    let millis = match unit {
        "ms" => n,
        "s" => n.checked_mul(1_000).ok_or_else(error)?,
        "m" => n.checked_mul(60_000).ok_or_else(error)?,
        "h" => n.checked_mul(3_600_000).ok_or_else(error)?,
        "d" => n.checked_mul(86_400_000).ok_or_else(error)?,
        _ => return Err(error()),
    };
    if millis == 0 {
        return Err(value_error(key, "must be longer than zero"));
    }
    Ok(Duration::from_millis(millis))
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

impl fmt::Display for ConfiguredHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

fn validate_header_name(key: &str, value: String) -> Result<ConfiguredHeader, ConfigError> {
    match HeaderName::from_bytes(value.as_bytes()) {
        Ok(name) => Ok(ConfiguredHeader {
            name,
            written: value,
        }),
        Err(_) => Err(value_error(
            key,
            format!("\"{value}\" is not a valid HTTP header name"),
        )),
    }
}

fn validate_cookie_name(key: &str, value: String) -> Result<String, ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !ok {
        return Err(value_error(
            key,
            format!("\"{value}\" is not a valid cookie name"),
        ));
    }
    if value == crate::session::SESSION_COOKIE {
        return Err(value_error(
            key,
            "tessera_session is reserved for browser sign-in",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_sqlite_on_loopback() {
        let c = Config::defaults();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7400");
        assert_eq!(c.database_url.redacted(), "sqlite:tessera.db");
        assert!(c.kinds.get("pat").is_some());
        assert!(c.kinds.get("api_key").is_some());
        assert_eq!(c.limits.max_active_tokens_per_user, 500);
        assert_eq!(c.usage_flush_interval, Duration::from_secs(10));
    }

    #[test]
    fn variables_override_the_file() {
        let mut c = Config::from_toml("listen = \"127.0.0.1:9000\"").unwrap();
        apply_env(&mut c, &env(&[("TESSERA_LISTEN", "0.0.0.0:9100")])).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9100");
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::from_toml("lisen = \"x\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        let err = Config::from_toml("listen = \"nowhere\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`listen`"), "{err}");
        let err = Config::from_toml("[usage]\nflush_interval = \"soon\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("usage.flush_interval"), "{err}");
        let mut c = Config::defaults();
        let err = apply_env(&mut c, &env(&[("TESSERA_LISTN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TESSERA_LISTN"), "{err}");
        let err = apply_env(&mut c, &env(&[("TESSERA_REVEAL_FAILURE_REASONS", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TESSERA_REVEAL_FAILURE_REASONS"), "{err}");
    }

    #[test]
    fn variables_read_elsewhere_are_not_settings() {
        let mut c = Config::defaults();
        for name in [
            "TESSERA_ADMIN_PASSWORD",
            "TESSERA_NEW_PASSWORD",
            "TESSERA_LOG",
            "TESSERA_LOG_FORMAT",
            "TESSERA_URL",
            "TESSERA_TOKEN",
            "TESSERA_CONFIG",
            "TESSERA_PROFILE",
            "TESSERA_TEST_POSTGRES_URL",
        ] {
            apply_env(&mut c, &env(&[(name, "anything")]))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn kinds_roles_and_keys_from_the_file() {
        let c = Config::from_toml(
            r#"
            [permissions]
            declared = ["tasks:read", "tasks:write"]
            [roles]
            admin = ["tasks:read", "tasks:write", "api_keys:manage"]
            viewer = ["tasks:read"]
            [[kinds]]
            name = "pat"
            prefix = "td_"
            owner = "user"
            expiry_presets = ["7d", "30d", "90d", "180d", "365d"]
            default_expiry = "90d"
            max_lifetime = "365d"
            [[hashing.keys]]
            id = "k1"
            secret = "0123456789abcdef0123456789abcdef"
            "#,
        )
        .unwrap();
        assert_eq!(c.kinds.get("pat").unwrap().prefix, "td_");
        assert!(c.roles.get("viewer").unwrap().contains("tasks:read"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        let file: FileConfig = toml::from_str(
            "[[hashing.keys]]\nid = \"k1\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
        )
        .unwrap();
        assert!(!format!("{file:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn inconsistent_files_are_refused() {
        assert!(Config::from_toml("[roles]\nadmin = [\"tasks:write\"]").is_err());
        assert!(Config::from_toml(
            "[[kinds]]\nname = \"k\"\nprefix = \"k_\"\nowner = \"user\"\nexpiry_presets = [\"never\"]\nmax_lifetime = \"30d\""
        )
        .is_err());
        assert!(Config::from_toml("[[hashing.keys]]\nid = \"k\"\nsecret = \"short\"").is_err());
        assert!(Config::from_toml("[auth]\ntoken_cookie = \"bad cookie\"").is_err());
    }

    #[test]
    fn every_profile_loads_as_shipped() {
        for profile in crate::profiles::PROFILES {
            let from_text = Config::from_toml(profile.toml)
                .unwrap_or_else(|e| panic!("profile {}: {e}", profile.name));
            let loaded = Config::load_profile(profile.name, &BTreeMap::new()).unwrap();
            assert_eq!(from_text.kinds, loaded.kinds, "{}", profile.name);
            let on_disk = std::fs::read_to_string(format!(
                "{}/../../profiles/{}.toml",
                env!("CARGO_MANIFEST_DIR"),
                profile.name
            ))
            .unwrap();
            assert_eq!(on_disk, profile.toml, "{}", profile.name);
        }
        let err = Config::load_profile("gitlab", &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("groupchat"), "{err}");
    }

    #[test]
    fn compatibility_routes_are_off_unless_switched_on() {
        assert_eq!(Config::defaults().compat, CompatConfig::default());
        assert!(!Config::defaults().compat.teamgantt);
        let c = Config::from_toml("[compat]\nteamgantt = true").unwrap();
        assert!(c.compat.teamgantt);
        let c = Config::from_toml("[compat]\nteamgantt = false").unwrap();
        assert!(!c.compat.teamgantt);
        let err = Config::from_toml("[compat]\nteamgant = true")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("teamgant"), "{err}");
        assert!(Config::from_toml("[compat]\nteamgantt = \"yes\"").is_err());
        let teamgantt = Config::load_profile("teamgantt", &BTreeMap::new()).unwrap();
        assert!(teamgantt.compat.teamgantt);
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("k", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_duration("k", "12h").unwrap(),
            Duration::from_secs(43_200)
        );
        for bad in ["", "10", "s", "0s", "1x", "-1s"] {
            assert!(parse_duration("k", bad).is_err(), "{bad}");
        }
    }
}

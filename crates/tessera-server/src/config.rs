//! Configuration, layered by figment: built-in defaults, then `tessera.toml`
//! (or the file given with `--config`, or a seed profile), then `TESSERA_*`
//! variables, where `TESSERA_CACHE__TTL` sets `[cache] ttl`. Every error
//! names the key at fault and the layer that wrote it; secrets never print.

mod error;
mod layers;
mod settings;

pub use error::ConfigError;
pub use settings::ConfiguredHeader;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;

use tessera_core::expiry::ExpiryPolicy;
use tessera_core::kind::{CredentialKind, KindSet, OwnerType};
use tessera_core::permissions::{PermissionSet, RoleMap, UnrankedRoles, DEFAULT_DECLARED};
use tessera_core::{HashKey, TokenHasher};
use tessera_store::DatabaseUrl;

pub use tessera_verify::{CacheSettings, RateLimit};

use crate::forwarded::TrustedProxies;
use crate::throttle::Backoff;
use layers::{FileLayer, Variables};
use settings::{KindEntry, RateLimitSection, Settings};

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
    /// Who may ask the verification surfaces.
    pub verify: VerifyConfig,
    /// Password sign-in's back-off and hashing bound.
    pub sign_in: SignInConfig,
    /// Connection timeouts and bound.
    pub server: ServerConfig,
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
    /// The proxies whose `X-Forwarded-For`/`Forwarded` name the client;
    /// none by default, so the TCP peer is the client.
    pub trusted_proxies: TrustedProxies,
}

/// `[sign_in]`: failures in a row are free up to a count, then each must
/// wait twice as long as the last, up to a cap; at most so many passwords
/// are hashed at once, and an attempt waits so long for its turn.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub per_account: Backoff,
    pub per_address: Backoff,
    pub concurrent_hashes: usize,
    pub queue_wait: Duration,
}

/// `[server]`: how long a client may take to send a request head, how long
/// a connection may sit unused, and how many may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: as many as the open-file limit leaves room for.
    pub max_connections: Option<usize>,
}

/// The verification surfaces (`POST /api/v1/verify`, `POST /oauth/introspect`,
/// `GET /auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyConfig {
    /// Answer only callers presenting a verifier credential (RFC 7662 §2.1).
    /// `false` opens the surfaces to anyone, and the server warns at start.
    pub require_verifier: bool,
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

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &self.database_url)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .field("compat", &self.compat)
            .field("verify", &self.verify)
            .field(
                "kinds",
                &self.kinds.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .field("hasher", &self.hasher)
            .finish_non_exhaustive()
    }
}

fn value_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.into(),
        message: message.into(),
    }
}

// ---- loading ---------------------------------------------------------------------

impl Config {
    /// Loads the configuration: `path` if given (it must exist), else
    /// `tessera.toml` in the working folder if present, else defaults; then
    /// this process's `TESSERA_*` variables on top.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = path.or_else(|| Some(Path::new(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()));
        let file = path.map(FileLayer::read).transpose()?;
        let mut config = build(layers::merged(file.as_ref(), Variables::Read)?)?;
        config.source = file.map(|f| f.path);
        Ok(config)
    }

    /// Loads the seed profile `name` (see [`crate::profiles`]), then this
    /// process's `TESSERA_*` variables on top.
    pub fn load_profile(name: &str) -> Result<Config, ConfigError> {
        let profile = crate::profiles::find(name).ok_or_else(|| {
            value_error(
                "--profile",
                format!(
                    "there is no profile \"{name}\" (known: {})",
                    crate::profiles::names()
                ),
            )
        })?;
        let file = FileLayer {
            path: PathBuf::from(format!("profiles/{}.toml", profile.name)),
            text: profile.toml.to_owned(),
        };
        let mut config = build(layers::merged(Some(&file), Variables::Read)?)?;
        config.source = Some(file.path);
        Ok(config)
    }

    /// Parses a configuration from TOML text with no variables applied.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file = FileLayer {
            path: PathBuf::from("<text>"),
            text: text.to_owned(),
        };
        build(layers::merged(Some(&file), Variables::Ignored)?)
    }

    /// The built-in defaults, as `tessera serve` uses with no file.
    pub fn defaults() -> Config {
        layers::merged(None, Variables::Ignored)
            .and_then(build)
            .expect("the defaults are valid")
    }
}

/// A key the defaults layer always sets, or a rate limit's second half.
fn required<T>(key: &str, value: Option<T>) -> Result<T, ConfigError> {
    value.ok_or_else(|| value_error(key, "must be set"))
}

/// The merged layers, checked as a whole: what no single value can say.
fn build(settings: Settings) -> Result<Config, ConfigError> {
    let auth = AuthConfig {
        token_cookie: settings.auth.token_cookie,
        workspace_header: required("auth.workspace_header", settings.auth.workspace_header)?,
        reveal_failure_reasons: required(
            "auth.reveal_failure_reasons",
            settings.auth.reveal_failure_reasons,
        )?,
        session_ttl: required("auth.session_ttl", settings.auth.session_ttl)?,
        trusted_proxies: required("auth.trusted_proxies", settings.auth.trusted_proxies)?,
    };

    let rate_limit = match settings.limits.rate_limit {
        None => None,
        Some(RateLimitSection { requests, per }) => Some(RateLimit {
            requests: required("limits.rate_limit.requests", requests)?,
            per: required("limits.rate_limit.per", per)?,
        }),
    };
    let limits = Limits {
        max_active_tokens_per_user: required(
            "limits.max_active_tokens_per_user",
            settings.limits.max_active_tokens_per_user,
        )?,
        rate_limit,
    };

    let cache = CacheSettings {
        enabled: required("cache.enabled", settings.cache.enabled)?,
        max_tokens: required("cache.max_tokens", settings.cache.max_tokens)?,
        ttl: required("cache.ttl", settings.cache.ttl)?,
        negative_ttl: required("cache.negative_ttl", settings.cache.negative_ttl)?,
    };

    let declared = match settings.permissions.declared {
        Some(list) => PermissionSet::parse_all(&list)
            .map_err(|e| value_error("permissions.declared", e.to_string()))?,
        None => PermissionSet::parse_all(DEFAULT_DECLARED).expect("valid defaults"),
    };
    let roles = match settings.roles {
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
            let unranked =
                UnrankedRoles::new(roles, declared).map_err(|m| value_error("roles", m))?;
            // Configured roles have no natural order: the file must rank them.
            let order = settings.role_order.ok_or_else(|| {
                value_error(
                    "role_order",
                    "configuring [roles] needs role_order, every role once, highest first \
                     (a top-level key, before any table), e.g. role_order = [\"owner\", \"admin\", \"member\"]",
                )
            })?;
            unranked
                .ranked(&order)
                .map_err(|e| value_error("role_order", e.to_string()))?
        }
        None if declared_is_default(&declared) => match settings.role_order {
            None => RoleMap::default(),
            Some(order) => default_roles_ranked(&order)?,
        },
        None => {
            return Err(value_error(
                "roles",
                "declaring permissions requires configuring the roles that grant them",
            ))
        }
    };

    let kinds = match settings.kinds {
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

    // The ids and secrets were checked as they were read.
    let keys = settings
        .hashing
        .keys
        .into_iter()
        .map(|key| HashKey {
            id: key.id,
            secret: key.secret.expose_secret().as_bytes().to_vec().into(),
        })
        .collect();

    Ok(Config {
        listen: required("listen", settings.listen)?,
        database_url: required("database_url", settings.database_url)?,
        auth,
        limits,
        usage_flush_interval: required("usage.flush_interval", settings.usage.flush_interval)?,
        kinds,
        roles,
        hasher: TokenHasher::new(keys),
        revoked_retention: required(
            "tokens.revoked_retention",
            settings.tokens.revoked_retention,
        )?,
        cache,
        compat: CompatConfig {
            teamgantt: required("compat.teamgantt", settings.compat.teamgantt)?,
        },
        verify: VerifyConfig {
            require_verifier: required(
                "verify.require_verifier",
                settings.verify.require_verifier,
            )?,
        },
        sign_in: build_sign_in(settings.sign_in)?,
        server: ServerConfig {
            header_read_timeout: required(
                "server.header_read_timeout",
                settings.server.header_read_timeout,
            )?,
            idle_timeout: required("server.idle_timeout", settings.server.idle_timeout)?,
            max_connections: settings.server.max_connections.map(|n| n as usize),
        },
        source: None,
    })
}

/// The default roles under another order (which must still rank all four).
fn default_roles_ranked(order: &[String]) -> Result<RoleMap, ConfigError> {
    let defaults = RoleMap::default();
    let roles = defaults
        .role_names()
        .map(|r| (r.to_owned(), defaults.get(r).cloned().unwrap_or_default()))
        .collect();
    UnrankedRoles::new(roles, defaults.declared().clone())
        .map_err(|m| value_error("roles", m))?
        .ranked(order)
        .map_err(|e| value_error("role_order", e.to_string()))
}

fn build_sign_in(section: settings::SignInSection) -> Result<SignInConfig, ConfigError> {
    let base = required("sign_in.backoff", section.backoff)?;
    let max = required("sign_in.max_backoff", section.max_backoff)?;
    if max < base {
        return Err(value_error(
            "sign_in.max_backoff",
            "must be at least sign_in.backoff",
        ));
    }
    let backoff = |free_failures| Backoff {
        free_failures,
        base,
        max,
    };
    Ok(SignInConfig {
        per_account: backoff(required("sign_in.free_failures", section.free_failures)?),
        per_address: backoff(required(
            "sign_in.free_failures_per_address",
            section.free_failures_per_address,
        )?),
        concurrent_hashes: section
            .concurrent_hashes
            .map_or_else(default_concurrent_hashes, |n| n as usize),
        queue_wait: required("sign_in.queue_wait", section.queue_wait)?,
    })
}

/// How many passwords to hash at once by default: one per core.
fn default_concurrent_hashes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn declared_is_default(declared: &PermissionSet) -> bool {
    *declared == PermissionSet::parse_all(DEFAULT_DECLARED).expect("valid defaults")
}

fn build_kind(index: usize, k: KindEntry) -> Result<CredentialKind, ConfigError> {
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
        require_workspace_header: k.require_workspace_header.unwrap_or(false),
        basic_auth: k.basic_auth.unwrap_or(base.basic_auth),
    };
    kind.validate()
        .map_err(|m| value_error(format!("kinds[{index}]"), m))?;
    Ok(kind)
}

/// `250ms`, `10s`, `5m`, `12h`, `30d`: a whole number and one unit, longer
/// than zero.
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    settings::read_duration(value).map_err(|message| value_error(key, message))
}

#[cfg(test)]
mod tests {
    use figment::Jail;

    use super::*;

    /// Runs a test that reads the process's variables in figment's `Jail`:
    /// the variables it sets and its working folder (a new temporary one)
    /// last for the test alone, one jail at a time.
    // The closure's type is the Jail's, figment's large error included.
    #[allow(clippy::result_large_err)]
    fn in_jail(test: impl FnOnce(&mut Jail)) {
        Jail::expect_with(|jail| {
            test(jail);
            Ok(())
        });
    }

    /// The error of loading `tessera.toml` (if written) with the jail's variables.
    fn load_error() -> String {
        Config::load(None).unwrap_err().to_string()
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
    fn the_defaults_are_the_documented_ones() {
        let c = Config::defaults();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_url.redacted(), DEFAULT_DATABASE_URL);
        assert_eq!(c.auth.workspace_header.as_str(), "X-Workspace-Id");
        assert_eq!(c.auth.token_cookie, None);
        assert!(!c.auth.reveal_failure_reasons);
        assert!(c.auth.trusted_proxies.is_empty());
        assert_eq!(c.auth.session_ttl, Duration::from_secs(12 * 3600));
        assert_eq!(c.limits.rate_limit, None);
        assert_eq!(c.revoked_retention, Duration::from_secs(30 * 86_400));
        assert!(c.cache.enabled);
        assert_eq!(c.cache.max_tokens, 100_000);
        assert_eq!(c.cache.ttl, Duration::from_secs(10));
        assert_eq!(c.cache.negative_ttl, Duration::from_secs(2));
        assert!(!c.compat.teamgantt);
        assert_eq!(c.source, None);
    }

    #[test]
    fn variables_override_the_file() {
        in_jail(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "listen = \"127.0.0.1:9000\"")
                .unwrap();
            jail.set_env("TESSERA_LISTEN", "0.0.0.0:9100");
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.to_string(), "0.0.0.0:9100");
            assert_eq!(c.source.as_deref(), Some(Path::new(DEFAULT_CONFIG_FILE)));
        });
    }

    #[test]
    fn each_layer_changes_only_what_it_writes() {
        in_jail(|jail| {
            jail.create_file(
                "custom.toml",
                "[cache]\nttl = \"20s\"\nnegative_ttl = \"3s\"\n[auth]\nsession_ttl = \"1h\"\n",
            )
            .unwrap();
            jail.set_env("TESSERA_CACHE__NEGATIVE_TTL", "1s");
            let c = Config::load(Some(Path::new("custom.toml"))).unwrap();
            assert_eq!(c.cache.max_tokens, 100_000, "the default");
            assert_eq!(c.cache.ttl, Duration::from_secs(20), "the file");
            assert_eq!(c.cache.negative_ttl, Duration::from_secs(1), "the variable");
            assert_eq!(c.auth.session_ttl, Duration::from_secs(3600), "the file");
            assert_eq!(
                c.auth.workspace_header.as_str(),
                "X-Workspace-Id",
                "the default"
            );

            // Over a profile too.
            jail.set_env("TESSERA_AUTH__WORKSPACE_HEADER", "X-Org");
            let groupchat = Config::load_profile("groupchat").unwrap();
            assert_eq!(groupchat.auth.workspace_header.as_str(), "X-Org");
            assert!(groupchat.kinds.get("pat").is_some());
        });
    }

    #[test]
    fn every_key_can_be_set_with_a_nested_variable() {
        in_jail(|jail| {
            for (name, value) in [
                ("TESSERA_CACHE__TTL", "5s"),
                ("TESSERA_CACHE__MAX_TOKENS", "64"),
                ("TESSERA_AUTH__WORKSPACE_HEADER", "X-Org"),
                ("TESSERA_AUTH__REVEAL_FAILURE_REASONS", "true"),
                ("TESSERA_AUTH__SESSION_TTL", "2h"),
                ("TESSERA_LIMITS__MAX_ACTIVE_TOKENS_PER_USER", "10"),
                ("TESSERA_LIMITS__RATE_LIMIT__REQUESTS", "100"),
                ("TESSERA_LIMITS__RATE_LIMIT__PER", "1m"),
                ("TESSERA_USAGE__FLUSH_INTERVAL", "30s"),
                ("TESSERA_TOKENS__REVOKED_RETENTION", "0"),
                ("TESSERA_COMPAT__TEAMGANTT", "yes"),
                ("TESSERA_SIGN_IN__BACKOFF", "2s"),
                ("TESSERA_SIGN_IN__FREE_FAILURES", "9"),
                ("TESSERA_AUTH__TRUSTED_PROXIES", "10.0.0.0/8"),
                (
                    "TESSERA_PERMISSIONS__DECLARED",
                    r#"["tasks:read", "tasks:write"]"#,
                ),
                (
                    "TESSERA_ROLES__ADMIN",
                    r#"["tasks:read", "tasks:write", "api_keys:manage"]"#,
                ),
                ("TESSERA_ROLES__VIEWER", r#"["tasks:read"]"#),
                ("TESSERA_ROLE_ORDER", r#"["admin", "viewer"]"#),
                (
                    "TESSERA_HASHING__KEYS",
                    r#"[{ id = "k1", secret = "0123456789abcdef0123456789abcdef" }]"#,
                ),
                (
                    "TESSERA_KINDS",
                    r#"[{ name = "pat", prefix = "td_", owner = "user", expiry_presets = ["30d", "1y"] }]"#,
                ),
            ] {
                jail.set_env(name, value);
            }
            let c = Config::load(None).unwrap();
            assert_eq!(c.cache.ttl, Duration::from_secs(5));
            assert_eq!(c.cache.max_tokens, 64);
            assert_eq!(c.auth.workspace_header.as_str(), "X-Org");
            assert!(c.auth.reveal_failure_reasons);
            assert_eq!(c.auth.session_ttl, Duration::from_secs(7200));
            assert_eq!(c.limits.max_active_tokens_per_user, 10);
            assert_eq!(
                c.limits.rate_limit,
                Some(RateLimit {
                    requests: 100,
                    per: Duration::from_secs(60)
                })
            );
            assert_eq!(c.usage_flush_interval, Duration::from_secs(30));
            assert_eq!(c.revoked_retention, Duration::ZERO);
            assert!(c.compat.teamgantt);
            assert_eq!(c.sign_in.per_account.base, Duration::from_secs(2));
            assert_eq!(c.sign_in.per_account.free_failures, 9);
            assert!(!c.auth.trusted_proxies.is_empty());
            assert!(c.roles.get("viewer").unwrap().contains("tasks:read"));
            assert_eq!(c.hasher.hash("t").key_id.as_deref(), Some("k1"));
            assert_eq!(c.kinds.get("pat").unwrap().prefix, "td_");
            assert!(c.kinds.get("api_key").is_none());
            assert_eq!(c.source, None, "no file");
        });
    }

    #[test]
    fn the_short_variables_keep_working() {
        in_jail(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[auth]\ntoken_cookie = \"session\"\n")
                .unwrap();
            for (name, value) in [
                ("TESSERA_LISTEN", "0.0.0.0:7500"),
                (
                    "TESSERA_DATABASE_URL",
                    "postgres://tessera@db.internal/tessera",
                ),
                ("TESSERA_REVEAL_FAILURE_REASONS", "1"),
                ("TESSERA_TRUST_FORWARDED_FOR", "off"),
                ("TESSERA_CACHE", "off"),
                ("TESSERA_WORKSPACE_HEADER", "X-Tenant"),
                ("TESSERA_MAX_ACTIVE_TOKENS_PER_USER", "7"),
                ("TESSERA_USAGE_FLUSH_INTERVAL", "1h"),
            ] {
                jail.set_env(name, value);
            }
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen.to_string(), "0.0.0.0:7500");
            assert_eq!(
                c.database_url.redacted(),
                "postgres://tessera@db.internal/tessera"
            );
            assert!(c.auth.reveal_failure_reasons);
            assert!(!c.cache.enabled);
            assert_eq!(c.auth.workspace_header.as_str(), "X-Tenant");
            assert_eq!(c.limits.max_active_tokens_per_user, 7);
            assert_eq!(c.usage_flush_interval, Duration::from_secs(3600));
            assert_eq!(
                c.auth.token_cookie.as_deref(),
                Some("session"),
                "the file's"
            );

            // Flags read as they always have.
            for (value, enabled) in [("TRUE", true), ("yes", true), ("0", false), ("No", false)] {
                jail.set_env("TESSERA_CACHE", value);
                assert_eq!(
                    Config::load(None).unwrap().cache.enabled,
                    enabled,
                    "{value}"
                );
            }
            // A name is its text, even when it looks like a number.
            jail.set_env("TESSERA_TOKEN_COOKIE", "1");
            assert_eq!(
                Config::load(None).unwrap().auth.token_cookie.as_deref(),
                Some("1")
            );
            // Empty turns off the file's cookie.
            jail.set_env("TESSERA_TOKEN_COOKIE", "");
            assert_eq!(Config::load(None).unwrap().auth.token_cookie, None);
        });
    }

    #[test]
    fn trusted_proxies_replace_trust_forwarded_for() {
        let c = Config::from_toml(
            "[auth]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"::1\"]\ntrust_forwarded_for = false\n",
        )
        .unwrap();
        assert_eq!(c.auth.trusted_proxies.networks().len(), 3);
        assert!(c.auth.trusted_proxies.contains("10.1.1.1".parse().unwrap()));

        let err = Config::from_toml("[auth]\ntrust_forwarded_for = true\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("auth.trust_forwarded_for"), "{err}");
        assert!(err.contains("trusted_proxies"), "{err}");

        let err = Config::from_toml("[auth]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.300\"]\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("auth.trusted_proxies"), "{err}");
        assert!(err.contains("\"10.0.0.300\""), "{err}");

        let err = Config::from_toml("[auth]\ntrusted_proxies = 7\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("auth.trusted_proxies"), "{err}");
    }

    #[test]
    fn the_sign_in_throttle_defaults_and_bad_values() {
        let c = Config::defaults();
        assert_eq!(c.sign_in.per_account.free_failures, 5);
        assert_eq!(c.sign_in.per_address.free_failures, 20);
        assert_eq!(c.sign_in.per_account.base, Duration::from_secs(1));
        assert_eq!(c.sign_in.per_account.max, Duration::from_secs(900));
        assert_eq!(c.sign_in.queue_wait, Duration::from_secs(1));
        assert!(c.sign_in.concurrent_hashes >= 1);
        let c =
            Config::from_toml("[sign_in]\nbackoff = \"250ms\"\nconcurrent_hashes = 3\n").unwrap();
        assert_eq!(c.sign_in.per_address.base, Duration::from_millis(250));
        assert_eq!(c.sign_in.concurrent_hashes, 3);
        for (toml, key) in [
            ("[sign_in]\nfree_failures = 0", "sign_in.free_failures"),
            (
                "[sign_in]\nfree_failures_per_address = -1",
                "sign_in.free_failures_per_address",
            ),
            ("[sign_in]\nbackoff = \"0s\"", "sign_in.backoff"),
            ("[sign_in]\nbackoff = \"soon\"", "sign_in.backoff"),
            (
                "[sign_in]\nbackoff = \"1h\"\nmax_backoff = \"1m\"",
                "sign_in.max_backoff",
            ),
            (
                "[sign_in]\nconcurrent_hashes = 0",
                "sign_in.concurrent_hashes",
            ),
            ("[sign_in]\nqueue_wait = 5", "sign_in.queue_wait"),
            ("[sign_in]\nlockout = true", "sign_in.lockout"),
        ] {
            let err = Config::from_toml(toml).err().unwrap().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn the_server_section_defaults_and_bad_values() {
        let c = Config::defaults();
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.server.max_connections, None);
        let c = Config::from_toml(
            "[server]\nheader_read_timeout = \"2s\"\nidle_timeout = \"500ms\"\nmax_connections = 40\n",
        )
        .unwrap();
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.server.idle_timeout, Duration::from_millis(500));
        assert_eq!(c.server.max_connections, Some(40));
        for (toml, key) in [
            (
                "[server]\nheader_read_timeout = \"0s\"",
                "server.header_read_timeout",
            ),
            (
                "[server]\nheader_read_timeout = 10",
                "server.header_read_timeout",
            ),
            (
                "[server]\nidle_timeout = \"forever\"",
                "server.idle_timeout",
            ),
            ("[server]\nmax_connections = 0", "server.max_connections"),
            ("[server]\nmax_connections = -5", "server.max_connections"),
            (
                "[server]\nmax_connections = \"many\"",
                "server.max_connections",
            ),
            ("[server]\nbacklog = 5", "server.backlog"),
        ] {
            let err = Config::from_toml(toml).err().unwrap().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        in_jail(|jail| {
            jail.set_env("TESSERA_SERVER__MAX_CONNECTIONS", "64");
            jail.set_env("TESSERA_SERVER__IDLE_TIMEOUT", "3s");
            let c = Config::load(None).unwrap();
            assert_eq!(c.server.max_connections, Some(64));
            assert_eq!(c.server.idle_timeout, Duration::from_secs(3));
        });
    }

    #[test]
    fn trusted_proxies_come_from_the_environment_too() {
        in_jail(|jail| {
            jail.set_env("TESSERA_AUTH__TRUSTED_PROXIES", r#"["10.0.0.0/8", "::1"]"#);
            let c = Config::load(None).unwrap();
            assert_eq!(c.auth.trusted_proxies.networks().len(), 2);
            jail.set_env("TESSERA_AUTH__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1");
            let c = Config::load(None).unwrap();
            assert!(c
                .auth
                .trusted_proxies
                .contains("192.0.2.1".parse().unwrap()));
            jail.set_env("TESSERA_AUTH__TRUSTED_PROXIES", "");
            assert!(Config::load(None).unwrap().auth.trusted_proxies.is_empty());

            jail.set_env("TESSERA_AUTH__TRUSTED_PROXIES", "10.0.0.0/99");
            let err = load_error();
            assert!(err.contains("TESSERA_AUTH__TRUSTED_PROXIES"), "{err}");
            assert!(err.contains("10.0.0.0/99"), "{err}");
            jail.set_env("TESSERA_AUTH__TRUSTED_PROXIES", "");

            jail.set_env("TESSERA_TRUST_FORWARDED_FOR", "true");
            let err = load_error();
            assert!(err.contains("TESSERA_TRUST_FORWARDED_FOR"), "{err}");
            assert!(err.contains("trusted_proxies"), "{err}");
        });
    }

    #[test]
    fn the_nested_spelling_wins_over_the_short_one() {
        in_jail(|jail| {
            jail.set_env("TESSERA_CACHE", "off");
            jail.set_env("TESSERA_CACHE__ENABLED", "true");
            jail.set_env("TESSERA_USAGE_FLUSH_INTERVAL", "1h");
            jail.set_env("TESSERA_USAGE__FLUSH_INTERVAL", "5s");
            let c = Config::load(None).unwrap();
            assert!(c.cache.enabled);
            assert_eq!(c.usage_flush_interval, Duration::from_secs(5));
        });
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
        in_jail(|jail| {
            jail.set_env("TESSERA_LISTN", "x");
            let err = load_error();
            assert!(err.contains("TESSERA_LISTN"), "{err}");
        });
        in_jail(|jail| {
            jail.set_env("TESSERA_REVEAL_FAILURE_REASONS", "maybe");
            let err = load_error();
            assert!(err.contains("TESSERA_REVEAL_FAILURE_REASONS"), "{err}");
        });
    }

    #[test]
    fn a_bad_value_is_named_with_its_key_and_its_value() {
        let err = Config::from_toml("[cache]\nttl = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("<text>"), "{err}");
        assert!(err.contains("`cache.ttl`"), "{err}");
        assert!(err.contains("\"soon\""), "{err}");
        let err = Config::from_toml("[limits]\nmax_active_tokens_per_user = \"many\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`limits.max_active_tokens_per_user`"), "{err}");
        assert!(err.contains("\"many\""), "{err}");
        let err =
            Config::from_toml("[[kinds]]\nname = \"pat\"\nprefix = \"p_\"\nowner = \"robot\"")
                .unwrap_err()
                .to_string();
        assert!(err.contains("`kinds[0].owner`"), "{err}");
        assert!(err.contains("robot"), "{err}");
        // A file says true or false, not yes.
        let err = Config::from_toml("[cache]\nenabled = \"yes\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`cache.enabled`"), "{err}");

        for (name, value, named) in [
            ("TESSERA_CACHE__TTL", "soon", "\"soon\""),
            ("TESSERA_CACHE__TTL", "10", "\"10\""),
            ("TESSERA_CACHE", "maybe", "\"maybe\""),
            (
                "TESSERA_LIMITS__MAX_ACTIVE_TOKENS_PER_USER",
                "lots",
                "\"lots\"",
            ),
            ("TESSERA_MAX_ACTIVE_TOKENS_PER_USER", "0", "at least 1"),
            (
                "TESSERA_AUTH__WORKSPACE_HEADER",
                "not a header",
                "\"not a header\"",
            ),
            ("TESSERA_TOKEN_COOKIE", "tessera_session", "reserved"),
            ("TESSERA_LISTEN", "nowhere", "\"nowhere\""),
        ] {
            in_jail(|jail| {
                jail.set_env(name, value);
                let err = load_error();
                assert!(err.contains(name), "{name}={value}: {err}");
                assert!(err.contains(named), "{name}={value}: {err}");
            });
        }
        // A short name says which key it sets; a list, where in it.
        in_jail(|jail| {
            jail.set_env("TESSERA_CACHE", "maybe");
            assert!(load_error().contains("`cache.enabled`"), "{}", load_error());
            jail.set_env("TESSERA_CACHE", "on");
            jail.set_env(
                "TESSERA_KINDS",
                r#"[{ name = "pat", prefix = "p_", owner = "robot" }]"#,
            );
            let err = load_error();
            assert!(err.contains("TESSERA_KINDS"), "{err}");
            assert!(err.contains("`kinds[0].owner`"), "{err}");
            assert!(err.contains("robot"), "{err}");
        });
    }

    #[test]
    fn an_unknown_variable_is_named_with_the_known_ones_beside_it() {
        in_jail(|jail| {
            jail.set_env("TESSERA_CACHE__TLL", "5s");
            let err = load_error();
            assert!(err.contains("TESSERA_CACHE__TLL"), "{err}");
            assert!(err.contains("TESSERA_CACHE__TTL"), "{err}");
        });
        // One underscore where a table meets its key is a different name.
        in_jail(|jail| {
            jail.set_env("TESSERA_CACHE_TTL", "5s");
            let err = load_error();
            assert!(err.contains("TESSERA_CACHE_TTL"), "{err}");
            assert!(err.contains("__"), "{err}");
        });
        in_jail(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[cache]\nttl = \"5s\"\n[auth]\nbogus = 1\n",
            )
            .unwrap();
            let err = load_error();
            assert!(err.contains(DEFAULT_CONFIG_FILE), "{err}");
            assert!(err.contains("`auth.bogus`"), "{err}");
        });
    }

    #[test]
    fn a_rate_limit_needs_both_halves_from_whichever_layers() {
        let err = Config::from_toml("[limits.rate_limit]\nrequests = 10")
            .unwrap_err()
            .to_string();
        assert!(err.contains("limits.rate_limit.per"), "{err}");
        in_jail(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[limits.rate_limit]\nrequests = 10\n")
                .unwrap();
            jail.set_env("TESSERA_LIMITS__RATE_LIMIT__PER", "1s");
            let c = Config::load(None).unwrap();
            assert_eq!(
                c.limits.rate_limit,
                Some(RateLimit {
                    requests: 10,
                    per: Duration::from_secs(1)
                })
            );
        });
    }

    #[test]
    fn variables_read_elsewhere_are_not_settings() {
        in_jail(|jail| {
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
                jail.set_env(name, "anything");
            }
            Config::load(None).unwrap();
        });
    }

    #[test]
    fn secrets_never_print() {
        const SECRET: &str = "0123456789abcdef0123456789abcdef";
        let file = format!(
            "database_url = \"postgres://alice:hunter2@db.example/tessera\"\n\
             [[hashing.keys]]\nid = \"k1\"\nsecret = \"{SECRET}\"\n"
        );
        let c = Config::from_toml(&file).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
        let settings = layers::merged(
            Some(&FileLayer {
                path: "t.toml".into(),
                text: file,
            }),
            Variables::Ignored,
        )
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(shown.contains("k1"), "{shown}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );

        // Nor do the errors about them, from the file or the variables.
        for file in [
            "[[hashing.keys]]\nid = \"k1\"\nsecret = \"short-secret\"",
            "[[hashing.keys]]\nid = \"k1\"\nsecret = 987654321987",
            "database_url = \"mysql://alice:hunter2@h/db\"",
            "database_url = \"postgres://alice:hunter2@\"",
        ] {
            let err = Config::from_toml(file).unwrap_err().to_string();
            for secret in ["short-secret", "987654321987", "hunter2"] {
                assert!(!err.contains(secret), "{file}: {err}");
            }
        }
        for (name, value) in [
            (
                "TESSERA_HASHING__KEYS",
                r#"[{ id = "k1", secret = "short-secret" }]"#,
            ),
            (
                "TESSERA_HASHING__KEYS",
                r#"[{ id = "k1", secret = 987654321987 }]"#,
            ),
            (
                "TESSERA_HASHING__KEYS",
                r#"[{ id = "k1", secret = "short-secret" "#,
            ),
            ("TESSERA_HASHING", r#"{ keys = "short-secret" }"#),
            ("TESSERA_DATABASE_URL", "mysql://alice:hunter2@h/db"),
        ] {
            in_jail(|jail| {
                jail.set_env(name, value);
                let err = load_error();
                assert!(err.contains(name), "{err}");
                for secret in ["short-secret", "987654321987", "hunter2"] {
                    assert!(!err.contains(secret), "{name}={value}: {err}");
                }
            });
        }
    }

    #[test]
    fn kinds_roles_and_keys_from_the_file() {
        let c = Config::from_toml(
            r#"
            role_order = ["admin", "viewer"]
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
    }

    #[test]
    fn a_role_order_must_rank_every_role_once_and_is_named_when_it_does_not() {
        let roles = "[roles]\nboss = [\"tokens:manage\"]\nstaff = [\"tokens:manage\"]\n";
        for (order, says) in [
            (None, "needs role_order"),
            (Some(r#"["boss"]"#), "\"staff\" is not in the order"),
            (
                Some(r#"["boss", "staff", "ghost"]"#),
                "\"ghost\" is not a configured role",
            ),
            (Some(r#"["boss", "staff", "boss"]"#), "more than once"),
        ] {
            let text = match order {
                Some(order) => format!("role_order = {order}\n{roles}"),
                None => roles.to_owned(),
            };
            let err = Config::from_toml(&text).expect_err("refused").to_string();
            assert!(err.contains("role_order"), "{err}");
            assert!(err.contains(says), "{err}");
        }
        let c = Config::from_toml(&format!("role_order = [\"staff\", \"boss\"]\n{roles}")).unwrap();
        assert!(c.roles.rank("staff") < c.roles.rank("boss"));
        // The default roles under another order, or refused naming the key.
        let c =
            Config::from_toml(r#"role_order = ["admin", "owner", "member", "viewer"]"#).unwrap();
        assert_eq!(c.roles.rank("admin"), Some(0));
        let err = Config::from_toml(r#"role_order = ["owner", "admin"]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("role_order") && err.contains("\"member\""),
            "{err}"
        );
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
        in_jail(|_| {
            for profile in crate::profiles::PROFILES {
                let from_text = Config::from_toml(profile.toml)
                    .unwrap_or_else(|e| panic!("profile {}: {e}", profile.name));
                let loaded = Config::load_profile(profile.name).unwrap();
                assert_eq!(from_text.kinds, loaded.kinds, "{}", profile.name);
                let on_disk = std::fs::read_to_string(format!(
                    "{}/../../profiles/{}.toml",
                    env!("CARGO_MANIFEST_DIR"),
                    profile.name
                ))
                .unwrap();
                assert_eq!(on_disk, profile.toml, "{}", profile.name);
            }
            let err = Config::load_profile("gitlab").unwrap_err().to_string();
            assert!(err.contains("groupchat"), "{err}");
        });
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
        in_jail(|_| {
            let teamgantt = Config::load_profile("teamgantt").unwrap();
            assert!(teamgantt.compat.teamgantt);
        });
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

    #[test]
    fn durations_are_spelled_as_they_always_were() {
        for (text, seconds) in [
            ("1s", 1),
            ("10s", 10),
            ("1m", 60),
            ("5m", 300),
            ("12h", 43_200),
            ("30d", 2_592_000),
            ("010s", 10),
        ] {
            assert_eq!(
                parse_duration("k", text).unwrap(),
                Duration::from_secs(seconds),
                "{text}"
            );
        }
        // humantime reads these; Tessera never has.
        for refused in [
            "1y", "2w", "1M", "1h30m", "1h 30m", "1.5h", "10sec", "10 s", " 10s", "10s ", "1us",
            "1ns",
        ] {
            assert!(parse_duration("k", refused).is_err(), "{refused}");
        }
        assert!(parse_duration("k", "0m")
            .unwrap_err()
            .to_string()
            .contains("longer than zero"));
        // As many milliseconds as ever, and no more.
        assert!(parse_duration("k", "213503982334d").is_ok());
        assert!(parse_duration("k", "213503982335d").is_err());

        // Revoked tokens may leave lists at once.
        for zero in ["0", "0s"] {
            let c =
                Config::from_toml(&format!("[tokens]\nrevoked_retention = \"{zero}\"")).unwrap();
            assert_eq!(c.revoked_retention, Duration::ZERO, "{zero}");
        }
        assert!(Config::from_toml("[tokens]\nrevoked_retention = \"0d\"").is_err());

        // `1y` is a token lifetime, read as 365 days by its own parser.
        let c = Config::from_toml(
            "[[kinds]]\nname = \"pat\"\nprefix = \"p_\"\nowner = \"user\"\n\
             expiry_presets = [\"30d\", \"1y\"]\nmax_lifetime = \"1y\"",
        )
        .unwrap();
        let max = c.kinds.get("pat").unwrap().expiry.max_lifetime.unwrap();
        assert_eq!(max.duration(), time::Duration::days(365));
    }
}

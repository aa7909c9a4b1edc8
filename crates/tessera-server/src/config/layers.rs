//! The layers, bottom to top: Tessera's defaults, the file (or profile),
//! then the `TESSERA_*` variables, merged by figment.
//!
//! Each layer is first read on its own, so that an error names the layer
//! that wrote the bad value, under the name that layer gives it: a key of
//! the file, or a variable. No message quotes a secret.

use std::path::{Path, PathBuf};

use figment::error::{Actual, Kind, OneOf};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::error::ConfigError;
use super::settings::Settings;

/// The bottom layer, written as `tessera.toml` would write it. Keys without
/// a default (`auth.token_cookie`, `limits.rate_limit`, `hashing`, `roles`,
/// `kinds`, `permissions`) are absent: their absence means something.
const DEFAULTS: &str = r#"
listen = "127.0.0.1:7400"
database_url = "sqlite:tessera.db"

[auth]
workspace_header = "X-Workspace-Id"
reveal_failure_reasons = false
session_ttl = "12h"
trusted_proxies = []

[limits]
max_active_tokens_per_user = 500

[usage]
flush_interval = "10s"

[tokens]
revoked_retention = "30d"

[cache]
enabled = true
max_tokens = 100000
ttl = "10s"
negative_ttl = "2s"

[compat]
teamgantt = false

[verify]
require_verifier = true

[sign_in]
free_failures = 5
free_failures_per_address = 20
backoff = "1s"
max_backoff = "15m"
queue_wait = "1s"

[server]
header_read_timeout = "10s"
idle_timeout = "60s"
"#;

/// A configuration file's text, and the path its messages name.
pub(super) struct FileLayer {
    pub path: PathBuf,
    pub text: String,
}

impl FileLayer {
    pub fn read(path: &Path) -> Result<FileLayer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FileLayer {
            path: path.to_path_buf(),
            text,
        })
    }

    fn error(&self, error: figment::Error) -> ConfigError {
        ConfigError::File {
            path: self.path.clone(),
            message: describe_file_error(&error),
        }
    }
}

/// Whether the `TESSERA_*` variables of this process make the top layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variables {
    Read,
    Ignored,
}

/// The defaults, then `file`, then (if read) the variables, merged.
pub(super) fn merged(
    file: Option<&FileLayer>,
    variables: Variables,
) -> Result<Settings, ConfigError> {
    let mut layers = Figment::from(Toml::string(DEFAULTS));
    if let Some(file) = file {
        // Read strictly: a file writes `true`, not `"yes"`.
        let file_alone = Figment::from(Toml::string(&file.text));
        file_alone
            .extract::<Settings>()
            .map_err(|e| file.error(e))?;
        layers = layers.merge(file_alone);
    }
    if variables == Variables::Read {
        let variables_alone = Figment::from(short_variables()).merge(nested_variables());
        variables_alone
            .extract_lossy::<Settings>()
            .map_err(variable_error)?;
        layers = layers.merge(variables_alone);
    }
    // Each layer was valid alone, so what is left to find wrong here is in
    // the defaults themselves.
    layers.extract_lossy().map_err(|e| ConfigError::Value {
        key: key_of(&e.path),
        message: reason(&e.kind, holds_a_secret(&e.path)),
    })
}

// ---- the variables ------------------------------------------------------------------

const PREFIX: &str = "TESSERA_";

/// Variables for other parts of Tessera, not settings (after the prefix).
/// `TESSERA_TEST_*` belong to the test suites.
const READ_ELSEWHERE: &[&str] = &[
    "admin_password",
    "new_password",
    "log",
    "log_format",
    "url",
    "token",
    "verifier",
    "config",
    "profile",
];

/// The names the variables had before every key could be set: each is the
/// same setting as its nested spelling, which wins when both are set.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("reveal_failure_reasons", "auth.reveal_failure_reasons"),
    ("trust_forwarded_for", "auth.trust_forwarded_for"),
    ("token_cookie", "auth.token_cookie"),
    ("workspace_header", "auth.workspace_header"),
    ("cache", "cache.enabled"),
    (
        "max_active_tokens_per_user",
        "limits.max_active_tokens_per_user",
    ),
    ("usage_flush_interval", "usage.flush_interval"),
];

fn short_variables() -> TextValues {
    let names: Vec<&str> = SHORT_NAMES.iter().map(|(short, _)| *short).collect();
    TextValues(Env::prefixed(PREFIX).only(&names).map(|short| {
        let (_, key) = SHORT_NAMES
            .iter()
            .find(|(name, _)| short == *name)
            .expect("only short names pass the filter");
        (*key).into()
    }))
}

/// `TESSERA_CACHE__TTL` sets `[cache] ttl`: the key with `__` between a
/// table and its key.
fn nested_variables() -> TextValues {
    TextValues(
        Env::prefixed(PREFIX)
            .filter(|name| {
                let read_elsewhere = READ_ELSEWHERE.iter().any(|n| name == *n);
                let short = SHORT_NAMES.iter().any(|(n, _)| name == *n);
                !read_elsewhere && !short && !name.starts_with("test_")
            })
            .split("__"),
    )
}

/// figment's [`Env`], each value kept as the text it is unless it is written
/// as a list or a table (`[a, b]`, `{ id = "k1", … }`). `Env` alone would make
/// `1` a number and `"x"` lose its quotes, so a cookie named `1` would stop
/// being a name; instead, a key that wants a number or a flag reads it from
/// the text (`extract_lossy`: `10`, `true`, `yes`, `off`).
struct TextValues(Env);

impl Provider for TextValues {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.0
            .iter()
            .fold(Figment::new(), |layer, (key, text)| {
                layer.merge(Serialized::default(key.as_str(), value_of(&text)))
            })
            .data()
    }
}

fn value_of(text: &str) -> Value {
    let written_as_structure = text.trim_start().starts_with(['[', '{']);
    match text.parse::<Value>() {
        Ok(value @ (Value::Array(..) | Value::Dict(..))) if written_as_structure => value,
        _ => Value::from(text.to_owned()),
    }
}

/// `TESSERA_CACHE__TTL` for `cache.ttl`.
fn nested_name(path: &[String]) -> String {
    format!("{PREFIX}{}", path.join("__").to_ascii_uppercase())
}

/// The variable that wrote the key at `path`: the longest nested spelling of
/// it (or of a table holding it) that is set, else its short name.
fn variable_that_set(path: &[String]) -> String {
    let is_set = |name: &str| std::env::var_os(name).is_some();
    for len in (1..=path.len()).rev() {
        let nested = nested_name(&path[..len]);
        if is_set(&nested) {
            return nested;
        }
        let key = path[..len].join(".");
        if let Some((short, _)) = SHORT_NAMES.iter().find(|(_, k)| *k == key) {
            let short = format!("{PREFIX}{}", short.to_ascii_uppercase());
            if is_set(&short) {
                return short;
            }
        }
    }
    nested_name(path)
}

fn variable_error(error: figment::Error) -> ConfigError {
    match &error.kind {
        Kind::UnknownField(field, expected) => {
            let path = unknown_key(&error.path, field);
            let table = &path[..path.len() - 1];
            let known: Vec<String> = expected
                .iter()
                .map(|key| {
                    let mut known = table.to_vec();
                    known.push((*key).to_owned());
                    nested_name(&known)
                })
                .collect();
            ConfigError::Env {
                name: variable_that_set(&path),
                message: format!(
                    "no such setting (here: {}; a key in a table is {PREFIX}TABLE__KEY)",
                    known.join(", ")
                ),
            }
        }
        kind => {
            let name = variable_that_set(&error.path);
            let mut message = reason(kind, holds_a_secret(&error.path));
            // A short name, or a key inside a list or table the variable holds.
            if name != nested_name(&error.path) {
                message = format!("{message} (at `{}`)", key_of(&error.path));
            }
            ConfigError::Env { name, message }
        }
    }
}

// ---- messages ---------------------------------------------------------------------

fn describe_file_error(error: &figment::Error) -> String {
    match &error.kind {
        Kind::UnknownField(field, expected) => {
            let path = unknown_key(&error.path, field);
            format!(
                "`{}` is not a setting (expected {})",
                key_of(&path),
                OneOf(expected)
            )
        }
        // TOML that does not parse.
        Kind::Message(message) if error.path.is_empty() => without_quoted_source(message),
        kind => format!(
            "`{}` is not valid: {}",
            key_of(&error.path),
            reason(kind, holds_a_secret(&error.path))
        ),
    }
}

/// The full path of an unknown key: figment reports the table's path with
/// the key already at its end.
fn unknown_key(path: &[String], field: &str) -> Vec<String> {
    let mut path = path.to_vec();
    if path.last().map(String::as_str) != Some(field) {
        path.push(field.to_owned());
    }
    path
}

/// `kinds[0].prefix`, as the keys have always been named in messages.
fn key_of(path: &[String]) -> String {
    let mut key = String::new();
    for part in path {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
    }
    key
}

/// The hashing keys and the database URL (which may carry a password).
fn holds_a_secret(path: &[String]) -> bool {
    matches!(
        path.first().map(String::as_str),
        Some("hashing" | "database_url")
    )
}

/// Why a value was refused, naming the value unless it may be a secret
/// (then only its type). Tessera's own messages never quote a secret.
fn reason(kind: &Kind, secret: bool) -> String {
    match kind {
        Kind::Message(message) => message.clone(),
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) if secret => {
            format!("found {}, expected {expected}", type_of(found))
        }
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            format!("found {found}, expected {expected}")
        }
        Kind::UnknownVariant(found, expected) => {
            format!("found `{found}`, expected {}", OneOf(expected))
        }
        other => other.to_string(),
    }
}

fn type_of(found: &Actual) -> String {
    match found {
        Actual::Str(_) => "a string".into(),
        Actual::Bool(_) => "a boolean".into(),
        Actual::Char(_) => "a character".into(),
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number".into(),
        Actual::Bytes(_) => "bytes".into(),
        valueless => valueless.to_string(),
    }
}

/// toml's message quotes the line it stopped at, which may hold a secret:
/// keep its position and its reason only.
fn without_quoted_source(message: &str) -> String {
    message
        .lines()
        .filter(|line| {
            let after_line_number = line
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            !line.trim().is_empty() && !after_line_number.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_as_the_file_writes_them() {
        let path = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(key_of(&path(&["listen"])), "listen");
        assert_eq!(key_of(&path(&["kinds", "0", "prefix"])), "kinds[0].prefix");
        assert_eq!(
            key_of(&path(&["hashing", "keys", "1", "secret"])),
            "hashing.keys[1].secret"
        );
    }

    #[test]
    fn a_variable_keeps_its_text_unless_written_as_a_list_or_table() {
        assert_eq!(value_of("1"), Value::from("1".to_owned()));
        assert_eq!(value_of("\"x\""), Value::from("\"x\"".to_owned()));
        assert_eq!(value_of("off"), Value::from("off".to_owned()));
        assert!(matches!(value_of("[a, b]"), Value::Array(..)));
        assert!(matches!(value_of("{ id = \"k1\" }"), Value::Dict(..)));
        // Not a list after all: kept as written.
        assert_eq!(value_of("[oops"), Value::from("[oops".to_owned()));
    }

    #[test]
    fn a_syntax_error_does_not_quote_the_line() {
        let file = FileLayer {
            path: "t.toml".into(),
            text: "[[hashing.keys]]\nid = \"k\"\nsecret = \"unterminated-secret-0123456789\n"
                .into(),
        };
        let err = merged(Some(&file), Variables::Ignored)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("unterminated-secret"), "{err}");
    }
}

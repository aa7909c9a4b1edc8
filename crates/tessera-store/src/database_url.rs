//! The database URL, parsed once, whose password never prints.

use std::fmt;
use std::path::PathBuf;

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:./tessera.db`, `sqlite://path`, or a plain file path.
    Sqlite { path: PathBuf },
    /// `postgres://user:pass@host:port/db` (or `postgresql://`).
    Postgres { url: url::Url },
}

impl DatabaseUrl {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("the database URL is empty".into());
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let url = url::Url::parse(value)
                .map_err(|e| format!("the PostgreSQL URL is not valid: {e}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err("the PostgreSQL URL names no host".into());
            }
            return Ok(DatabaseUrl::Postgres { url });
        }
        let path = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
            .unwrap_or(value);
        if path.is_empty() || path.contains("://") {
            return Err(format!(
                "\"{}\" is not a database URL: use sqlite:PATH or postgres://USER@HOST/DB",
                Redacted(value)
            ));
        }
        if path == ":memory:" {
            return Err(
                "an in-memory SQLite database would lose every token on restart; name a file"
                    .into(),
            );
        }
        Ok(DatabaseUrl::Sqlite { path: path.into() })
    }

    /// The URL with its password replaced by `***`, safe to print.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite { path } => format!("sqlite:{}", path.display()),
            DatabaseUrl::Postgres { url } => {
                let mut shown = url.clone();
                if shown.password().is_some() {
                    let _ = shown.set_password(Some("***"));
                }
                shown.to_string()
            }
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Masks anything after `:` and before `@`, for echoing unparsed input.
struct Redacted<'a>(&'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                write!(
                    f,
                    "{}{user}:***{}",
                    &self.0[..scheme_end + 3],
                    &self.0[at..]
                )
            }
            _ => f.write_str(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_backend_from_the_scheme() {
        assert!(matches!(
            DatabaseUrl::parse("tessera.db"),
            Ok(DatabaseUrl::Sqlite { .. })
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite:./x.db"),
            Ok(DatabaseUrl::Sqlite { .. })
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@localhost/db"),
            Ok(DatabaseUrl::Postgres { .. })
        ));
        assert!(DatabaseUrl::parse("").is_err());
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn never_prints_the_password() {
        let url = DatabaseUrl::parse("postgres://alice:hunter2@db.example/tessera").unwrap();
        assert!(!url.to_string().contains("hunter2"));
        assert!(!format!("{url:?}").contains("hunter2"));
        let err = DatabaseUrl::parse("mysql://alice:hunter2@h/db").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}

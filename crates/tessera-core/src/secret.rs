//! The plaintext of a token. It exists between generation and the one response
//! that shows it, and between extraction from a request and hashing. Its
//! `Debug` never prints it, so it cannot leak through a log line by accident,
//! and it is held in a `secrecy` box, which wipes the memory when dropped.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone)]
pub struct PlaintextToken(SecretString);

impl PlaintextToken {
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }

    /// The secret itself. Call this only to hash it or to put it, once, in
    /// the response that creates it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Compared in constant time, like every other comparison of secrets.
impl PartialEq for PlaintextToken {
    fn eq(&self, other: &Self) -> bool {
        crate::hash::constant_time_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for PlaintextToken {}

impl fmt::Debug for PlaintextToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlaintextToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let token = PlaintextToken::new("tsr_pat_supersecret".into());
        assert!(!format!("{token:?}").contains("supersecret"));
    }
}

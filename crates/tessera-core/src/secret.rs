//! The plaintext of a token. It exists between generation and the one response
//! that shows it, and between extraction from a request and hashing. Its
//! `Debug` never prints it, so it cannot leak through a log line by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct PlaintextToken(String);

impl PlaintextToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The secret itself. Call this only to hash it or to put it, once, in
    /// the response that creates it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

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

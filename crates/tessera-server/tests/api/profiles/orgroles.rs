//! Conformance: profiles/orgroles.toml (written next).

//! Conformance: profiles/teamday.toml (written next).

//! Conformance: profiles/teamgantt.toml (written next).

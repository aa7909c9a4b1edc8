//! Conformance: profiles/groo.toml (written next).

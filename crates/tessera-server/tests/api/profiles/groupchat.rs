//! Conformance: profiles/groupchat.toml (written next).

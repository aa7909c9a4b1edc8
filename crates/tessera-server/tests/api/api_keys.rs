//! Placeholder: stories land in the next commit.

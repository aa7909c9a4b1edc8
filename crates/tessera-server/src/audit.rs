//! The audit vocabulary under its old path, for the verification engine
//! (`verifier.rs`), which writes the reuse-detection event itself until it
//! moves to its own crate and reports a `ReuseDetected` outcome instead
//! (recorded with [`crate::service::audit::Audit::reuse_detected`]). New
//! code names [`crate::principal`] and [`crate::service::audit`].

pub use crate::principal::{Actor, Target};
pub use crate::service::audit::append;

//! Tessera's pure logic. Nothing here performs I/O: the token format, hashing,
//! identifiers, permission sets, expiry rules, credential kinds and the policy
//! that turns facts about a token into an identity or a denial.
//!
//! Everything in this crate is deterministic given its inputs (randomness comes
//! only from [`format::generate`] and [`ids::new_id`], both of which draw from
//! the operating system's CSPRNG), which is what makes it unit- and
//! property-testable.

pub mod base62;
pub mod expiry;
pub mod format;
pub mod granting;
pub mod hash;
pub mod ids;
pub mod kind;
pub mod permissions;
pub mod policy;
pub mod secret;
pub mod verifier_credential;

pub use expiry::{ExpiryError, ExpiryPolicy, ExpiryRequest, Lifetime};
pub use format::{ParseError, ParsedToken, TokenFormat};
pub use hash::{HashKey, TokenHash, TokenHasher};
pub use kind::{CredentialKind, KindSet, OwnerType, WorkspaceBinding};
pub use permissions::{Permission, PermissionSet, RoleMap};
pub use policy::{Denial, Identity};
pub use secret::PlaintextToken;

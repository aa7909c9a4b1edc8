//! The use cases: everything Tessera does with tokens, API keys, agents,
//! users, workspaces and sessions, in one place that the REST API, the
//! settings pages and the command line all call. Handlers decide who may
//! ask and translate HTTP; a service decides what is allowed to exist.
//!
//! Services take and return domain values (store records, core types, small
//! request structs), never HTTP types, and fail with [`crate::AppError`].
//! Each is a small struct holding what it needs; the server's state is a
//! container of them.

pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod bootstrap;
pub mod changes;
pub mod sessions;
pub mod sign_in_limits;
pub mod tokens;
pub mod users;
pub mod validate;
pub mod verification;
pub mod verifiers;
pub mod workspaces;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A time as the API and the audit trail write it: RFC 3339, UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

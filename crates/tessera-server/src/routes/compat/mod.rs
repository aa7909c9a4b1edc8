//! Compatibility routes: another product's own token endpoints, mounted
//! beside `/api/v1` when the deployment switches them on (`[compat]` in
//! `tessera.toml`). They authenticate exactly as the management API does and
//! run the same lifecycle; only the paths and the JSON shapes are the
//! product's.

pub mod teamgantt;

use utoipa_axum::router::OpenApiRouter;

use crate::config::CompatConfig;
use crate::state::AppState;

/// The compatibility routes switched on in `config` (none by default), with
/// their OpenAPI descriptions.
pub fn router(config: &CompatConfig) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new();
    if config.teamgantt {
        router = router.merge(teamgantt::router());
    }
    router
}

//! What every handler shares: the settings, the store, the verification
//! engine, and the services that hold the use cases.

use std::ops::Deref;
use std::sync::Arc;

use axum::http::request::Parts;

use tessera_store::Store;

use crate::auth;
use crate::client::KnowsTrustedProxies;
use crate::config::Config;
use crate::error::AppResult;
use crate::forwarded::TrustedProxies;
use crate::metrics::Metrics;
use crate::principal::{Authenticate, Caller, Presentation};
use crate::service::agents::Agents;
use crate::service::api_keys::ApiKeys;
use crate::service::audit::Audit;
use crate::service::bootstrap::Bootstrap;
use crate::service::changes::Changes;
use crate::service::sessions::Sessions;
use crate::service::tokens::Tokens;
use crate::service::users::Users;
use crate::service::verification::Verification;
use crate::service::verifiers::Verifiers;
use crate::service::workspaces::Workspaces;
use crate::verification::{self, Invalidation, Verifier};

/// The handlers' shared state, behind one `Arc`: axum clones the state for
/// every request (and with every clone of a route's service), so a clone is
/// one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub verifier: Arc<Verifier>,
    pub metrics: Arc<Metrics>,
    /// Verifies presented tokens, and settles what a verification found.
    pub verification: Verification,
    /// How a change takes effect on every instance.
    pub changes: Changes,
    pub audit: Audit,
    pub tokens: Tokens,
    pub api_keys: ApiKeys,
    pub agents: Agents,
    pub users: Users,
    pub workspaces: Workspaces,
    pub sessions: Sessions,
    pub bootstrap: Bootstrap,
    /// Who may ask the verification surfaces.
    pub verifiers: Verifiers,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let verifier = Arc::new(Verifier::new(
            verification::settings(&config),
            store.clone(),
        ));
        let metrics = Arc::new(Metrics::new(verifier.clone()));
        let config = Arc::new(config);
        let changes = Changes::new(verifier.clone());
        let audit = Audit::new(store.clone());
        let tokens = Tokens::new(
            config.clone(),
            store.clone(),
            changes.clone(),
            audit.clone(),
        );
        let workspaces = Workspaces::new(
            config.clone(),
            store.clone(),
            changes.clone(),
            audit.clone(),
        );
        let users = Users::new(
            store.clone(),
            changes.clone(),
            audit.clone(),
            tokens.clone(),
            workspaces.clone(),
        );
        let agents = Agents::new(
            config.clone(),
            store.clone(),
            audit.clone(),
            tokens.clone(),
            users.clone(),
            workspaces.clone(),
        );
        let verification = Verification::new(verifier.clone(), tokens.clone());
        Self(Arc::new(Shared {
            api_keys: ApiKeys::new(config.clone(), tokens.clone()),
            sessions: Sessions::new(config.clone(), store.clone(), audit.clone()),
            bootstrap: Bootstrap::new(store.clone(), users.clone()),
            verifiers: Verifiers::new(
                config.clone(),
                store.clone(),
                verifier.clone(),
                changes.clone(),
                audit.clone(),
            ),
            config,
            store,
            verifier,
            metrics,
            verification,
            changes,
            audit,
            tokens,
            agents,
            users,
            workspaces,
        }))
    }

    /// Makes a change take effect at once: the local cache forgets what it
    /// made stale, and other instances are told through the store.
    pub async fn invalidate(&self, change: Invalidation) {
        self.changes.apply(change).await
    }

    /// Writes buffered usage now (the verifier's background work does this
    /// on its interval).
    pub async fn flush_usage(&self) {
        self.verifier.flush_usage().await;
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// A handler's `Caller` is found with this state's verifier and sessions.
impl Authenticate for AppState {
    async fn caller(&self, parts: &Parts, presentation: Presentation) -> AppResult<Caller> {
        auth::caller(
            parts,
            presentation,
            &self.config,
            &self.verification,
            &self.sessions,
        )
        .await
    }
}

impl KnowsTrustedProxies for AppState {
    fn trusted_proxies(&self) -> &TrustedProxies {
        &self.config.auth.trusted_proxies
    }
}

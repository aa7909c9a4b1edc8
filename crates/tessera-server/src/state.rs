//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use tessera_store::Store;

use crate::cache::Invalidation;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::usage::UsageBuffer;
use crate::verifier::Verifier;

/// The handlers' shared state, behind one `Arc`: axum clones the state for
/// every request (and with every clone of a route's service), so a clone is
/// one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub verifier: Arc<Verifier>,
    pub usage: Arc<UsageBuffer>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let usage = Arc::new(UsageBuffer::default());
        let metrics = Arc::new(Metrics::default());
        let verifier = Arc::new(Verifier::new(
            &config,
            store.clone(),
            usage.clone(),
            metrics.clone(),
        ));
        Self(Arc::new(Shared {
            config: Arc::new(config),
            store,
            verifier,
            usage,
            metrics,
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Makes a change take effect at once: the local cache forgets what it
    /// made stale, and other instances are told through the store.
    pub async fn invalidate(&self, change: Invalidation) {
        self.verifier.invalidate(&change);
        if let Err(e) = self.store.publish_invalidation(&change.encode()).await {
            // The other instances' caches expire within their TTL anyway.
            tracing::warn!(error = %e, "could not notify other instances of a change");
        }
    }

    /// Writes buffered usage now (the flusher does this on its interval).
    pub async fn flush_usage(&self) {
        match self.usage.flush(&self.store).await {
            Ok(0) => {}
            Ok(_) => self.metrics.usage_flushed(true),
            Err(e) => {
                self.metrics.usage_flushed(false);
                tracing::warn!(error = %e, "could not write token usage; will retry");
            }
        }
    }
}

//! Making a change take effect everywhere at once.

use std::sync::Arc;

use tessera_store::Store;

use crate::cache::Invalidation;
use crate::verifier::Verifier;

/// Where every change that must take effect at once goes (a new token, a
/// revocation or rotation, a suspension or removal, a role change): this
/// instance's verifier forgets what the change made stale, and the other
/// instances are told through the store. The one place that knows how.
#[derive(Clone)]
pub struct Changes {
    verifier: Arc<Verifier>,
    store: Arc<dyn Store>,
}

impl Changes {
    pub fn new(verifier: Arc<Verifier>, store: Arc<dyn Store>) -> Self {
        Changes { verifier, store }
    }

    /// Applies `change` here, then tells the other instances.
    pub async fn apply(&self, change: Invalidation) {
        self.verifier.invalidate(&change);
        if let Err(e) = self.store.publish_invalidation(&change.encode()).await {
            // The other instances' caches expire within their TTL anyway.
            tracing::warn!(error = %e, "could not notify other instances of a change");
        }
    }
}

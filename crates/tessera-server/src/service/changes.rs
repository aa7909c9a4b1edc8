//! Making a change take effect everywhere at once.

use std::sync::Arc;

use crate::verification::{Invalidation, Verifier};

/// Where every change that must take effect at once goes (a new token, a
/// revocation or rotation, a suspension or removal, a role change): this
/// instance's verifier forgets what the change made stale, and the other
/// instances are told through the store. The one place that knows how.
#[derive(Clone)]
pub struct Changes {
    verifier: Arc<Verifier>,
}

impl Changes {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Changes { verifier }
    }

    /// Applies `change` here, then tells the other instances.
    pub async fn apply(&self, change: Invalidation) {
        self.verifier.invalidate_everywhere(&change).await;
    }
}

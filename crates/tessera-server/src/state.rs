//! What every handler shares.

use std::sync::Arc;

use tessera_store::Store;

use crate::config::Config;
use crate::usage::UsageBuffer;
use crate::verifier::Verifier;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub verifier: Arc<Verifier>,
    pub usage: Arc<UsageBuffer>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let usage = Arc::new(UsageBuffer::default());
        let verifier = Arc::new(Verifier::new(&config, store.clone(), usage.clone()));
        Self {
            config: Arc::new(config),
            store,
            verifier,
            usage,
        }
    }

    /// Writes buffered usage now (the flusher does this on its interval).
    pub async fn flush_usage(&self) {
        if let Err(e) = self.usage.flush(&self.store).await {
            tracing::warn!(error = %e, "could not write token usage; will retry");
        }
    }
}

//! "Last used" without a database write per request: uses are buffered in
//! memory and written in one batch every flush interval and on shutdown.
//! A token's "last used" may therefore lag by up to one interval (10 s by
//! default); a crash loses at most that much usage, never a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tessera_store::{Store, StoreResult, TokenUsage, LAST_USED_IPS_KEPT};

/// Uses not yet written, per token, oldest first. Each token keeps at most
/// one entry per distinct address (the latest), so the buffer stays small
/// however busy a token is.
#[derive(Debug, Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<String, Vec<TokenUsage>>>,
}

impl UsageBuffer {
    pub fn record(&self, usage: TokenUsage) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // A busy token is already here: look it up without copying its id.
        let Some(uses) = pending.get_mut(&usage.token_id) else {
            pending.insert(usage.token_id.clone(), vec![usage]);
            return;
        };
        uses.retain(|u| u.ip != usage.ip);
        uses.push(usage);
        if uses.len() > LAST_USED_IPS_KEPT {
            uses.remove(0);
        }
    }

    /// Writes everything buffered. On failure the uses are put back, so a
    /// store outage delays "last used" rather than losing it.
    pub async fn flush(&self, store: &Arc<dyn Store>) -> StoreResult<usize> {
        let batch: Vec<TokenUsage> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending)
                .into_values()
                .flatten()
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match store.record_usage(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for usage in batch {
                    self.record_if_newer(usage);
                }
                Err(e)
            }
        }
    }

    fn record_if_newer(&self, usage: TokenUsage) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let uses = pending.entry(usage.token_id.clone()).or_default();
        if !uses.iter().any(|u| u.ip == usage.ip) && uses.len() < LAST_USED_IPS_KEPT {
            uses.insert(0, usage);
        }
    }

    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn use_from(ip: &str) -> TokenUsage {
        TokenUsage {
            token_id: "tok_1".into(),
            at: OffsetDateTime::now_utc(),
            ip: Some(ip.into()),
            user_agent: None,
        }
    }

    #[test]
    fn keeps_one_entry_per_address_and_at_most_five() {
        let buffer = UsageBuffer::default();
        for i in 0..20 {
            buffer.record(use_from(&format!("10.0.0.{}", i % 7)));
        }
        let pending = buffer.pending.lock().unwrap();
        let uses = &pending["tok_1"];
        assert_eq!(uses.len(), LAST_USED_IPS_KEPT);
        assert_eq!(uses.last().unwrap().ip.as_deref(), Some("10.0.0.5"));
    }
}

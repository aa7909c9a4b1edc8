//! "Last used" without a database write per request: uses are buffered in
//! memory and written in one batch every flush interval and on shutdown.
//! A token's "last used" may therefore lag by up to one interval (10 s by
//! default); a crash loses at most that much usage, never a token.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use foldhash::HashMap;

use time::OffsetDateTime;

use tessera_store::{Store, StoreResult, TokenUsage, LAST_USED_IPS_KEPT};

use crate::client::Client;

/// Uses not yet written, per token, oldest first. Each token keeps at most
/// one entry per distinct address (the latest), so the buffer stays small
/// however busy a token is.
#[derive(Debug, Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<String, Vec<TokenUsage>>>,
}

impl UsageBuffer {
    /// Notes one use of a token. Called on every successful verification, so
    /// the usual case (the same token from the same address again) only
    /// moves a time: nothing is allocated.
    pub fn record(&self, token_id: &str, at: OffsetDateTime, client: Client<'_>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let new_use = || TokenUsage {
            token_id: token_id.to_owned(),
            at,
            ip: client.ip.map(str::to_owned),
            user_agent: client.user_agent.map(str::to_owned),
        };
        let Some(uses) = pending.get_mut(token_id) else {
            pending.insert(token_id.to_owned(), vec![new_use()]);
            return;
        };
        if let Some(latest) = uses.last_mut().filter(|u| u.ip.as_deref() == client.ip) {
            latest.at = at;
            if latest.user_agent.as_deref() != client.user_agent {
                latest.user_agent = client.user_agent.map(str::to_owned);
            }
            return;
        }
        uses.retain(|u| u.ip.as_deref() != client.ip);
        uses.push(new_use());
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

/// The last use of one token handed to the buffer: its second and its
/// client, packed in one word that lives with the cached token. A busy token
/// is verified many times a second by the same client, and "last used" is
/// kept to the second, so only the first of those uses is news; the rest
/// skip the buffer (its lock and its map) altogether.
#[derive(Debug, Default)]
pub struct LastRecorded(AtomicU64);

impl LastRecorded {
    /// Whether a use at `at` by `client` is news, noting it if so. Two
    /// threads may both find a use new; the buffer keeps one entry per
    /// address, so recording both costs nothing but the time.
    pub fn is_news(&self, at: OffsetDateTime, client: Client<'_>) -> bool {
        let client_hash = foldhash::fast::FixedState::default().hash_one(client) as u32;
        let stamp = (at.unix_timestamp() as u64) << 32 | u64::from(client_hash);
        if self.0.load(Ordering::Relaxed) == stamp {
            return false;
        }
        self.0.store(stamp, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client<'a>(ip: &'a str, user_agent: &'a str) -> Client<'a> {
        Client::new(Some(ip), Some(user_agent))
    }

    #[test]
    fn keeps_one_entry_per_address_and_at_most_five() {
        let buffer = UsageBuffer::default();
        for i in 0..20 {
            let ip = format!("10.0.0.{}", i % 7);
            buffer.record("tok_1", OffsetDateTime::now_utc(), client(&ip, "curl"));
        }
        let pending = buffer.pending.lock().unwrap();
        let uses = &pending["tok_1"];
        assert_eq!(uses.len(), LAST_USED_IPS_KEPT);
        assert_eq!(uses.last().unwrap().ip.as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn a_repeated_use_moves_the_latest_time_and_agent() {
        let buffer = UsageBuffer::default();
        let first = OffsetDateTime::UNIX_EPOCH;
        let later = first + time::Duration::hours(1);
        buffer.record("tok_1", first, client("10.0.0.1", "curl"));
        buffer.record("tok_1", later, client("10.0.0.1", "wget"));
        let pending = buffer.pending.lock().unwrap();
        let uses = &pending["tok_1"];
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].at, later);
        assert_eq!(uses[0].user_agent.as_deref(), Some("wget"));
    }

    #[test]
    fn only_the_first_use_in_a_second_by_a_client_is_news() {
        let last = LastRecorded::default();
        let second = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let curl = client("10.0.0.1", "curl");
        assert!(last.is_news(second, curl));
        assert!(!last.is_news(second + time::Duration::milliseconds(900), curl));
        assert!(last.is_news(second, client("10.0.0.2", "curl")));
        assert!(last.is_news(second, client("10.0.0.2", "wget")));
        assert!(last.is_news(
            second + time::Duration::seconds(1),
            client("10.0.0.2", "wget")
        ));
    }
}

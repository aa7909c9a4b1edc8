//! Coalesced token look-ups. When the verifier's cache is cold (a restart,
//! a flood of distinct tokens, or the cache turned off) many verifications
//! ask the store at the same moment. On PostgreSQL each query costs a
//! network round trip and a backend's statement cycle, so the look-ups
//! waiting at one moment are answered by one query.
//!
//! Nothing waits on purpose: a look-up is sent at once when a query slot is
//! free. Only while every slot is busy do look-ups queue, and the queue then
//! leaves as one query. A quiet server therefore answers as before, and a
//! busy one sends fewer, larger queries.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::codec::{pick_from, FoundSecret};
use crate::{FoundToken, StoreError, StoreResult, TokenHash};

/// Look-ups sent as one query at most: the query binds one digest each.
const MAX_BATCH: usize = 256;

struct Waiting {
    candidates: Vec<TokenHash>,
    reply: oneshot::Sender<StoreResult<Option<FoundToken>>>,
}

pub(crate) struct Coalescer {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl Coalescer {
    /// `fetch` reads every secret whose digest is among those given, with
    /// its token and owner; at most `slots` such queries run at once.
    pub(crate) fn new<F, Fut>(slots: usize, fetch: F) -> Self
    where
        F: Fn(Vec<Vec<u8>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StoreResult<Vec<FoundSecret>>> + Send + 'static,
    {
        let (queue, mut waiting) = mpsc::unbounded_channel::<Waiting>();
        let fetch = Arc::new(fetch);
        let slots = Arc::new(Semaphore::new(slots.max(1)));
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                // Take a slot first: while none is free, look-ups gather.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let fetch = fetch.clone();
                tokio::spawn(async move {
                    let digests = batch
                        .iter()
                        .flat_map(|w| w.candidates.iter().map(|c| c.digest.to_vec()))
                        .collect();
                    let found = fetch(digests).await;
                    drop(slot);
                    answer(batch, found);
                });
            }
        });
        Coalescer { queue }
    }

    /// The token one of `candidates` belongs to, as
    /// [`Store::find_token_by_hash`](crate::Store::find_token_by_hash) answers.
    pub(crate) async fn find(&self, candidates: &[TokenHash]) -> StoreResult<Option<FoundToken>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Waiting {
                candidates: candidates.to_vec(),
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn answer(batch: Vec<Waiting>, found: StoreResult<Vec<FoundSecret>>) {
    match found {
        Ok(found) => {
            for waiting in batch {
                let _ = waiting
                    .reply
                    .send(Ok(pick_from(&found, &waiting.candidates)));
            }
        }
        Err(e) => {
            for waiting in batch {
                let _ = waiting.reply.send(Err(e.copy_for_another_caller()));
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the token look-up task has stopped".into())
}

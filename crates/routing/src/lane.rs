//! One lane per endpoint: a bounded queue in front of the endpoint and a worker that delivers
//! from it, a few at a time, retrying with exponential backoff and jitter, dead-lettering
//! after the last attempt or a permanent refusal, and removing each entry from the outbox
//! once it is settled.
//!
//! The queue's bound is the lane's backpressure: the router reserves a slot before it accepts
//! a message, so a slow or dead endpoint fills only its own queue and holds back only the
//! messages routed to it. Memory per lane stays below `capacity + concurrency` envelopes.
//! With `concurrency` above 1 copies may arrive out of order; set it to 1 for a lane that
//! must keep order (a failing message then holds back the ones behind it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::endpoint::{DeliveryError, Endpoint};
use crate::outbox::{DeadLetter, DeadLetters, EntryId, Outbox, OutboxEntry};
use crate::route::EndpointName;

/// How a lane retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a copy is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): the exponential step, then a
    /// random point in its upper half, so that lanes failing together do not retry together
    /// and no wait collapses to nothing.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        let half = step / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::rng().random_range(0..=jitter_ns))
    }
}

/// A lane's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneConfig {
    /// Copies queued in memory before the router waits for room.
    pub capacity: usize,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Time one delivery attempt may take before it counts as a retryable failure.
    pub attempt_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for LaneConfig {
    fn default() -> LaneConfig {
        LaneConfig {
            capacity: 1024,
            concurrency: 16,
            attempt_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// A lane's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub in_flight: AtomicU64,
}

/// A snapshot of a lane's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneStats {
    pub endpoint: EndpointName,
    /// Copies waiting in the lane's queue.
    pub queued: usize,
    pub capacity: usize,
    pub in_flight: u64,
    pub delivered: u64,
    /// Failed attempts that were retried.
    pub retried: u64,
    pub dead_lettered: u64,
}

/// What the worker needs, shared with its delivery tasks.
pub(crate) struct LaneContext {
    pub name: EndpointName,
    pub endpoint: Arc<dyn Endpoint>,
    pub outbox: Arc<dyn Outbox>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub config: LaneConfig,
    pub counters: Arc<Counters>,
}

/// Most completions handed to the outbox at once.
const COMPLETION_BATCH: usize = 256;

/// Runs the lane until its queue closes and every delivery in flight has settled: delivers
/// from the queue, `concurrency` at a time, and removes settled entries from the outbox in
/// batches.
pub(crate) async fn run(ctx: Arc<LaneContext>, queue: mpsc::Receiver<OutboxEntry>) {
    // Unbounded, but it holds only ids of settled entries, at most one per entry the lane
    // has taken, and the completer drains it continuously.
    let (settled_tx, settled_rx) = mpsc::unbounded_channel();
    tokio::join!(
        deliver_all(ctx.clone(), queue, settled_tx),
        complete_all(ctx, settled_rx)
    );
}

async fn deliver_all(
    ctx: Arc<LaneContext>,
    mut queue: mpsc::Receiver<OutboxEntry>,
    settled: mpsc::UnboundedSender<EntryId>,
) {
    let slots = Arc::new(Semaphore::new(ctx.config.concurrency.max(1)));
    let mut deliveries = JoinSet::new();
    while let Some(entry) = queue.recv().await {
        // Waiting for a slot leaves the rest in the queue, which is what makes the router
        // wait once the queue is full.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        while deliveries.try_join_next().is_some() {}
        let ctx = ctx.clone();
        let settled = settled.clone();
        deliveries.spawn(async move {
            let _slot = slot;
            if let Some(id) = settle(&ctx, entry).await {
                // The completer only stops after every sender is gone.
                let _ = settled.send(id);
            }
        });
    }
    while deliveries.join_next().await.is_some() {}
}

async fn complete_all(ctx: Arc<LaneContext>, mut settled: mpsc::UnboundedReceiver<EntryId>) {
    let mut batch = Vec::with_capacity(COMPLETION_BATCH);
    while settled.recv_many(&mut batch, COMPLETION_BATCH).await > 0 {
        if let Err(e) = ctx.outbox.complete(&batch).await {
            // The copies are settled; left in the outbox they are delivered again after a
            // restart, which at-least-once allows.
            tracing::warn!(
                endpoint = %ctx.name, count = batch.len(), error = %e,
                "settled copies could not be removed from the outbox"
            );
        }
        batch.clear();
    }
}

/// Delivers one entry until it is accepted or given up, and records the outcome. Returns the
/// entry's id when it may leave the outbox.
async fn settle(ctx: &LaneContext, entry: OutboxEntry) -> Option<EntryId> {
    let c = &ctx.counters;
    c.in_flight.fetch_add(1, Ordering::Relaxed);
    let max_attempts = ctx.config.retry.max_attempts.max(1);
    let mut attempt = 0;
    let (error, permanent) = loop {
        attempt += 1;
        let result = match tokio::time::timeout(
            ctx.config.attempt_timeout,
            ctx.endpoint.deliver(&entry.envelope),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::Retryable(format!(
                "no answer within {} ms",
                ctx.config.attempt_timeout.as_millis()
            ))),
        };
        match result {
            Ok(()) => {
                c.delivered.fetch_add(1, Ordering::Relaxed);
                c.in_flight.fetch_sub(1, Ordering::Relaxed);
                return Some(entry.id);
            }
            Err(e @ DeliveryError::Retryable(_)) if attempt < max_attempts => {
                c.retried.fetch_add(1, Ordering::Relaxed);
                let wait = ctx.config.retry.backoff(attempt);
                tracing::debug!(
                    endpoint = %ctx.name, kind = ctx.endpoint.kind(), entry.id = entry.id,
                    attempt, wait_ms = wait.as_millis() as u64, error = %e,
                    "delivery failed; retrying"
                );
                tokio::time::sleep(wait).await;
            }
            Err(e) => break (e.to_string(), !e.is_retryable()),
        }
    };
    c.in_flight.fetch_sub(1, Ordering::Relaxed);
    tracing::warn!(
        endpoint = %ctx.name, kind = ctx.endpoint.kind(), entry.id = entry.id,
        envelope.id = %entry.envelope.id, attempts = attempt, permanent, error = %error,
        "copy dead-lettered"
    );
    let id = entry.id;
    let letter = DeadLetter {
        entry,
        attempts: attempt,
        error,
        permanent,
        at: chrono::Utc::now(),
    };
    match ctx.dead_letters.record(letter).await {
        Ok(()) => {
            c.dead_lettered.fetch_add(1, Ordering::Relaxed);
            Some(id)
        }
        Err(e) => {
            // Kept in the outbox: the next start tries it again rather than losing it.
            tracing::error!(
                endpoint = %ctx.name, entry.id = id, error = %e,
                "dead letter could not be recorded; the copy stays in the outbox"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_at_the_maximum() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = p.backoff(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }
}

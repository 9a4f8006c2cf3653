//! Durable queues behind the router: the [`Outbox`] holds every routed copy from the moment
//! the router accepts a message until its endpoint has accepted it (or it was dead-lettered),
//! so nothing acknowledged to a device is lost in a restart; [`DeadLetters`] keeps what could
//! not be delivered. The service implements both over its database; the memory versions here
//! serve tests and a single process that accepts losing its queue when it stops.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::route::EndpointName;

/// An outbox entry's id: ascending in enqueue order.
pub type EntryId = u64;

/// A routed copy waiting for its endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    pub id: EntryId,
    pub endpoint: EndpointName,
    /// The endpoint's copy: enrichments and annotation applied.
    pub envelope: Envelope,
    pub enqueued_at: DateTime<Utc>,
}

/// A copy to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub endpoint: EndpointName,
    pub envelope: Envelope,
}

/// A storage failure of the outbox or the dead letters.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// The durable queue of routed copies.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Stores the entries durably, all or none, and returns their ids in the same order.
    /// When this returns `Ok`, a crash must not lose them.
    async fn enqueue(
        &self,
        entries: &[NewEntry],
        now: DateTime<Utc>,
    ) -> Result<Vec<EntryId>, StorageError>;

    /// The endpoint's entries not yet completed, oldest first.
    async fn pending(&self, endpoint: &EndpointName) -> Result<Vec<OutboxEntry>, StorageError>;

    /// Removes delivered or dead-lettered entries (lanes hand them over in batches, so one
    /// statement can remove many). Removing an absent id is not an error.
    async fn complete(&self, ids: &[EntryId]) -> Result<(), StorageError>;
}

/// A copy that could not be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub entry: OutboxEntry,
    pub attempts: u32,
    /// The last failure.
    pub error: String,
    /// The endpoint refused it for good (rather than failing too often).
    pub permanent: bool,
    pub at: DateTime<Utc>,
}

/// Where undeliverable copies are recorded.
#[async_trait]
pub trait DeadLetters: Send + Sync + 'static {
    async fn record(&self, letter: DeadLetter) -> Result<(), StorageError>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves the data consistent before it can panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An outbox in memory. Shared through an `Arc`, it survives a router being dropped and
/// rebuilt (what the tests use to stand for a restart), not the process.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    state: Mutex<MemoryOutboxState>,
}

#[derive(Debug, Default)]
struct MemoryOutboxState {
    next: EntryId,
    entries: BTreeMap<EntryId, OutboxEntry>,
}

impl MemoryOutbox {
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    /// How many entries wait, over all endpoints.
    pub fn len(&self) -> usize {
        lock(&self.state).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(
        &self,
        entries: &[NewEntry],
        now: DateTime<Utc>,
    ) -> Result<Vec<EntryId>, StorageError> {
        let mut state = lock(&self.state);
        let mut ids = Vec::with_capacity(entries.len());
        for e in entries {
            state.next += 1;
            let id = state.next;
            state.entries.insert(
                id,
                OutboxEntry {
                    id,
                    endpoint: e.endpoint.clone(),
                    envelope: e.envelope.clone(),
                    enqueued_at: now,
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    async fn pending(&self, endpoint: &EndpointName) -> Result<Vec<OutboxEntry>, StorageError> {
        Ok(lock(&self.state)
            .entries
            .values()
            .filter(|e| &e.endpoint == endpoint)
            .cloned()
            .collect())
    }

    async fn complete(&self, ids: &[EntryId]) -> Result<(), StorageError> {
        let mut state = lock(&self.state);
        for id in ids {
            state.entries.remove(id);
        }
        Ok(())
    }
}

/// Dead letters in memory.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    pub fn new() -> MemoryDeadLetters {
        MemoryDeadLetters::default()
    }

    pub fn letters(&self) -> Vec<DeadLetter> {
        lock(&self.letters).clone()
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn record(&self, letter: DeadLetter) -> Result<(), StorageError> {
        lock(&self.letters).push(letter);
        Ok(())
    }
}

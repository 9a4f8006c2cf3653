//! Group commit in front of database storage. Every device's QoS 1 message waits for its
//! outbox transaction, and the built-in endpoint writes each message it keeps; a database
//! commits one transaction at a time per writer (SQLite has one writer; each PostgreSQL commit
//! waits for its WAL flush), so one transaction per message caps a hub at the database's commit
//! rate. [`GroupCommit`] (for an [`Outbox`]) and [`GroupAppend`] (for a [`TelemetryStore`])
//! hand the calls that arrive while a commit is running to the next commit as one transaction,
//! then answer each caller: the same promise per call (durable once `Ok`, all or none), far
//! fewer commits under load, and no added wait when the hub is quiet (a lone call is committed
//! at once). A batch the store refuses is retried call by call, so one bad call fails alone.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::endpoint::builtin::{StoreError, TelemetryStore};
use crate::envelope::Envelope;
use crate::outbox::{EntryId, NewEntry, Outbox, OutboxEntry, StorageError};
use crate::route::EndpointName;

/// Calls waiting for the writer before callers wait to hand theirs over.
const QUEUED_CALLS: usize = 4096;

/// A call waiting for the next commit, and where its answer goes.
struct Waiting<Call, Answer> {
    call: Call,
    reply: oneshot::Sender<Answer>,
}

impl<Call, Answer> Waiting<Call, Answer> {
    fn answer(self, answer: Answer) {
        // A caller that gave up is no reason to stop; what it handed over is stored anyway.
        let _ = self.reply.send(answer);
    }
}

/// The queue in front of one writer task, which takes what is waiting (up to `max_items`
/// items; a single larger call goes alone), commits it with `commit`, and starts over. The
/// task ends when the queue is dropped.
struct Writer<Call, Answer> {
    calls: mpsc::Sender<Waiting<Call, Answer>>,
}

impl<Call: Send + 'static, Answer: Send + 'static> Writer<Call, Answer> {
    fn start<Commit, Done>(max_items: usize, items: fn(&Call) -> usize, commit: Commit) -> Self
    where
        Commit: Fn(Vec<Waiting<Call, Answer>>) -> Done + Send + 'static,
        Done: Future<Output = ()> + Send,
    {
        let (calls, mut waiting) = mpsc::channel::<Waiting<Call, Answer>>(QUEUED_CALLS);
        let max_items = max_items.max(1);
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let mut size = items(&first.call);
                let mut batch = vec![first];
                while size < max_items {
                    match waiting.try_recv() {
                        Ok(next) => {
                            size += items(&next.call);
                            batch.push(next);
                        }
                        Err(_) => break,
                    }
                }
                commit(batch).await;
            }
        });
        Writer { calls }
    }

    /// Hands the call to the writer and waits for its answer; `None` once the writer is gone.
    async fn call(&self, call: Call) -> Option<Answer> {
        let (reply, answer) = oneshot::channel();
        self.calls.send(Waiting { call, reply }).await.ok()?;
        answer.await.ok()
    }
}

const WRITER_STOPPED: &str = "the group-commit writer has stopped";

type OutboxCall = (Vec<NewEntry>, DateTime<Utc>);
type OutboxAnswer = Result<Vec<EntryId>, StorageError>;

/// An [`Outbox`] that batches concurrent enqueues into one call of the inner outbox.
pub struct GroupCommit {
    inner: Arc<dyn Outbox>,
    writer: Writer<OutboxCall, OutboxAnswer>,
}

impl GroupCommit {
    /// Starts the writer task (so this needs a Tokio runtime). One transaction takes the calls
    /// waiting at that moment, up to `max_entries` entries.
    pub fn new(inner: Arc<dyn Outbox>, max_entries: usize) -> GroupCommit {
        let outbox = inner.clone();
        let writer = Writer::start(
            max_entries,
            |(entries, _): &OutboxCall| entries.len(),
            move |batch| enqueue_batch(outbox.clone(), batch),
        );
        GroupCommit { inner, writer }
    }
}

async fn enqueue_batch(outbox: Arc<dyn Outbox>, batch: Vec<Waiting<OutboxCall, OutboxAnswer>>) {
    if batch.len() > 1 {
        let entries: Vec<NewEntry> = batch
            .iter()
            .flat_map(|w| w.call.0.iter().cloned())
            .collect();
        // The last caller's clock: the batch is stored at that moment or later.
        let now = batch
            .iter()
            .map(|w| w.call.1)
            .max()
            .unwrap_or_else(Utc::now);
        match outbox.enqueue(&entries, now).await {
            Ok(ids) if ids.len() == entries.len() => {
                let mut ids = ids.into_iter();
                for waiting in batch {
                    let own = ids.by_ref().take(waiting.call.0.len()).collect();
                    waiting.answer(Ok(own));
                }
                return;
            }
            Ok(ids) => {
                let error = StorageError(format!(
                    "the outbox returned {} ids for {} entries",
                    ids.len(),
                    entries.len()
                ));
                for waiting in batch {
                    waiting.answer(Err(error.clone()));
                }
                return;
            }
            // Nothing of the batch was stored (all or none): each call on its own below.
            Err(_) => {}
        }
    }
    // A lone call (the quiet case) goes straight through, without copying its entries.
    for waiting in batch {
        let (entries, now) = &waiting.call;
        let result = outbox.enqueue(entries, *now).await;
        waiting.answer(result);
    }
}

#[async_trait]
impl Outbox for GroupCommit {
    async fn enqueue(
        &self,
        entries: &[NewEntry],
        now: DateTime<Utc>,
    ) -> Result<Vec<EntryId>, StorageError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.writer
            .call((entries.to_vec(), now))
            .await
            .unwrap_or_else(|| Err(StorageError(WRITER_STOPPED.into())))
    }

    async fn pending(&self, endpoint: &EndpointName) -> Result<Vec<OutboxEntry>, StorageError> {
        self.inner.pending(endpoint).await
    }

    async fn complete(&self, ids: &[EntryId]) -> Result<(), StorageError> {
        self.inner.complete(ids).await
    }
}

/// A [`TelemetryStore`] that batches concurrent appends into one `append_all` of the inner
/// store (the built-in endpoint's lane delivers `concurrency` messages at once).
pub struct GroupAppend {
    inner: Arc<dyn TelemetryStore>,
    writer: Writer<Envelope, Result<(), StoreError>>,
}

impl GroupAppend {
    /// Starts the writer task (so this needs a Tokio runtime); at most `max_messages` per
    /// transaction.
    pub fn new(inner: Arc<dyn TelemetryStore>, max_messages: usize) -> GroupAppend {
        let store = inner.clone();
        let writer = Writer::start(
            max_messages,
            |_: &Envelope| 1,
            move |batch| append_batch(store.clone(), batch),
        );
        GroupAppend { inner, writer }
    }
}

async fn append_batch(
    store: Arc<dyn TelemetryStore>,
    batch: Vec<Waiting<Envelope, Result<(), StoreError>>>,
) {
    if batch.len() > 1 {
        let envelopes: Vec<Envelope> = batch.iter().map(|w| w.call.clone()).collect();
        if store.append_all(&envelopes).await.is_ok() {
            for waiting in batch {
                waiting.answer(Ok(()));
            }
            return;
        }
    }
    for waiting in batch {
        let result = store.append(&waiting.call).await;
        waiting.answer(result);
    }
}

#[async_trait]
impl TelemetryStore for GroupAppend {
    async fn append(&self, envelope: &Envelope) -> Result<(), StoreError> {
        self.writer
            .call(envelope.clone())
            .await
            .unwrap_or_else(|| Err(StoreError(WRITER_STOPPED.into())))
    }

    async fn append_all(&self, envelopes: &[Envelope]) -> Result<(), StoreError> {
        self.inner.append_all(envelopes).await
    }

    async fn latest(&self, device_id: &str, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        self.inner.latest(device_id, limit).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::envelope::Envelope;
    use crate::outbox::MemoryOutbox;

    /// A memory outbox that counts its transactions, can be held, and refuses entries from
    /// one device.
    struct Counted {
        inner: MemoryOutbox,
        transactions: AtomicUsize,
        gate: tokio::sync::Semaphore,
        refuse_device: Mutex<Option<String>>,
    }

    #[async_trait]
    impl Outbox for Counted {
        async fn enqueue(
            &self,
            entries: &[NewEntry],
            now: DateTime<Utc>,
        ) -> Result<Vec<EntryId>, StorageError> {
            let _held = self.gate.acquire().await.expect("gate open");
            self.transactions.fetch_add(1, Ordering::SeqCst);
            let refused = self.refuse_device.lock().expect("lock").clone();
            if let Some(device) = refused
                && entries.iter().any(|e| e.envelope.device_id() == device)
            {
                return Err(StorageError(format!("refused {device}")));
            }
            self.inner.enqueue(entries, now).await
        }
        async fn pending(&self, e: &EndpointName) -> Result<Vec<OutboxEntry>, StorageError> {
            self.inner.pending(e).await
        }
        async fn complete(&self, ids: &[EntryId]) -> Result<(), StorageError> {
            self.inner.complete(ids).await
        }
    }

    fn counted() -> Arc<Counted> {
        Arc::new(Counted {
            inner: MemoryOutbox::default(),
            transactions: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
            refuse_device: Mutex::new(None),
        })
    }

    fn entry(device: &str) -> NewEntry {
        NewEntry {
            endpoint: EndpointName::new("hook").expect("name"),
            envelope: Envelope::telemetry(
                "hub",
                device,
                crate::TelemetryParts::default(),
                Utc::now(),
            ),
        }
    }

    async fn enqueue_all(
        outbox: &Arc<GroupCommit>,
        devices: &[&str],
    ) -> Vec<tokio::task::JoinHandle<Result<Vec<EntryId>, StorageError>>> {
        let mut calls = Vec::new();
        for device in devices {
            let outbox = outbox.clone();
            let entries = vec![entry(device), entry(device)];
            calls.push(tokio::spawn(async move {
                outbox.enqueue(&entries, Utc::now()).await
            }));
        }
        // Let every call reach the writer's queue before the gate opens.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        calls
    }

    #[tokio::test]
    async fn calls_waiting_for_a_commit_share_the_next_one_and_get_their_own_ids() {
        let inner = counted();
        let outbox = Arc::new(GroupCommit::new(inner.clone(), 512));
        let calls = enqueue_all(&outbox, &["d0", "d1", "d2", "d3", "d4"]).await;
        inner.gate.add_permits(100);
        let mut seen = Vec::new();
        for call in calls {
            let ids = call.await.expect("joined").expect("stored");
            assert_eq!(ids.len(), 2);
            seen.extend(ids);
        }
        // The first call commits alone (the writer took it before the others arrived) or
        // with them; either way far fewer transactions than calls.
        let transactions = inner.transactions.load(Ordering::SeqCst);
        assert!(transactions <= 2, "{transactions} transactions for 5 calls");
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10, "every entry has an id of its own");
        let stored = outbox
            .pending(&EndpointName::new("hook").expect("name"))
            .await
            .expect("pending");
        assert_eq!(stored.len(), 10);
        // Each call's ids name its own entries.
        for entry in &stored {
            assert!(seen.contains(&entry.id));
        }
    }

    #[tokio::test]
    async fn a_call_the_store_refuses_fails_alone() {
        let inner = counted();
        *inner.refuse_device.lock().expect("lock") = Some("bad".into());
        let outbox = Arc::new(GroupCommit::new(inner.clone(), 512));
        let calls = enqueue_all(&outbox, &["ok0", "bad", "ok1"]).await;
        inner.gate.add_permits(100);
        let results: Vec<bool> = {
            let mut results = Vec::new();
            for call in calls {
                results.push(call.await.expect("joined").is_ok());
            }
            results
        };
        assert_eq!(results, vec![true, false, true]);
        let stored = outbox
            .pending(&EndpointName::new("hook").expect("name"))
            .await
            .expect("pending");
        assert_eq!(
            stored.len(),
            4,
            "the two good calls' entries, not the refused one's"
        );
        assert!(stored.iter().all(|e| e.envelope.device_id() != "bad"));
    }

    /// A memory telemetry store that counts its batches, can be held, and refuses one device.
    struct CountedTelemetry {
        inner: crate::MemoryTelemetryStore,
        batches: AtomicUsize,
        singles: AtomicUsize,
        gate: tokio::sync::Semaphore,
        refuse_device: &'static str,
    }

    impl CountedTelemetry {
        async fn check(&self, envelopes: &[Envelope]) -> Result<(), StoreError> {
            let _held = self.gate.acquire().await.expect("gate open");
            match envelopes
                .iter()
                .find(|e| e.device_id() == self.refuse_device)
            {
                Some(_) => Err(StoreError(format!("refused {}", self.refuse_device))),
                None => Ok(()),
            }
        }
    }

    #[async_trait]
    impl TelemetryStore for CountedTelemetry {
        async fn append(&self, envelope: &Envelope) -> Result<(), StoreError> {
            self.singles.fetch_add(1, Ordering::SeqCst);
            self.check(std::slice::from_ref(envelope)).await?;
            self.inner.append(envelope).await
        }
        async fn append_all(&self, envelopes: &[Envelope]) -> Result<(), StoreError> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.check(envelopes).await?;
            for envelope in envelopes {
                self.inner.append(envelope).await?;
            }
            Ok(())
        }
        async fn latest(&self, device: &str, limit: usize) -> Result<Vec<Envelope>, StoreError> {
            self.inner.latest(device, limit).await
        }
    }

    #[tokio::test]
    async fn appends_waiting_for_a_commit_share_one_and_a_refused_one_fails_alone() {
        let inner = Arc::new(CountedTelemetry {
            inner: crate::MemoryTelemetryStore::new(10),
            batches: AtomicUsize::new(0),
            singles: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
            refuse_device: "bad",
        });
        let store = Arc::new(GroupAppend::new(inner.clone(), 512));
        let devices = ["d0", "d1", "d2", "d3", "d4", "d5"];
        let mut calls = Vec::new();
        for device in devices {
            let store = store.clone();
            calls.push(tokio::spawn(async move {
                store.append(&entry(device).envelope).await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        inner.gate.add_permits(100);
        for call in calls {
            call.await.expect("joined").expect("stored");
        }
        // The first goes alone (the writer took it before the others arrived); the five
        // behind it share one batch.
        let writes = inner.batches.load(Ordering::SeqCst) + inner.singles.load(Ordering::SeqCst);
        assert!(writes <= 2, "{writes} writes for 6 appends");
        for device in devices {
            assert_eq!(
                store.latest(device, 10).await.expect("reads").len(),
                1,
                "{device}"
            );
        }

        let mut calls = Vec::new();
        for device in ["ok0", "ok1", "bad", "ok2"] {
            let store = store.clone();
            calls.push(tokio::spawn(async move {
                store.append(&entry(device).envelope).await.is_ok()
            }));
        }
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.expect("joined"));
        }
        assert_eq!(results, vec![true, true, false, true]);
        assert!(store.latest("bad", 10).await.expect("reads").is_empty());
        assert_eq!(store.latest("ok2", 10).await.expect("reads").len(), 1);
    }

    #[tokio::test]
    async fn a_batch_stops_at_the_entry_limit() {
        let inner = counted();
        // Two entries per call, at most four per transaction: six calls need three or more.
        let outbox = Arc::new(GroupCommit::new(inner.clone(), 4));
        let calls = enqueue_all(&outbox, &["a", "b", "c", "d", "e", "f"]).await;
        inner.gate.add_permits(100);
        for call in calls {
            call.await.expect("joined").expect("stored");
        }
        let transactions = inner.transactions.load(Ordering::SeqCst);
        assert!(
            (3..=4).contains(&transactions),
            "{transactions} transactions"
        );
    }
}

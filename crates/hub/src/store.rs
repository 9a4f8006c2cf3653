//! The hub's persistence, [`HubStore`]: identities, twins, pending cloud-to-device messages
//! and MQTT sessions. The root package implements it on SQLite and PostgreSQL in the
//! repository's database; [`crate::MemoryHubStore`] keeps everything in memory for tests.
//!
//! Every method is one transaction. Twins are written with compare-and-swap on their
//! version, so two writers (two connections, or a device and a back end) never lose each
//! other's changes: the loser gets [`HubStoreError::Conflict`] and retries on a fresh read.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use twinhub_twin::{Timestamp, Twin};

use crate::identity::{ConnectionState, Identity, IdentityKey};

#[derive(Debug, thiserror::Error)]
pub enum HubStoreError {
    #[error("{0} is not registered")]
    NotFound(IdentityKey),
    #[error("{0} is already registered")]
    AlreadyExists(IdentityKey),
    /// The record changed since it was read (etag or twin version mismatch).
    #[error("{0} changed since it was read")]
    Conflict(IdentityKey),
    /// The identity has as many pending cloud-to-device messages as it may.
    #[error("{key} already has {limit} pending cloud-to-device messages")]
    QueueFull { key: IdentityKey, limit: usize },
    #[error("stored hub data is corrupt: {0}")]
    Corrupt(String),
    #[error("hub storage failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A twin as stored: the document, and what the hub noticed about the values the device
/// reported that break its model (kept, because the device is the truth, but flagged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TwinRecord {
    pub twin: Twin,
    /// Per reported property (JSON pointer into `reported`), the violation found, as JSON.
    #[serde(default)]
    pub reported_flags: Map<String, Value>,
    /// How many reported patches and telemetry messages broke the model.
    #[serde(default)]
    pub violation_count: u64,
}

impl TwinRecord {
    pub fn new(twin: Twin) -> TwinRecord {
        TwinRecord {
            twin,
            reported_flags: Map::new(),
            violation_count: 0,
        }
    }
}

/// A cloud-to-device message accepted for one identity and not yet acknowledged by it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct C2dMessage {
    /// `$.mid`: unique per identity; given by the sender or generated.
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub user_id: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// Application properties, in the order given (a `None` value is a key without `=`).
    pub properties: Vec<(String, Option<String>)>,
    pub body: Vec<u8>,
    pub enqueued: Timestamp,
    pub expires: Timestamp,
    /// How many times the hub has sent it (0 until first sent).
    pub delivery_count: u32,
}

/// One subscription of a persistent MQTT session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub filter: String,
    pub qos: u8,
}

/// What the hub keeps of a CleanSession=0 MQTT session between connections and restarts:
/// the device SDK subscribes once per client object and never again after reconnecting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub subscriptions: Vec<Subscription>,
}

/// Filters and paging of the identity listing. Results are ordered by key.
#[derive(Clone, Debug, Default)]
pub struct IdentityQuery {
    /// Only the modules of this device; `None` lists devices only.
    pub modules_of: Option<String>,
    /// Only identities whose twin names this model id.
    pub model_id: Option<String>,
    pub connection_state: Option<ConnectionState>,
    /// Start after this id (device id, or module id when listing modules).
    pub after: Option<String>,
    pub limit: usize,
}

/// One page of identities and the id to continue after, when there are more.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityPage {
    pub identities: Vec<Identity>,
    pub next_after: Option<String>,
}

/// The hub's storage. Each method is one transaction.
#[async_trait]
pub trait HubStore: Send + Sync {
    /// Registers an identity with its first twin. A module's device must exist.
    async fn create_identity(
        &self,
        identity: &Identity,
        twin: &TwinRecord,
    ) -> Result<(), HubStoreError>;

    async fn identity(&self, key: &IdentityKey) -> Result<Option<Identity>, HubStoreError>;

    /// Replaces an identity if its stored etag is still `expected_etag`; the caller has
    /// already bumped `identity.etag`. Connection state and activity stay as stored.
    async fn update_identity(
        &self,
        identity: &Identity,
        expected_etag: u64,
    ) -> Result<(), HubStoreError>;

    /// Deletes an identity with its twin, messages and session; a device takes its modules
    /// with it. Returns whether it existed.
    async fn delete_identity(&self, key: &IdentityKey) -> Result<bool, HubStoreError>;

    async fn list_identities(&self, query: &IdentityQuery) -> Result<IdentityPage, HubStoreError>;

    /// Records that `instance` now serves the identity's connection (connected, with
    /// activity at `at`), taking it over from whichever instance had it. Leaves the etag.
    async fn claim_connection(
        &self,
        key: &IdentityKey,
        instance: &str,
        at: Timestamp,
    ) -> Result<(), HubStoreError>;

    /// Records the disconnection if `instance` still owns the connection; returns whether it
    /// did (`false`: another instance took over, and its connection stands).
    async fn release_connection(
        &self,
        key: &IdentityKey,
        instance: &str,
        at: Timestamp,
    ) -> Result<bool, HubStoreError>;

    /// The instance serving the identity's connection, while it is connected.
    async fn connection_owner(&self, key: &IdentityKey) -> Result<Option<String>, HubStoreError>;

    /// Marks every identity `instance` owned as disconnected (an instance starting again
    /// after a crash had none of them any more); returns how many.
    async fn release_connections_of(
        &self,
        instance: &str,
        at: Timestamp,
    ) -> Result<u64, HubStoreError>;

    /// Records that the identity was active (sent something) at `at`.
    async fn record_activity(&self, key: &IdentityKey, at: Timestamp) -> Result<(), HubStoreError>;

    async fn twin(&self, key: &IdentityKey) -> Result<Option<TwinRecord>, HubStoreError>;

    /// Replaces a twin if its stored `twin.version()` is still `expected_version`.
    async fn update_twin(
        &self,
        key: &IdentityKey,
        expected_version: u64,
        record: &TwinRecord,
    ) -> Result<(), HubStoreError>;

    /// Queues a cloud-to-device message unless `limit` are already pending (expired ones do
    /// not count).
    async fn enqueue_c2d(
        &self,
        key: &IdentityKey,
        message: &C2dMessage,
        limit: usize,
    ) -> Result<(), HubStoreError>;

    /// The pending, unexpired messages of an identity, oldest first.
    async fn pending_c2d(
        &self,
        key: &IdentityKey,
        now: Timestamp,
    ) -> Result<Vec<C2dMessage>, HubStoreError>;

    /// Counts one more delivery attempt of a message.
    async fn mark_c2d_sent(&self, key: &IdentityKey, message_id: &str)
    -> Result<(), HubStoreError>;

    /// Removes a message the device acknowledged. Returns whether it was pending.
    async fn complete_c2d(
        &self,
        key: &IdentityKey,
        message_id: &str,
    ) -> Result<bool, HubStoreError>;

    /// Drops every message that expired before `now`; returns how many.
    async fn purge_expired_c2d(&self, now: Timestamp) -> Result<u64, HubStoreError>;

    async fn session(&self, client_id: &str) -> Result<Option<SessionRecord>, HubStoreError>;

    async fn save_session(
        &self,
        client_id: &str,
        session: &SessionRecord,
    ) -> Result<(), HubStoreError>;

    async fn delete_session(&self, client_id: &str) -> Result<(), HubStoreError>;
}

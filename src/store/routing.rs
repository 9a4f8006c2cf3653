//! Storage of message routing (issue 12) in the service's database: the router's durable
//! [`Outbox`] and [`DeadLetters`], the built-in endpoint's recent telemetry, and the routes and
//! endpoints managed through the API. [`RoutingStore`] is implemented for both backends by
//! `routing_sql.rs`; [`SqlTelemetryStore`] adapts it to the routing crate's
//! [`TelemetryStore`] with the number of messages kept per device.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use twinhub_routing::endpoint::builtin::StoreError as TelemetryStoreError;
use twinhub_routing::{
    DeadLetter, DeadLetters, Envelope, Outbox, Route, StorageError, TelemetryStore,
};

/// Routing's tables. Every method is one transaction.
#[async_trait]
pub trait RoutingStore: Outbox + DeadLetters {
    /// Appends each envelope to its device's recent telemetry (an id already there changes
    /// nothing) and drops those devices' oldest messages beyond `keep`; all or none.
    async fn append_telemetry(
        &self,
        envelopes: &[Envelope],
        keep: usize,
    ) -> Result<(), StorageError>;

    /// The device's most recent telemetry, newest first, at most `limit`.
    async fn latest_telemetry(
        &self,
        device_id: &str,
        limit: usize,
    ) -> Result<Vec<Envelope>, StorageError>;

    /// The most recent dead letters, newest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StorageError>;

    /// The stored routes in the order they were first created.
    async fn routes(&self) -> Result<Vec<Route>, StorageError>;

    /// Creates or replaces the route of this name (a replaced route keeps its position);
    /// `true` when it was created.
    async fn put_route(&self, route: &Route) -> Result<bool, StorageError>;

    /// Deletes a route; `false` when there was none of that name.
    async fn delete_route(&self, name: &str) -> Result<bool, StorageError>;

    /// The stored endpoint definitions (name, JSON document), by name.
    async fn endpoints(&self) -> Result<Vec<(String, Value)>, StorageError>;

    /// Creates or replaces an endpoint definition; `true` when it was created.
    async fn put_endpoint(&self, name: &str, document: &Value) -> Result<bool, StorageError>;

    /// Deletes an endpoint definition; `false` when there was none of that name.
    async fn delete_endpoint(&self, name: &str) -> Result<bool, StorageError>;
}

/// The built-in endpoint's storage: the last `keep` telemetry messages per device.
#[derive(Clone)]
pub struct SqlTelemetryStore {
    store: Arc<dyn RoutingStore>,
    keep: usize,
}

impl SqlTelemetryStore {
    pub fn new(store: Arc<dyn RoutingStore>, keep: usize) -> SqlTelemetryStore {
        SqlTelemetryStore {
            store,
            keep: keep.max(1),
        }
    }
}

#[async_trait]
impl TelemetryStore for SqlTelemetryStore {
    async fn append(&self, envelope: &Envelope) -> Result<(), TelemetryStoreError> {
        self.append_all(std::slice::from_ref(envelope)).await
    }

    async fn append_all(&self, envelopes: &[Envelope]) -> Result<(), TelemetryStoreError> {
        self.store
            .append_telemetry(envelopes, self.keep)
            .await
            .map_err(|e| TelemetryStoreError(e.to_string()))
    }

    async fn latest(
        &self,
        device_id: &str,
        limit: usize,
    ) -> Result<Vec<Envelope>, TelemetryStoreError> {
        self.store
            .latest_telemetry(device_id, limit)
            .await
            .map_err(|e| TelemetryStoreError(e.to_string()))
    }
}

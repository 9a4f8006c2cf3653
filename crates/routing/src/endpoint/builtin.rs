//! The built-in endpoint: the last N telemetry messages of each device, for the web UI and
//! `GET /api/v1/devices/{id}/telemetry`. Storage sits behind [`TelemetryStore`] so that the
//! service keeps them in its database; [`MemoryTelemetryStore`] is the in-process one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{DeliveryError, Endpoint};
use crate::envelope::{Envelope, MessageSource};

/// A store of recent telemetry failed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("telemetry store: {0}")]
pub struct StoreError(pub String);

/// Recent telemetry per device.
#[async_trait]
pub trait TelemetryStore: Send + Sync + 'static {
    /// Adds a message to its device's list, in the order the hub received the messages
    /// (`iothub-enqueuedtime`, then the order of arrival here), dropping the oldest beyond the
    /// store's limit.
    /// Appending an envelope id the device's list already holds changes nothing, so a
    /// redelivery is harmless.
    async fn append(&self, envelope: &Envelope) -> Result<(), StoreError>;

    /// Appends several messages (what a group commit hands over). A database implements it
    /// as one transaction, all or none; the default appends them one by one, which is also
    /// safe to retry, since appending is idempotent per envelope id.
    async fn append_all(&self, envelopes: &[Envelope]) -> Result<(), StoreError> {
        for envelope in envelopes {
            self.append(envelope).await?;
        }
        Ok(())
    }

    /// The device's most recently received messages, newest first, at most `limit`.
    async fn latest(&self, device_id: &str, limit: usize) -> Result<Vec<Envelope>, StoreError>;
}

/// Recent telemetry in memory, `keep` messages per device.
#[derive(Debug)]
pub struct MemoryTelemetryStore {
    keep: usize,
    devices: Mutex<HashMap<String, VecDeque<Envelope>>>,
}

impl MemoryTelemetryStore {
    pub fn new(keep: usize) -> MemoryTelemetryStore {
        MemoryTelemetryStore {
            keep: keep.max(1),
            devices: Mutex::new(HashMap::new()),
        }
    }

    fn devices(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Envelope>>> {
        // A panic while holding the lock cannot leave a list half-updated (push and pop are
        // each complete), so the data is still good.
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TelemetryStore for MemoryTelemetryStore {
    async fn append(&self, envelope: &Envelope) -> Result<(), StoreError> {
        let mut devices = self.devices();
        let list = devices.entry(envelope.device_id().to_owned()).or_default();
        if list.iter().any(|e| e.id == envelope.id) {
            return Ok(());
        }
        // In the order the hub received them, whatever order they are delivered in.
        let received = envelope.system_properties.enqueued_time;
        let at = list
            .iter()
            .rposition(|e| e.system_properties.enqueued_time <= received)
            .map_or(0, |i| i + 1);
        list.insert(at, envelope.clone());
        while list.len() > self.keep {
            list.pop_front();
        }
        Ok(())
    }

    async fn latest(&self, device_id: &str, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        Ok(self
            .devices()
            .get(device_id)
            .map(|list| list.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}

/// The endpoint over a [`TelemetryStore`]. It keeps telemetry only: an event routed here is
/// refused for good (and dead-lettered), since the store's readers expect device messages.
#[derive(Clone)]
pub struct BuiltinEndpoint {
    store: Arc<dyn TelemetryStore>,
}

impl BuiltinEndpoint {
    pub fn new(store: Arc<dyn TelemetryStore>) -> BuiltinEndpoint {
        BuiltinEndpoint { store }
    }
}

#[async_trait]
impl Endpoint for BuiltinEndpoint {
    fn kind(&self) -> &'static str {
        "builtin"
    }

    async fn deliver(&self, envelope: &Envelope) -> Result<(), DeliveryError> {
        if envelope.source != MessageSource::Telemetry {
            return Err(DeliveryError::Permanent(format!(
                "the built-in endpoint keeps telemetry only, not {}; route {} elsewhere",
                envelope.source, envelope.source
            )));
        }
        self.store
            .append(envelope)
            .await
            .map_err(|e| DeliveryError::Retryable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::envelope::{EventParts, TelemetryParts};

    fn message(device: &str, n: u32) -> Envelope {
        Envelope::telemetry(
            "hub",
            device,
            TelemetryParts {
                body: json!({ "n": n }).to_string().into_bytes(),
                ..TelemetryParts::default()
            },
            chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn the_store_keeps_the_last_n_per_device_newest_first() {
        let store = Arc::new(MemoryTelemetryStore::new(3));
        let endpoint = BuiltinEndpoint::new(store.clone());
        for n in 0..5 {
            endpoint.deliver(&message("a", n)).await.expect("stored");
        }
        let again = message("b", 9);
        endpoint.deliver(&again).await.expect("stored");
        endpoint.deliver(&again).await.expect("redelivery accepted");
        let a = store.latest("a", 10).await.expect("reads");
        let bodies: Vec<String> = a
            .iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect();
        assert_eq!(bodies, [r#"{"n":4}"#, r#"{"n":3}"#, r#"{"n":2}"#]);
        assert_eq!(store.latest("a", 1).await.expect("reads").len(), 1);
        assert_eq!(
            store.latest("b", 10).await.expect("reads").len(),
            1,
            "no duplicate"
        );
        assert!(store.latest("c", 10).await.expect("reads").is_empty());
    }

    #[tokio::test]
    async fn messages_delivered_out_of_order_are_kept_in_the_order_received() {
        let store = MemoryTelemetryStore::new(3);
        let at = |n: u32, ms: i64| {
            let mut envelope = message("a", n);
            envelope.system_properties.enqueued_time =
                chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
            envelope
        };
        for envelope in [at(2, 20), at(4, 40), at(1, 10), at(3, 30)] {
            store.append(&envelope).await.expect("stored");
        }
        let bodies: Vec<String> = store
            .latest("a", 10)
            .await
            .expect("reads")
            .iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect();
        // The oldest received (1) is the one trimmed, not the one stored first (2).
        assert_eq!(bodies, [r#"{"n":4}"#, r#"{"n":3}"#, r#"{"n":2}"#]);
    }

    #[tokio::test]
    async fn events_are_refused_for_good() {
        let endpoint = BuiltinEndpoint::new(Arc::new(MemoryTelemetryStore::new(3)));
        let event = Envelope::event(
            "hub",
            EventParts {
                source: MessageSource::DeviceConnectionStateEvents,
                device_id: "d".into(),
                module_id: None,
                op_type: "deviceConnected".into(),
                model_id: None,
                body: json!({"sequenceNumber": "1"}),
            },
            chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
        );
        let err = endpoint.deliver(&event).await.expect_err("refused");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("telemetry only"), "{err}");
    }
}

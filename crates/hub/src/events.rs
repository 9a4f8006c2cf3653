//! What the hub tells the rest of twinhub: telemetry, twin and digital-twin changes, identity
//! lifecycle and connection state, as [`HubEvent`]s handed to an [`EventSink`]. The envelope
//! follows IoT Hub's built-in events endpoint (hub-protocol.md §4): a message source, the system
//! properties (`iothub-connection-device-id`, `content-type`, …), the application properties
//! (`opType`, `iothub-message-schema`, `dt-subject`, `dt-dataschema`, …) and the body, so that
//! routing (issue 12) can keep IoT Hub's property names and semantics.

use async_trait::async_trait;
use serde::Serialize;
use twinhub_twin::{Timestamp, Violation};

use crate::identity::IdentityKey;

/// IoT Hub's `iothub-message-source` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EventSource {
    Telemetry,
    TwinChangeEvents,
    DigitalTwinChangeEvents,
    DeviceLifecycleEvents,
    DeviceConnectionStateEvents,
}

impl EventSource {
    /// The `iothub-message-source` value (`Telemetry`, `twinChangeEvents`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Telemetry => "Telemetry",
            EventSource::TwinChangeEvents => "twinChangeEvents",
            EventSource::DigitalTwinChangeEvents => "digitalTwinChangeEvents",
            EventSource::DeviceLifecycleEvents => "deviceLifecycleEvents",
            EventSource::DeviceConnectionStateEvents => "deviceConnectionStateEvents",
        }
    }
}

/// One event, shaped like a message of IoT Hub's built-in endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HubEvent {
    pub source: EventSource,
    /// The identity concerned (`iothub-connection-device-id` / `-module-id`, or `deviceId` /
    /// `moduleId` for service-side operations).
    pub key: IdentityKey,
    /// `iothub-enqueuedtime` (telemetry) or `operationTimestamp` (other sources).
    pub time: Timestamp,
    /// `opType`: `updateTwin`, `replaceTwin`, `createDeviceIdentity`, `deleteDeviceIdentity`,
    /// `deviceConnected`, `deviceDisconnected`; `None` for telemetry.
    pub op_type: Option<String>,
    /// `iothub-message-schema`: `twinChangeNotification`, `deviceLifecycleNotification`,
    /// `digitalTwinChangeNotification`, `deviceConnectionStateNotification`.
    pub message_schema: Option<String>,
    /// Telemetry system properties, as the device sent them (`$.mid`, `$.cid`, `$.uid`,
    /// `$.ct`, `$.ce`).
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub user_id: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// Application properties (decoded; a `None` value is a key without `=`).
    pub properties: Vec<(String, Option<String>)>,
    /// `dt-subject`: the component a telemetry message is for (`$.sub`).
    pub component: Option<String>,
    /// `dt-dataschema`: the device's model id.
    pub model_id: Option<String>,
    pub body: Vec<u8>,
    /// Where the telemetry body breaks the device's model (kept, but flagged).
    pub violations: Vec<Violation>,
}

impl HubEvent {
    /// An event with no message properties, for a source other than telemetry.
    pub fn operation(
        source: EventSource,
        key: IdentityKey,
        time: Timestamp,
        op_type: &str,
        message_schema: &str,
        body: Vec<u8>,
    ) -> HubEvent {
        HubEvent {
            source,
            key,
            time,
            op_type: Some(op_type.to_owned()),
            message_schema: Some(message_schema.to_owned()),
            message_id: None,
            correlation_id: None,
            user_id: None,
            content_type: Some("application/json".to_owned()),
            content_encoding: Some("utf-8".to_owned()),
            properties: Vec::new(),
            component: None,
            model_id: None,
            body,
            violations: Vec::new(),
        }
    }
}

/// Why an event could not be handed on.
pub type EventSinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receives the hub's events. Telemetry is acknowledged to the device (PUBACK) only after
/// `publish` returns, so a sink that persists before returning gives at-least-once delivery;
/// a failure is logged and the device's message is not acknowledged (it resends it after
/// reconnecting).
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn publish(&self, event: HubEvent) -> Result<(), EventSinkError>;
}

/// The default sink: drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

#[async_trait]
impl EventSink for NoEvents {
    async fn publish(&self, _event: HubEvent) -> Result<(), EventSinkError> {
        Ok(())
    }
}

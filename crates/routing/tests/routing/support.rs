//! Helpers shared by the tests: sample envelopes and twins.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use twinhub_routing::envelope::EventParts;
use twinhub_routing::{EndpointName, Envelope, MessageSource, Properties, TelemetryParts};

pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

pub fn endpoint(name: &str) -> EndpointName {
    EndpointName::new(name).expect("valid endpoint name")
}

/// JSON telemetry from `device`, with application properties.
pub fn telemetry(device: &str, body: Value, properties: &[(&str, &str)]) -> Envelope {
    Envelope::telemetry(
        "hub1",
        device,
        TelemetryParts {
            content_type: Some("application/json".into()),
            content_encoding: Some("utf-8".into()),
            properties: properties.iter().copied().collect::<Properties>(),
            body: body.to_string().into_bytes(),
            ..TelemetryParts::default()
        },
        at(1_700_000_000),
    )
}

pub fn twin_change(device: &str) -> Envelope {
    Envelope::event(
        "hub1",
        EventParts {
            source: MessageSource::TwinChangeEvents,
            device_id: device.into(),
            module_id: None,
            op_type: "updateTwin".into(),
            model_id: None,
            body: json!({"version": 4, "properties": {"reported": {"fw": "1.2", "$version": 3}}}),
        },
        at(1_700_000_000),
    )
}

/// A twin as the service API shows it.
pub fn twin() -> Value {
    json!({
        "deviceId": "d1",
        "tags": {"site": "berlin", "floor": 3, "location": {"lat": 52.5}},
        "properties": {
            "desired": {"interval": 10, "$version": 2},
            "reported": {"fw": "1.2", "$version": 5}
        }
    })
}

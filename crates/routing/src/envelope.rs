//! The event envelope: one message or event on its way to the endpoints, keeping IoT Hub's
//! names (`iothub-message-source`, `iothub-connection-device-id`, `hubName`, `opType`, …) so
//! that route conditions, enrichments and consumers written for IoT Hub carry over.
//!
//! An envelope has a source, system properties (set by the hub, never by the device), the
//! application properties (the device's own, plus those IoT Hub adds to events), and the body
//! as bytes. Its JSON form ([`Envelope`]'s serde) is what the outbox stores and what NATS
//! consumers can rebuild it from; [`Envelope::to_cloud_event`] is the CloudEvents 1.0
//! structured-JSON form that webhooks receive.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Where an event comes from, by the name IoT Hub gives it in `iothub-message-source` and in
/// route definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageSource {
    /// Device-to-cloud messages.
    Telemetry,
    /// Changes of a twin's tags or desired/reported properties.
    #[serde(rename = "twinChangeEvents")]
    TwinChangeEvents,
    /// Changes of the digital twin (IoT Plug and Play view), as JSON Patch.
    #[serde(rename = "digitalTwinChangeEvents")]
    DigitalTwinChangeEvents,
    /// Device and module identities created or deleted.
    #[serde(rename = "deviceLifecycleEvents")]
    DeviceLifecycleEvents,
    /// Devices connecting and disconnecting.
    #[serde(rename = "deviceConnectionStateEvents")]
    DeviceConnectionStateEvents,
}

impl MessageSource {
    pub const ALL: [MessageSource; 5] = [
        MessageSource::Telemetry,
        MessageSource::TwinChangeEvents,
        MessageSource::DigitalTwinChangeEvents,
        MessageSource::DeviceLifecycleEvents,
        MessageSource::DeviceConnectionStateEvents,
    ];

    /// The IoT Hub name (`Telemetry`, `twinChangeEvents`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageSource::Telemetry => "Telemetry",
            MessageSource::TwinChangeEvents => "twinChangeEvents",
            MessageSource::DigitalTwinChangeEvents => "digitalTwinChangeEvents",
            MessageSource::DeviceLifecycleEvents => "deviceLifecycleEvents",
            MessageSource::DeviceConnectionStateEvents => "deviceConnectionStateEvents",
        }
    }

    /// The `iothub-message-schema` application property IoT Hub puts on events of this
    /// source (telemetry has none).
    pub fn message_schema(self) -> Option<&'static str> {
        match self {
            MessageSource::Telemetry => None,
            MessageSource::TwinChangeEvents => Some("twinChangeNotification"),
            MessageSource::DigitalTwinChangeEvents => Some("digitalTwinChangeNotification"),
            MessageSource::DeviceLifecycleEvents => Some("deviceLifecycleNotification"),
            MessageSource::DeviceConnectionStateEvents => Some("deviceConnectionStateNotification"),
        }
    }

    /// Parses an IoT Hub source name, case-insensitively.
    pub fn parse(name: &str) -> Option<MessageSource> {
        MessageSource::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for MessageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The properties the hub sets; a device cannot forge them. Serialised under their wire names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemProperties {
    #[serde(rename = "iothub-connection-device-id")]
    pub connection_device_id: String,
    #[serde(
        rename = "iothub-connection-module-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_module_id: Option<String>,
    #[serde(
        rename = "iothub-connection-auth-generation-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_auth_generation_id: Option<String>,
    #[serde(
        rename = "iothub-connection-auth-method",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_auth_method: Option<String>,
    #[serde(rename = "iothub-enqueuedtime", with = "utc_millis")]
    pub enqueued_time: DateTime<Utc>,
    #[serde(
        rename = "content-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    #[serde(
        rename = "content-encoding",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_encoding: Option<String>,
    #[serde(
        rename = "message-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    #[serde(
        rename = "correlation-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<String>,
    #[serde(rename = "user-id", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The component that sent the telemetry (IoT Plug and Play `$.sub`).
    #[serde(
        rename = "dt-subject",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dt_subject: Option<String>,
    /// The model id of the device that sent the telemetry, or whose digital twin changed.
    #[serde(
        rename = "dt-dataschema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dt_dataschema: Option<String>,
}

impl SystemProperties {
    /// Properties for a message from `device_id`, enqueued at `now`; the rest unset.
    pub fn new(device_id: impl Into<String>, now: DateTime<Utc>) -> SystemProperties {
        SystemProperties {
            connection_device_id: device_id.into(),
            connection_module_id: None,
            connection_auth_generation_id: None,
            connection_auth_method: None,
            enqueued_time: now,
            content_type: None,
            content_encoding: None,
            message_id: None,
            correlation_id: None,
            user_id: None,
            dt_subject: None,
            dt_dataschema: None,
        }
    }

    /// The properties set, as (wire name, value) pairs, `iothub-message-source` included.
    pub fn wire_pairs(&self, source: MessageSource) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (
                "iothub-connection-device-id",
                self.connection_device_id.clone(),
            ),
            ("iothub-enqueuedtime", format_time(self.enqueued_time)),
            ("iothub-message-source", source.as_str().to_owned()),
        ];
        let optional = [
            ("iothub-connection-module-id", &self.connection_module_id),
            (
                "iothub-connection-auth-generation-id",
                &self.connection_auth_generation_id,
            ),
            (
                "iothub-connection-auth-method",
                &self.connection_auth_method,
            ),
            ("content-type", &self.content_type),
            ("content-encoding", &self.content_encoding),
            ("message-id", &self.message_id),
            ("correlation-id", &self.correlation_id),
            ("user-id", &self.user_id),
            ("dt-subject", &self.dt_subject),
            ("dt-dataschema", &self.dt_dataschema),
        ];
        out.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some((name, value.clone()?))),
        );
        out
    }
}

/// Application properties: string names to string values, in the order they were set. Names
/// are looked up case-insensitively (IoT Hub's rule); setting a name again replaces its value.
/// Serialised as a JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties(Vec<(String, String)>);

impl Properties {
    pub fn new() -> Properties {
        Properties::default()
    }

    /// The value of `name`: an exact match first, otherwise a case-insensitive one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` (replacing a value under the same name, compared case-insensitively).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
        {
            Some(slot) => *slot = (name, value),
            None => self.0.push((name, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Properties {
        let mut p = Properties::new();
        for (k, v) in iter {
            p.set(k, v);
        }
        p
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Properties, D::Error> {
        struct PropertiesVisitor;
        impl<'de> Visitor<'de> for PropertiesVisitor {
            type Value = Properties;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string property values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Properties, A::Error> {
                let mut p = Properties::new();
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    p.set(k, v);
                }
                Ok(p)
            }
        }
        deserializer.deserialize_map(PropertiesVisitor)
    }
}

/// Names of the application properties IoT Hub adds to events.
pub mod property {
    pub const HUB_NAME: &str = "hubName";
    pub const DEVICE_ID: &str = "deviceId";
    pub const MODULE_ID: &str = "moduleId";
    pub const OP_TYPE: &str = "opType";
    pub const MESSAGE_SCHEMA: &str = "iothub-message-schema";
    pub const OPERATION_TIMESTAMP: &str = "operationTimestamp";
}

/// A message or event with its properties and body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Unique per envelope; the CloudEvents `id` and the JetStream de-duplication id, so a
    /// redelivery after a retry or a restart can be recognised.
    pub id: String,
    /// The hub's name (`$iothubname`).
    pub hub: String,
    pub source: MessageSource,
    pub system_properties: SystemProperties,
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    #[serde(flatten, with = "body_form")]
    pub body: Vec<u8>,
    /// The model annotation ([`crate::annotate`]), when a route asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<Value>,
}

/// What a telemetry message brings: the device's application properties and the system
/// properties it may set (`$.ct`, `$.ce`, `$.mid`, `$.cid`, `$.uid`, `$.sub`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelemetryParts {
    pub module_id: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub user_id: Option<String>,
    /// The component (`$.sub`).
    pub component: Option<String>,
    /// The device's model id (from its connection), put into `dt-dataschema`.
    pub model_id: Option<String>,
    pub properties: Properties,
    pub body: Vec<u8>,
}

/// What an event (twin change, lifecycle, connection state) brings.
#[derive(Clone, Debug, PartialEq)]
pub struct EventParts {
    pub source: MessageSource,
    pub device_id: String,
    pub module_id: Option<String>,
    /// `updateTwin`, `replaceTwin`, `createDeviceIdentity`, `deviceConnected`, …
    pub op_type: String,
    /// The device's model id, put into `dt-dataschema` (digital-twin changes carry it).
    pub model_id: Option<String>,
    pub body: Value,
}

impl Envelope {
    /// A telemetry message from `device_id`, enqueued at `now`.
    pub fn telemetry(
        hub: impl Into<String>,
        device_id: impl Into<String>,
        parts: TelemetryParts,
        now: DateTime<Utc>,
    ) -> Envelope {
        let mut system = SystemProperties::new(device_id, now);
        system.connection_module_id = parts.module_id;
        system.content_type = parts.content_type;
        system.content_encoding = parts.content_encoding;
        system.message_id = parts.message_id;
        system.correlation_id = parts.correlation_id;
        system.user_id = parts.user_id;
        system.dt_subject = parts.component;
        system.dt_dataschema = parts.model_id;
        Envelope {
            id: new_id(),
            hub: hub.into(),
            source: MessageSource::Telemetry,
            system_properties: system,
            properties: parts.properties,
            body: parts.body,
            annotation: None,
        }
    }

    /// An event of the hub about a device or module, with the application properties IoT Hub
    /// puts on it (`hubName`, `deviceId`, `moduleId`, `opType`, `iothub-message-schema`,
    /// `operationTimestamp`) and a JSON body. Digital-twin changes are JSON Patch
    /// (`application/json-patch+json`); the others are `application/json`.
    pub fn event(hub: impl Into<String>, parts: EventParts, now: DateTime<Utc>) -> Envelope {
        let hub = hub.into();
        let mut system = SystemProperties::new(parts.device_id.clone(), now);
        system.connection_module_id = parts.module_id.clone();
        system.content_type = Some(
            match parts.source {
                MessageSource::DigitalTwinChangeEvents => "application/json-patch+json",
                _ => "application/json",
            }
            .to_owned(),
        );
        system.content_encoding = Some("utf-8".to_owned());
        system.dt_dataschema = parts.model_id;
        let mut properties = Properties::new();
        properties.set(property::HUB_NAME, hub.clone());
        properties.set(property::DEVICE_ID, parts.device_id);
        if let Some(m) = parts.module_id {
            properties.set(property::MODULE_ID, m);
        }
        properties.set(property::OP_TYPE, parts.op_type);
        if let Some(schema) = parts.source.message_schema() {
            properties.set(property::MESSAGE_SCHEMA, schema);
        }
        properties.set(property::OPERATION_TIMESTAMP, format_time(now));
        Envelope {
            id: new_id(),
            hub,
            source: parts.source,
            system_properties: system,
            properties,
            body: parts.body.to_string().into_bytes(),
            annotation: None,
        }
    }

    pub fn device_id(&self) -> &str {
        &self.system_properties.connection_device_id
    }

    pub fn module_id(&self) -> Option<&str> {
        self.system_properties.connection_module_id.as_deref()
    }

    /// The model id routing conditions see as `$modelId`: `dt-dataschema`.
    pub fn model_id(&self) -> Option<&str> {
        self.system_properties.dt_dataschema.as_deref()
    }

    /// The body as JSON when the content type says JSON (`application/json`,
    /// `application/…+json`) and it parses as UTF-8; `None` otherwise.
    pub fn json_body(&self) -> Option<Value> {
        let ct = self.system_properties.content_type.as_deref()?;
        if !is_json_media_type(ct) {
            return None;
        }
        let encoding = self
            .system_properties
            .content_encoding
            .as_deref()
            .unwrap_or("utf-8");
        if !matches!(encoding.to_ascii_lowercase().as_str(), "utf-8" | "utf8") {
            return None;
        }
        let bytes = self
            .body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.body);
        serde_json::from_slice(bytes).ok()
    }

    /// The CloudEvents 1.0 structured-JSON form (`application/cloudevents+json`).
    ///
    /// `type` is `twinhub.{source}`; `source` is `/hubs/{hub}/devices/{deviceId}` (plus
    /// `/modules/{moduleId}`); `subject` is the component (`dt-subject`); `dataschema` the
    /// model id. A JSON body becomes `data`, any other body `data_base64`. The system properties
    /// become extension attributes named after them without hyphens (`iothubconnectiondeviceid`,
    /// …, all lower case as CloudEvents requires); the application properties, whose names need
    /// not be valid attribute names, travel as one JSON-encoded string in `iothubproperties`,
    /// and the model annotation as one in `twinhubannotation`.
    pub fn to_cloud_event(&self) -> Value {
        let mut ce = Map::new();
        ce.insert("specversion".into(), "1.0".into());
        ce.insert("id".into(), self.id.clone().into());
        ce.insert("source".into(), self.cloud_event_source().into());
        ce.insert(
            "type".into(),
            format!("twinhub.{}", self.source.as_str()).into(),
        );
        ce.insert(
            "time".into(),
            format_time(self.system_properties.enqueued_time).into(),
        );
        if let Some(sub) = &self.system_properties.dt_subject {
            ce.insert("subject".into(), sub.clone().into());
        }
        if let Some(schema) = &self.system_properties.dt_dataschema {
            ce.insert("dataschema".into(), schema.clone().into());
        }
        if let Some(ct) = &self.system_properties.content_type {
            ce.insert("datacontenttype".into(), ct.clone().into());
        }
        for (name, value) in self.system_properties.wire_pairs(self.source) {
            // content-type and dt-* already have CloudEvents attributes.
            if matches!(name, "content-type" | "dt-subject" | "dt-dataschema") {
                continue;
            }
            ce.insert(name.replace('-', ""), value.into());
        }
        if !self.properties.is_empty() {
            let props = serde_json::to_string(&self.properties).unwrap_or_default();
            ce.insert("iothubproperties".into(), props.into());
        }
        if let Some(annotation) = &self.annotation {
            ce.insert("twinhubannotation".into(), annotation.to_string().into());
        }
        match self.json_body() {
            Some(data) => {
                ce.insert("data".into(), data);
            }
            None if self.body.is_empty() => {}
            None => {
                ce.insert("data_base64".into(), BASE64.encode(&self.body).into());
            }
        }
        Value::Object(ce)
    }

    fn cloud_event_source(&self) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let mut source = format!("/hubs/{}/devices/{}", enc(&self.hub), enc(self.device_id()));
        if let Some(m) = self.module_id() {
            source.push_str("/modules/");
            source.push_str(&enc(m));
        }
        source
    }
}

/// `application/json`, `application/json; charset=utf-8`, `application/json-patch+json`, …
fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// RFC 3339 with milliseconds and `Z`, as IoT Hub writes `iothub-enqueuedtime`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Timestamps as RFC 3339 strings with milliseconds; reading accepts any RFC 3339 offset.
mod utc_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// The body in the JSON form: `"body"` as a string when it is UTF-8 (byte-exact, and readable
/// for JSON and text), otherwise `"bodyBase64"`.
mod body_form {
    use base64::Engine;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::BASE64;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Form {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_base64: Option<String>,
    }

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let form = match std::str::from_utf8(body) {
            Ok(text) => Form {
                body: Some(text.to_owned()),
                body_base64: None,
            },
            Err(_) => Form {
                body: None,
                body_base64: Some(BASE64.encode(body)),
            },
        };
        form.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let form = Form::deserialize(d)?;
        match (form.body, form.body_base64) {
            (Some(text), None) => Ok(text.into_bytes()),
            (None, Some(b64)) => BASE64
                .decode(b64)
                .map_err(|e| D::Error::custom(format!("bodyBase64 is not base64: {e}"))),
            (None, None) => Ok(Vec::new()),
            (Some(_), Some(_)) => Err(D::Error::custom(
                "an envelope has either body or bodyBase64, not both",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    fn thermostat_telemetry() -> Envelope {
        Envelope::telemetry(
            "hub1",
            "dev.1",
            TelemetryParts {
                content_type: Some("application/json".into()),
                content_encoding: Some("utf-8".into()),
                component: Some("thermostat1".into()),
                model_id: Some("dtmi:com:example:TemperatureController;2".into()),
                message_id: Some("m-1".into()),
                properties: [("alert", "high")].into_iter().collect(),
                body: br#"{"temperature": 21.5}"#.to_vec(),
                ..TelemetryParts::default()
            },
            at(1_700_000_000),
        )
    }

    #[test]
    fn the_json_form_uses_iot_hub_names_and_round_trips() {
        let e = thermostat_telemetry();
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(json["source"], "Telemetry");
        assert_eq!(json["hub"], "hub1");
        let sys = &json["systemProperties"];
        assert_eq!(sys["iothub-connection-device-id"], "dev.1");
        assert_eq!(sys["iothub-enqueuedtime"], "2023-11-14T22:13:20.000Z");
        assert_eq!(sys["dt-subject"], "thermostat1");
        assert_eq!(
            sys["dt-dataschema"],
            "dtmi:com:example:TemperatureController;2"
        );
        assert!(sys.get("iothub-connection-module-id").is_none());
        assert_eq!(json["properties"], json!({"alert": "high"}));
        assert_eq!(json["body"], r#"{"temperature": 21.5}"#);
        let back: Envelope = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, e);
    }

    #[test]
    fn binary_bodies_round_trip_as_base64() {
        let mut e = thermostat_telemetry();
        e.body = vec![0xff, 0x00, 0xfe];
        e.system_properties.content_type = Some("application/octet-stream".into());
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(json["bodyBase64"], "/wD+");
        assert!(json.get("body").is_none());
        let back: Envelope = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back.body, vec![0xff, 0x00, 0xfe]);
    }

    #[test]
    fn an_envelope_with_both_body_forms_is_rejected() {
        let mut json = serde_json::to_value(thermostat_telemetry()).expect("serialises");
        json["bodyBase64"] = "AA==".into();
        let err = serde_json::from_value::<Envelope>(json).expect_err("ambiguous body");
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn events_carry_the_application_properties_iot_hub_adds() {
        let e = Envelope::event(
            "hub1",
            EventParts {
                source: MessageSource::TwinChangeEvents,
                device_id: "d1".into(),
                module_id: Some("m1".into()),
                op_type: "updateTwin".into(),
                model_id: None,
                body: json!({"version": 3, "properties": {"desired": {"$version": 2}}}),
            },
            at(0),
        );
        let p: Vec<(&str, &str)> = e.properties.iter().collect();
        assert_eq!(
            p,
            vec![
                ("hubName", "hub1"),
                ("deviceId", "d1"),
                ("moduleId", "m1"),
                ("opType", "updateTwin"),
                ("iothub-message-schema", "twinChangeNotification"),
                ("operationTimestamp", "1970-01-01T00:00:00.000Z"),
            ]
        );
        assert_eq!(
            e.system_properties.content_type.as_deref(),
            Some("application/json")
        );
        assert_eq!(e.json_body().expect("json")["version"], 3);

        let patch = Envelope::event(
            "hub1",
            EventParts {
                source: MessageSource::DigitalTwinChangeEvents,
                device_id: "d1".into(),
                module_id: None,
                op_type: "updateTwin".into(),
                model_id: Some("dtmi:x:y;1".into()),
                body: json!([{"op": "add", "path": "/a", "value": 1}]),
            },
            at(0),
        );
        assert_eq!(
            patch.system_properties.content_type.as_deref(),
            Some("application/json-patch+json")
        );
        assert_eq!(patch.model_id(), Some("dtmi:x:y;1"));
        assert!(patch.json_body().is_some(), "json-patch+json is JSON");
    }

    #[test]
    fn the_cloud_event_form_is_structured_json() {
        let mut e = thermostat_telemetry();
        e.system_properties.connection_module_id = Some("mod/1".into());
        let ce = e.to_cloud_event();
        assert_eq!(ce["specversion"], "1.0");
        assert_eq!(ce["id"], e.id.as_str());
        assert_eq!(ce["type"], "twinhub.Telemetry");
        assert_eq!(ce["source"], "/hubs/hub1/devices/dev%2E1/modules/mod%2F1");
        assert_eq!(ce["subject"], "thermostat1");
        assert_eq!(ce["dataschema"], "dtmi:com:example:TemperatureController;2");
        assert_eq!(ce["datacontenttype"], "application/json");
        assert_eq!(ce["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(ce["iothubconnectiondeviceid"], "dev.1");
        assert_eq!(ce["iothubmessagesource"], "Telemetry");
        assert_eq!(ce["messageid"], "m-1");
        assert_eq!(ce["data"], json!({"temperature": 21.5}));
        let props: Value = serde_json::from_str(ce["iothubproperties"].as_str().unwrap_or(""))
            .expect("properties are a JSON string");
        assert_eq!(props, json!({"alert": "high"}));
        // Attribute names must be lower-case alphanumerics (CloudEvents 1.0, naming).
        for key in ce.as_object().expect("object").keys() {
            if key == "data_base64" {
                continue;
            }
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{key}"
            );
        }
    }

    #[test]
    fn non_json_bodies_become_data_base64() {
        let mut e = thermostat_telemetry();
        e.system_properties.content_type = Some("text/plain".into());
        e.body = b"hello".to_vec();
        let ce = e.to_cloud_event();
        assert_eq!(ce["data_base64"], "aGVsbG8=");
        assert!(ce.get("data").is_none());
    }

    #[test]
    fn properties_are_case_insensitive_and_replace_on_set() {
        let mut p = Properties::new();
        p.set("Alert", "a");
        p.set("alert", "b");
        assert_eq!(p.len(), 1);
        assert_eq!(p.get("ALERT"), Some("b"));
        assert_eq!(
            MessageSource::parse("twinchangeevents"),
            Some(MessageSource::TwinChangeEvents)
        );
        assert_eq!(MessageSource::parse("nope"), None);
    }
}

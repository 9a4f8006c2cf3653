//! IoT Plug and Play conventions on top of twins, methods and telemetry: components marked
//! `"__t": "c"` inside desired and reported properties (the default component has no marker),
//! writable-property acknowledgements `{value, ac, av, ad}`, component commands as methods
//! named `component*command`, and the component of a telemetry message in its `$.sub` system
//! property.

use serde_json::{Map, Value};

/// The member that marks an object in desired or reported properties as a component.
pub const COMPONENT_MARKER_KEY: &str = "__t";
/// The marker's value.
pub const COMPONENT_MARKER_VALUE: &str = "c";
/// The telemetry system property naming the component (`%24.sub` in the MQTT topic).
pub const TELEMETRY_COMPONENT_PROPERTY: &str = "$.sub";
/// Separates component and command in a method name.
pub const METHOD_COMPONENT_SEPARATOR: char = '*';
/// The acknowledgement code of a value the device set itself (with `av` 0).
pub const ACK_DEVICE_INITIALISED: i64 = 203;

/// Whether a twin value is an object marked as a component.
pub fn is_component(value: &Value) -> bool {
    value
        .get(COMPONENT_MARKER_KEY)
        .and_then(Value::as_str)
        .is_some_and(|m| m == COMPONENT_MARKER_VALUE)
}

/// The direct method that carries a command: `command` for the default component,
/// `component*command` otherwise.
pub fn method_name(component: Option<&str>, command: &str) -> String {
    match component {
        Some(c) => format!("{c}{METHOD_COMPONENT_SEPARATOR}{command}"),
        None => command.to_owned(),
    }
}

/// Splits a method name into component and command: `thermostat1*getMaxMinReport` →
/// (`Some("thermostat1")`, `"getMaxMinReport"`). A name without `*`, or with nothing before
/// it, belongs to the default component.
pub fn split_method_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once(METHOD_COMPONENT_SEPARATOR) {
        Some((component, command)) if !component.is_empty() => (Some(component), command),
        _ => (None, name),
    }
}

/// A writable-property acknowledgement, as a device reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct WritableAck {
    /// The value the device now has.
    pub value: Value,
    /// An HTTP-like status code: 200 applied, 202 pending, 203 set by the device, 400 refused.
    pub code: i64,
    /// The desired `$version` acknowledged (0 for a device-initialised value). The convention
    /// requires it, but devices that omit it exist; validation flags them.
    pub version: Option<u64>,
    /// Optional text.
    pub description: Option<String>,
}

impl WritableAck {
    /// Reads an acknowledgement: an object with `value` and integer `ac`, optional
    /// non-negative integer `av` and string `ad`, and nothing else. `None` for anything else.
    pub fn from_value(value: &Value) -> Option<WritableAck> {
        let members = value.as_object()?;
        if members
            .keys()
            .any(|k| !matches!(k.as_str(), "value" | "ac" | "av" | "ad"))
        {
            return None;
        }
        let description = match members.get("ad") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return None,
        };
        let version = match members.get("av") {
            None => None,
            Some(v) => Some(v.as_u64()?),
        };
        Some(WritableAck {
            value: members.get("value")?.clone(),
            code: members.get("ac")?.as_i64()?,
            version,
            description,
        })
    }

    /// An acknowledgement of a value the device initialised itself (`ac` 203, `av` 0).
    pub fn device_initialised(value: Value) -> WritableAck {
        WritableAck {
            value,
            code: ACK_DEVICE_INITIALISED,
            version: Some(0),
            description: None,
        }
    }

    /// The reported form.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("value".into(), self.value.clone());
        out.insert("ac".into(), Value::from(self.code));
        if let Some(v) = self.version {
            out.insert("av".into(), Value::from(v));
        }
        if let Some(d) = &self.description {
            out.insert("ad".into(), Value::String(d.clone()));
        }
        Value::Object(out)
    }
}

/// A component's properties as a desired or reported patch member: the properties with the
/// component marker added.
pub fn component_value(properties: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        COMPONENT_MARKER_KEY.into(),
        Value::String(COMPONENT_MARKER_VALUE.into()),
    );
    out.extend(properties);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn method_names_join_and_split() {
        assert_eq!(method_name(None, "reboot"), "reboot");
        assert_eq!(
            method_name(Some("thermostat1"), "getMaxMinReport"),
            "thermostat1*getMaxMinReport"
        );
        assert_eq!(
            split_method_name("thermostat1*getMaxMinReport"),
            (Some("thermostat1"), "getMaxMinReport")
        );
        assert_eq!(split_method_name("reboot"), (None, "reboot"));
        assert_eq!(split_method_name("*odd"), (None, "*odd"));
    }

    #[test]
    fn components_are_recognised_by_their_marker() {
        assert!(is_component(&json!({"__t": "c", "x": 1})));
        assert!(!is_component(&json!({"__t": "x"})));
        assert!(!is_component(&json!({"x": 1})));
        assert!(!is_component(&json!("c")));
        assert_eq!(
            component_value(json!({"a": 1}).as_object().cloned().unwrap_or_default()),
            json!({"__t": "c", "a": 1})
        );
    }

    #[test]
    fn acknowledgements_read_and_write() {
        let ack = WritableAck::from_value(&json!({"value": 25.0, "ac": 200, "av": 2, "ad": "ok"}))
            .expect("ack");
        assert_eq!(ack.code, 200);
        assert_eq!(ack.version, Some(2));
        let without_av = WritableAck::from_value(&json!({"value": 1, "ac": 200})).expect("ack");
        assert_eq!(without_av.version, None);
        assert_eq!(ack.description.as_deref(), Some("ok"));
        assert_eq!(
            ack.to_value(),
            json!({"value": 25.0, "ac": 200, "av": 2, "ad": "ok"})
        );
        assert_eq!(
            WritableAck::device_initialised(json!(1)).to_value(),
            json!({"value": 1, "ac": 203, "av": 0})
        );
        for not_ack in [
            json!(25.0),
            json!({"ac": 200, "av": 1}),
            json!({"value": 1, "ac": 200, "av": -1}),
            json!({"value": 1, "ac": "200", "av": 1}),
            json!({"value": 1, "ac": 200, "av": 1, "extra": true}),
            json!({"value": 1, "ac": 200, "av": 1, "ad": 5}),
        ] {
            assert_eq!(WritableAck::from_value(&not_ack), None, "{not_ack}");
        }
    }
}

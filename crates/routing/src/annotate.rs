//! Telemetry understood through the device's model, so a back end can read a message without
//! a parser of its own: for each member of the body, the telemetry's name, schema, unit and
//! semantic types from the interface of the sending component (`dt-subject`, the default
//! component when absent), and whether the payload conforms
//! ([`twinhub_twin::validate_telemetry`]), with every violation.
//!
//! The annotation travels as JSON beside the body ([`Envelope::annotation`]) and, for
//! consumers that filter on headers, as two application properties: `twinhub-conforms`
//! (`true`/`false`) and `twinhub-interface` (the component's interface DTMI).

use serde::Serialize;
use serde_json::Value;
use twinhub_twin::{DeviceModel, TelemetryDef, validate_telemetry};

use crate::envelope::{Envelope, MessageSource};

/// The application property saying whether the body conforms to the model.
pub const CONFORMS_PROPERTY: &str = "twinhub-conforms";
/// The application property naming the interface the body was checked against.
pub const INTERFACE_PROPERTY: &str = "twinhub-interface";

/// What the model says about one telemetry message.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryAnnotation {
    /// The device's model id.
    pub model_id: String,
    /// The sending component (`None`: the default component).
    pub component: Option<String>,
    /// The component's interface, if the model has the component.
    pub interface: Option<String>,
    /// The body is a JSON object whose every member is a telemetry of the interface with a
    /// value that fits its schema.
    pub conforms: bool,
    /// The body's members that are telemetry of the interface, in body order.
    pub telemetry: Vec<TelemetryInfo>,
    pub violations: Vec<ViolationInfo>,
}

/// One telemetry of the interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryInfo {
    pub name: String,
    /// A primitive schema's name (`double`, `dateTime`, …) or a complex schema's class
    /// (`Object`, `Enum`, `Map`, `Array`).
    pub schema: String,
    /// The complex schema's DTMI (absent for primitives).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<String>,
    /// The unit's name (`degreeCelsius`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Semantic types by short name (`Temperature`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub semantic_types: Vec<String>,
    /// The English (or first) display name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A way the body does not fit the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViolationInfo {
    /// RFC 6901 pointer into the body.
    pub pointer: String,
    pub message: String,
}

/// Annotates a telemetry body with `model`, the model of the device that sent it.
pub fn annotate_telemetry(model: &DeviceModel, envelope: &Envelope) -> TelemetryAnnotation {
    let component = envelope.system_properties.dt_subject.clone();
    let interface = model
        .interface(component.as_deref())
        .map(|i| i.id().to_owned());
    // Devices often send PnP telemetry without a content type; a body that parses as JSON is
    // then checked all the same (routing conditions still need the content type, as in IoT Hub).
    let body = envelope.json_body().or_else(|| {
        envelope
            .system_properties
            .content_type
            .is_none()
            .then(|| serde_json::from_slice(&envelope.body).ok())
            .flatten()
    });
    let Some(body) = body else {
        return TelemetryAnnotation {
            model_id: model.root().to_owned(),
            component,
            interface,
            conforms: false,
            telemetry: Vec::new(),
            violations: vec![ViolationInfo {
                pointer: String::new(),
                message: "the body is not JSON (content type application/json, UTF-8), so it \
                          cannot be checked against the model"
                    .into(),
            }],
        };
    };
    let violations: Vec<ViolationInfo> = validate_telemetry(model, component.as_deref(), &body)
        .into_iter()
        .map(|v| ViolationInfo {
            pointer: v.pointer.clone(),
            message: v.to_string(),
        })
        .collect();
    let telemetry = body
        .as_object()
        .map(|members| {
            members
                .keys()
                .filter_map(|name| model.telemetry(component.as_deref(), name))
                .map(|def| info(&def))
                .collect()
        })
        .unwrap_or_default();
    TelemetryAnnotation {
        model_id: model.root().to_owned(),
        component,
        interface,
        conforms: violations.is_empty(),
        telemetry,
        violations,
    }
}

fn info(def: &TelemetryDef<'_>) -> TelemetryInfo {
    let (schema, schema_id) = match def.schema {
        Some(s) if s.is_standard() => (short_name(s.id()).to_owned(), None),
        Some(s) => (s.class().to_owned(), Some(s.id().to_owned())),
        None => ("unknown".to_owned(), None),
    };
    let names = def.element.display_name();
    let display_name = names
        .get("en")
        .or_else(|| names.values().next())
        .map(|s| (*s).to_owned());
    TelemetryInfo {
        name: def.name.to_owned(),
        schema,
        schema_id,
        unit: def.unit_name().map(str::to_owned),
        semantic_types: def
            .semantic_type_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        display_name,
    }
}

/// `dtmi:dtdl:instance:Schema:double;2` → `double`.
fn short_name(id: &str) -> &str {
    let last = id.rsplit(':').next().unwrap_or(id);
    last.split(';').next().unwrap_or(last)
}

/// Sets the annotation on a telemetry envelope (others are left alone): the JSON form and the
/// two properties.
pub fn apply_annotation(envelope: &mut Envelope, annotation: &TelemetryAnnotation) {
    if envelope.source != MessageSource::Telemetry {
        return;
    }
    envelope
        .properties
        .set(CONFORMS_PROPERTY, annotation.conforms.to_string());
    if let Some(i) = &annotation.interface {
        envelope.properties.set(INTERFACE_PROPERTY, i.clone());
    }
    envelope.annotation = serde_json::to_value(annotation)
        .ok()
        .filter(Value::is_object);
}

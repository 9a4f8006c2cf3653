//! Validation of what devices and back ends send against the device's model: reported and
//! desired property patches (components and their `__t` markers, writable-property
//! acknowledgements, values per schema), command requests and responses, and telemetry.
//!
//! Patches are JSON merge patches, so `null` (deleting a property, a component or an object
//! field) is always allowed, and objects inside property values are checked with their `null`
//! members left out. Each [`Violation`] is data: a JSON pointer into the checked payload, the
//! model element concerned, and a kind; the wording lives in its `Display`.

use std::fmt;

use dtdl::{ElementRef, PayloadError, PayloadErrorKind};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{json_kind, push_token};
use crate::model::DeviceModel;
use crate::pnp::{COMPONENT_MARKER_KEY, COMPONENT_MARKER_VALUE, WritableAck};

/// One way a payload does not fit the device's model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// RFC 6901 pointer into the checked payload (`""` for the payload itself).
    pub pointer: String,
    /// The model element the violation concerns, when there is one.
    pub element: Option<ModelElement>,
    pub kind: ViolationKind,
}

/// A content of the device's model, named for messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelElement {
    /// The component (`None` for the default component).
    pub component: Option<String>,
    pub name: String,
    /// `Property`, `Command` or `Telemetry`.
    pub class: String,
    /// The interface defining the content (a base interface for inherited contents).
    pub interface: String,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ViolationKind {
    /// The payload is not a JSON object where one is required.
    NotAnObject { expected: String, found: String },
    /// A component name the model does not have.
    UnknownComponent { name: String, known: Vec<String> },
    /// A content name the component's interface does not have.
    UnknownContent {
        class: String,
        name: String,
        component: Option<String>,
        interface: String,
        known: Vec<String>,
    },
    /// A component's reported properties lack the `"__t": "c"` marker.
    MissingComponentMarker { component: String },
    /// A component marker with another value than `"c"`.
    BadComponentMarker { component: String, found: String },
    /// A component's value is not an object.
    ComponentNotObject { component: String, found: String },
    /// A desired value for a read-only property.
    NotWritable,
    /// A reported writable property that is not an acknowledgement `{value, ac, av, ad}`.
    NotAnAck { problem: String },
    /// A value that does not fit its schema.
    Schema {
        schema: String,
        error: PayloadErrorKind,
    },
    /// A payload for a command (or response) that takes none.
    UnexpectedPayload { what: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        let element = self.element.as_ref().map(ToString::to_string);
        let element = element.as_deref().unwrap_or("the payload");
        match &self.kind {
            ViolationKind::NotAnObject { expected, found } => write!(
                f,
                "{expected} must be a JSON object, not {found}; send an object of names to values"
            ),
            ViolationKind::UnknownComponent { name, known } => write!(
                f,
                "at {at}: '{name}' is not a component of the device's model ({}); remove it or \
                 fix its name",
                listing("components", known)
            ),
            ViolationKind::UnknownContent {
                class,
                name,
                component,
                interface,
                known,
            } => {
                let owner = match component {
                    Some(c) => format!("component {c} ({interface})"),
                    None => interface.clone(),
                };
                write!(
                    f,
                    "at {at}: {owner} has no {} '{name}' ({}); remove it or fix its name",
                    class.to_lowercase(),
                    listing(plural(class), known)
                )
            }
            ViolationKind::MissingComponentMarker { component } => write!(
                f,
                "at {at}: the properties of component {component} lack the marker \
                 \"{COMPONENT_MARKER_KEY}\": \"{COMPONENT_MARKER_VALUE}\"; add it to the \
                 component's object, as IoT Plug and Play requires"
            ),
            ViolationKind::BadComponentMarker { component, found } => write!(
                f,
                "at {at}: component {component} has marker \"{COMPONENT_MARKER_KEY}\": {found}; \
                 the marker must be \"{COMPONENT_MARKER_VALUE}\""
            ),
            ViolationKind::ComponentNotObject { component, found } => write!(
                f,
                "at {at}: component {component} must be an object of its properties, not \
                 {found}; send {{\"{COMPONENT_MARKER_KEY}\": \"{COMPONENT_MARKER_VALUE}\", \
                 \"property\": value}} (or null to remove it)"
            ),
            ViolationKind::NotWritable => write!(
                f,
                "at {at}: {element} is read-only: only the device reports it; set writable \
                 properties only"
            ),
            ViolationKind::NotAnAck { problem } => write!(
                f,
                "at {at}: {element} is writable, so the device must report it as an \
                 acknowledgement {{\"value\": …, \"ac\": status code, \"av\": desired $version, \
                 \"ad\": \"description\"}}: {problem}"
            ),
            ViolationKind::Schema { schema, error } => {
                let payload = PayloadError {
                    pointer: self.pointer.clone(),
                    schema: schema.clone(),
                    kind: error.clone(),
                };
                write!(f, "{element}: {payload}")
            }
            ViolationKind::UnexpectedPayload { what } => {
                write!(f, "at {at}: {element} takes no {what}; send none (null)")
            }
        }
    }
}

impl fmt::Display for ModelElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = self.class.to_lowercase();
        match &self.component {
            Some(c) => write!(
                f,
                "{class} {} of component {c} ({})",
                self.name, self.interface
            ),
            None => write!(f, "{class} {} ({})", self.name, self.interface),
        }
    }
}

fn plural(class: &str) -> &'static str {
    match class {
        "Property" => "properties",
        "Command" => "commands",
        "Telemetry" => "telemetry",
        _ => "contents",
    }
}

fn listing(what: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!("it has no {what}")
    } else {
        format!("{what}: {}", known.join(", "))
    }
}

/// Which twin section a property patch is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Reported,
    Desired,
}

/// Checks a reported-properties patch from the device.
pub fn validate_reported(model: &DeviceModel, patch: &Value) -> Vec<Violation> {
    validate_properties(model, patch, Side::Reported)
}

/// Checks a desired-properties patch (or a whole desired section) from a back end.
pub fn validate_desired(model: &DeviceModel, patch: &Value) -> Vec<Violation> {
    validate_properties(model, patch, Side::Desired)
}

fn validate_properties(model: &DeviceModel, patch: &Value, side: Side) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(members) = patch.as_object() else {
        out.push(Violation {
            pointer: String::new(),
            element: None,
            kind: ViolationKind::NotAnObject {
                expected: match side {
                    Side::Reported => "a reported properties patch".into(),
                    Side::Desired => "a desired properties patch".into(),
                },
                found: json_kind(patch).into(),
            },
        });
        return out;
    };
    for (key, value) in members {
        let pointer = push_token("", key);
        if model.component(key).is_some() {
            validate_component(model, key, value, &pointer, side, &mut out);
        } else if value.get(COMPONENT_MARKER_KEY).is_some() && model.property(None, key).is_none() {
            out.push(unknown_component(model, key, pointer));
        } else {
            validate_property(model, None, key, value, &pointer, side, &mut out);
        }
    }
    out
}

fn validate_component(
    model: &DeviceModel,
    component: &str,
    value: &Value,
    pointer: &str,
    side: Side,
    out: &mut Vec<Violation>,
) {
    let members = match value {
        Value::Null => return,
        Value::Object(m) => m,
        other => {
            out.push(Violation {
                pointer: pointer.to_owned(),
                element: None,
                kind: ViolationKind::ComponentNotObject {
                    component: component.to_owned(),
                    found: json_kind(other).into(),
                },
            });
            return;
        }
    };
    match members.get(COMPONENT_MARKER_KEY) {
        // Desired patches may rely on the marker already being in the twin.
        None if side == Side::Desired => {}
        None => out.push(Violation {
            pointer: pointer.to_owned(),
            element: None,
            kind: ViolationKind::MissingComponentMarker {
                component: component.to_owned(),
            },
        }),
        Some(Value::String(m)) if m == COMPONENT_MARKER_VALUE => {}
        Some(other) => out.push(Violation {
            pointer: push_token(pointer, COMPONENT_MARKER_KEY),
            element: None,
            kind: ViolationKind::BadComponentMarker {
                component: component.to_owned(),
                found: other.to_string(),
            },
        }),
    }
    for (key, value) in members {
        if key != COMPONENT_MARKER_KEY {
            let here = push_token(pointer, key);
            validate_property(model, Some(component), key, value, &here, side, out);
        }
    }
}

fn validate_property(
    model: &DeviceModel,
    component: Option<&str>,
    name: &str,
    value: &Value,
    pointer: &str,
    side: Side,
    out: &mut Vec<Violation>,
) {
    let Some(property) = model.property(component, name) else {
        out.push(unknown_content(model, component, name, "Property", pointer));
        return;
    };
    if value.is_null() {
        return;
    }
    let element = Some(model_element(component, property.element));
    match side {
        Side::Desired if !property.writable => out.push(Violation {
            pointer: pointer.to_owned(),
            element,
            kind: ViolationKind::NotWritable,
        }),
        Side::Desired => check_schema(property.element, value, pointer, element, out),
        Side::Reported if property.writable => match ack_problem(value) {
            Some(problem) => out.push(Violation {
                pointer: pointer.to_owned(),
                element,
                kind: ViolationKind::NotAnAck { problem },
            }),
            None => {
                if let Some(inner) = value.get("value") {
                    let here = push_token(pointer, "value");
                    check_schema(property.element, inner, &here, element, out);
                }
            }
        },
        Side::Reported => check_schema(property.element, value, pointer, element, out),
    }
}

/// What keeps a reported value from being an acknowledgement, if anything.
fn ack_problem(value: &Value) -> Option<String> {
    let Some(members) = value.as_object() else {
        return Some(format!("found {} instead", json_kind(value)));
    };
    if let Some(extra) = members
        .keys()
        .find(|k| !matches!(k.as_str(), "value" | "ac" | "av" | "ad"))
    {
        return Some(format!(
            "member '{extra}' is not part of an acknowledgement"
        ));
    }
    if !members.contains_key("value") {
        return Some("'value' is missing".into());
    }
    if members.get("ac").and_then(Value::as_i64).is_none() {
        return Some("'ac' must be an integer status code (200, 202, 203, 400, …)".into());
    }
    if members.get("av").and_then(Value::as_u64).is_none() {
        return Some(
            "'av' must be the desired $version acknowledged (0 for a value the device set)".into(),
        );
    }
    if members.get("ad").is_some_and(|v| !v.is_string()) {
        return Some("'ad' must be a string".into());
    }
    debug_assert!(WritableAck::from_value(value).is_some());
    None
}

/// Checks a command request sent to the device.
pub fn validate_command(
    model: &DeviceModel,
    component: Option<&str>,
    command: &str,
    payload: &Value,
) -> Result<(), Vec<Violation>> {
    let violations = validate_command_payload(model, component, command, payload, Payload::Request);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// Checks a command response from the device (for flagging: the device has answered).
pub fn validate_command_response(
    model: &DeviceModel,
    component: Option<&str>,
    command: &str,
    response: &Value,
) -> Vec<Violation> {
    validate_command_payload(model, component, command, response, Payload::Response)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    Request,
    Response,
}

fn validate_command_payload(
    model: &DeviceModel,
    component: Option<&str>,
    command: &str,
    payload: &Value,
    which: Payload,
) -> Vec<Violation> {
    if let Some(v) = missing_component(model, component) {
        return vec![v];
    }
    let mut out = Vec::new();
    let Some(def) = model.command(component, command) else {
        out.push(unknown_content(model, component, command, "Command", ""));
        return out;
    };
    let element = Some(model_element(component, def.element));
    let (schema_holder, what) = match which {
        Payload::Request => (def.request, "request payload"),
        Payload::Response => (def.response, "response payload"),
    };
    match schema_holder {
        Some(holder) => {
            for e in holder.validate_payload(payload) {
                out.push(schema_violation(e, "", element.clone()));
            }
        }
        None if payload.is_null() => {}
        None => out.push(Violation {
            pointer: String::new(),
            element,
            kind: ViolationKind::UnexpectedPayload { what: what.into() },
        }),
    }
    out
}

/// Checks a telemetry message body: a JSON object whose members are telemetry names of the
/// component (from the message's `$.sub`, `None` for the default component).
pub fn validate_telemetry(
    model: &DeviceModel,
    component: Option<&str>,
    body: &Value,
) -> Vec<Violation> {
    if let Some(v) = missing_component(model, component) {
        return vec![v];
    }
    let mut out = Vec::new();
    let Some(members) = body.as_object() else {
        out.push(Violation {
            pointer: String::new(),
            element: None,
            kind: ViolationKind::NotAnObject {
                expected: "a telemetry message body".into(),
                found: json_kind(body).into(),
            },
        });
        return out;
    };
    for (name, value) in members {
        let pointer = push_token("", name);
        match model.telemetry(component, name) {
            Some(def) => {
                let element = Some(model_element(component, def.element));
                for e in def.element.validate_payload(value) {
                    out.push(schema_violation(e, &pointer, element.clone()));
                }
            }
            None => out.push(unknown_content(
                model,
                component,
                name,
                "Telemetry",
                &pointer,
            )),
        }
    }
    out
}

fn check_schema(
    element_ref: ElementRef<'_>,
    value: &Value,
    pointer: &str,
    element: Option<ModelElement>,
    out: &mut Vec<Violation>,
) {
    let value = without_null_members(value);
    for e in element_ref.validate_payload(&value) {
        out.push(schema_violation(e, pointer, element.clone()));
    }
}

fn schema_violation(e: PayloadError, base: &str, element: Option<ModelElement>) -> Violation {
    Violation {
        pointer: format!("{base}{}", e.pointer),
        element,
        kind: ViolationKind::Schema {
            schema: e.schema,
            error: e.kind,
        },
    }
}

/// A merge patch's value with `null` object members (deletions) left out, recursively.
fn without_null_members(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_null_members(v)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

fn model_element(component: Option<&str>, element: ElementRef<'_>) -> ModelElement {
    ModelElement {
        component: component.map(str::to_owned),
        name: element.name().unwrap_or_default().to_owned(),
        class: element.class().to_owned(),
        interface: element
            .parent()
            .map(|(p, _)| p.id().to_owned())
            .unwrap_or_default(),
    }
}

/// The violation of naming a component the model does not have, if that is the case.
fn missing_component(model: &DeviceModel, component: Option<&str>) -> Option<Violation> {
    let c = component?;
    model
        .component(c)
        .is_none()
        .then(|| unknown_component(model, c, String::new()))
}

fn unknown_component(model: &DeviceModel, name: &str, pointer: String) -> Violation {
    Violation {
        pointer,
        element: None,
        kind: ViolationKind::UnknownComponent {
            name: name.to_owned(),
            known: model
                .components()
                .iter()
                .map(|c| c.name.to_owned())
                .collect(),
        },
    }
}

fn unknown_content(
    model: &DeviceModel,
    component: Option<&str>,
    name: &str,
    class: &str,
    pointer: &str,
) -> Violation {
    Violation {
        pointer: pointer.to_owned(),
        element: None,
        kind: ViolationKind::UnknownContent {
            class: class.to_owned(),
            name: name.to_owned(),
            component: component.map(str::to_owned),
            interface: model
                .interface(component)
                .map(|i| i.id().to_owned())
                .unwrap_or_default(),
            known: model
                .content_names(component, class)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        },
    }
}

//! The IoT Plug and Play digital twin: a view of the device twin by components and properties
//! (`$dtId`, `$metadata.$model`, root properties, components with their own `$metadata`, and per
//! property `lastUpdateTime`, `desiredValue`, `desiredVersion`, `ackVersion`, `ackCode`,
//! `ackDescription`), and the way back: a digital-twin JSON Patch (the RFC 6902 subset IoT Hub
//! accepts) turned into a desired-properties merge patch.
//!
//! Components are recognised by their `"__t": "c"` marker in the twin and, when the model is
//! known, by the model's components. Reported values of writable properties are
//! acknowledgements; the view shows their `value` and moves the rest into `$metadata`. Without
//! a model (or for a property the model does not have), a value shaped exactly like an
//! acknowledgement is read as one.
//!
//! A patch is applied to the desired state seen as a digital twin (components without their
//! markers), then the result is compared with the current desired state; the difference is the
//! merge patch, with the markers put back. `replace` thereby really replaces (members the new
//! value lacks become `null`), which a plain translation of each operation into a merge would
//! not do.

use serde_json::{Map, Value};

use crate::error::{TwinError, json_kind};
use crate::format_timestamp;
use crate::model::DeviceModel;
use crate::pnp::{COMPONENT_MARKER_KEY, WritableAck, component_value, is_component};
use crate::section::Metadata;
use crate::twin::Twin;

/// Longest DTDL name (v3 and v4; v2 allows 64, and a v2 model's names are that short anyway).
const MAX_DTDL_NAME_CHARS: usize = 512;
/// The member that marks a component in a digital twin and in a patch value.
const DT_METADATA: &str = "$metadata";

/// The digital twin of a device (or module) twin.
pub fn digital_twin(device_id: &str, twin: &Twin, model: Option<&DeviceModel>) -> Value {
    let components = component_names(twin, model);
    let mut out = Map::new();
    out.insert("$dtId".into(), Value::String(device_id.to_owned()));
    let mut root_meta = Map::new();
    if let Some(id) = twin.model_id() {
        root_meta.insert("$model".into(), Value::String(id.to_owned()));
    }
    let root = Level {
        reported: twin.reported(),
        reported_meta: Some(twin.reported_metadata()),
        desired: Some(twin.desired()),
        desired_meta: Some(twin.desired_metadata()),
    };
    root.fill(model, None, &components, &mut out, &mut root_meta);
    for name in &components.0 {
        let reported = twin
            .reported()
            .get(name.as_str())
            .and_then(Value::as_object);
        let desired = twin.desired().get(name.as_str()).and_then(Value::as_object);
        if reported.is_none() && desired.is_none() {
            continue;
        }
        let empty = Map::new();
        let level = Level {
            reported: reported.unwrap_or(&empty),
            reported_meta: twin.reported_metadata().child(name),
            desired,
            desired_meta: twin.desired_metadata().child(name),
        };
        let mut members = Map::new();
        let mut meta = Map::new();
        level.fill(
            model,
            Some(name),
            &Components::default(),
            &mut members,
            &mut meta,
        );
        members.insert(DT_METADATA.into(), Value::Object(meta));
        out.insert(name.clone(), Value::Object(members));
    }
    out.insert(DT_METADATA.into(), Value::Object(root_meta));
    Value::Object(out)
}

/// Component names, in the order the digital twin lists them.
#[derive(Clone, Default)]
struct Components(Vec<String>);

impl Components {
    fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    fn insert(&mut self, name: &str) {
        if !self.contains(name) {
            self.0.push(name.to_owned());
        }
    }
}

/// The names the twin (by marker, in twin order) or the model know as components.
fn component_names(twin: &Twin, model: Option<&DeviceModel>) -> Components {
    let mut names = Components::default();
    for section in [twin.reported(), twin.desired()] {
        for (k, v) in section {
            if is_component(v) {
                names.insert(k);
            }
        }
    }
    if let Some(m) = model {
        for c in m.components() {
            names.insert(c.name);
        }
    }
    names
}

/// One component's (or the root's) slice of both sections.
struct Level<'t> {
    reported: &'t Map<String, Value>,
    reported_meta: Option<&'t Metadata>,
    desired: Option<&'t Map<String, Value>>,
    desired_meta: Option<&'t Metadata>,
}

impl Level<'_> {
    fn fill(
        &self,
        model: Option<&DeviceModel>,
        component: Option<&str>,
        skip: &Components,
        values: &mut Map<String, Value>,
        meta: &mut Map<String, Value>,
    ) {
        let mut names: Vec<&String> = self
            .reported
            .keys()
            .filter(|k| *k != COMPONENT_MARKER_KEY && !skip.contains(k))
            .collect();
        if let Some(desired) = self.desired {
            for k in desired.keys() {
                if k != COMPONENT_MARKER_KEY && !skip.contains(k) && !names.contains(&k) {
                    names.push(k);
                }
            }
        }
        for name in names {
            let mut property_meta = Map::new();
            if let Some(desired) = self.desired.and_then(|d| d.get(name.as_str())) {
                property_meta.insert("desiredValue".into(), desired.clone());
                if let Some(m) = self.desired_meta.and_then(|m| m.child(name)) {
                    property_meta.insert("desiredVersion".into(), m.last_updated_version.into());
                }
            }
            if let Some(reported) = self.reported.get(name.as_str()) {
                let writable = model
                    .and_then(|m| m.property(component, name))
                    .map(|p| p.writable);
                let ack = match writable {
                    Some(false) => None,
                    Some(true) | None => WritableAck::from_value(reported),
                };
                match ack {
                    Some(ack) => {
                        if let Some(v) = ack.version {
                            property_meta.insert("ackVersion".into(), v.into());
                        }
                        property_meta.insert("ackCode".into(), ack.code.into());
                        if let Some(d) = ack.description {
                            property_meta.insert("ackDescription".into(), Value::String(d));
                        }
                        values.insert(name.clone(), ack.value);
                    }
                    None => {
                        values.insert(name.clone(), reported.clone());
                    }
                }
                if let Some(m) = self.reported_meta.and_then(|m| m.child(name)) {
                    property_meta.insert(
                        "lastUpdateTime".into(),
                        Value::String(format_timestamp(&m.last_updated)),
                    );
                }
            }
            meta.insert(name.clone(), Value::Object(property_meta));
        }
    }
}

/// Turns a digital-twin JSON Patch (`[{"op": "add", "path": "/thermostat1/targetTemperature",
/// "value": 42}, …]`) into the desired-properties merge patch that makes it so. Supported:
/// `add`, `replace` and `remove` on `/property`, `/component/property` (and deeper, into
/// object values) and `/component` (whose value must carry `"$metadata": {}`). `add` and
/// `replace` create what the path goes through; `remove` of something absent changes nothing.
pub fn digital_twin_patch_to_desired(
    twin: &Twin,
    model: Option<&DeviceModel>,
    ops: &Value,
) -> Result<Value, TwinError> {
    let Some(ops) = ops.as_array() else {
        return Err(TwinError::NotAPatchDocument {
            found: json_kind(ops),
        });
    };
    let mut components = component_names(twin, model);
    let before = desired_view(twin.desired(), &components);
    let mut after = before.clone();
    for (index, op) in ops.iter().enumerate() {
        apply(&mut after, &mut components, model, op)
            .map_err(|reason| TwinError::DigitalTwinPatch { index, reason })?;
    }
    let mut patch = merge_diff(&before, &after);
    for (name, value) in patch.iter_mut() {
        if components.contains(name)
            && let Value::Object(members) = value
        {
            *value = component_value(std::mem::take(members));
        }
    }
    Ok(Value::Object(patch))
}

/// Desired properties with component markers removed.
fn desired_view(desired: &Map<String, Value>, components: &Components) -> Map<String, Value> {
    desired
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Object(members) if components.contains(k) => Value::Object(
                    members
                        .iter()
                        .filter(|(mk, _)| *mk != COMPONENT_MARKER_KEY)
                        .map(|(mk, mv)| (mk.clone(), mv.clone()))
                        .collect(),
                ),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Remove,
}

fn apply(
    state: &mut Map<String, Value>,
    components: &mut Components,
    model: Option<&DeviceModel>,
    op: &Value,
) -> Result<(), String> {
    let Some(fields) = op.as_object() else {
        return Err(format!(
            "is {}, not an object {{\"op\", \"path\", \"value\"}}",
            json_kind(op)
        ));
    };
    let op_name = fields
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| "has no \"op\" string; use \"add\", \"replace\" or \"remove\"".to_owned())?;
    let kind = match op_name {
        "add" | "replace" => Op::Set,
        "remove" => Op::Remove,
        other => {
            return Err(format!(
                "op \"{other}\" is not supported; digital twins accept \"add\", \"replace\" and \
                 \"remove\""
            ));
        }
    };
    let path = fields
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| "has no \"path\" string such as \"/component/property\"".to_owned())?;
    let segments = parse_path(path)?;
    let value = match kind {
        Op::Set => Some(fields.get("value").ok_or_else(|| {
            format!("\"{op_name}\" of {path} has no \"value\"; add the value to set")
        })?),
        Op::Remove => None,
    };
    let first = segments[0].as_str();
    let marked = value.is_some_and(|v| v.get(DT_METADATA).is_some());
    let known_component =
        components.contains(first) || model.is_some_and(|m| m.component(first).is_some());
    if segments.len() == 1
        && marked
        && !known_component
        && let Some(m) = model
    {
        let known: Vec<&str> = m.components().iter().map(|c| c.name).collect();
        return Err(format!(
            "{first} is not a component of {} (components: {}); only components take a value \
             with \"$metadata\"",
            m.root(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    let is_component = known_component || (segments.len() == 1 && marked);
    if segments.len() == 1 && is_component {
        match value {
            None => {
                state.shift_remove(first);
            }
            Some(v) => {
                let props = component_properties(first, v)?;
                state.insert(first.to_owned(), Value::Object(props));
                components.insert(first);
            }
        }
        return Ok(());
    }
    if let Some(v) = value
        && v.get(DT_METADATA).is_some()
    {
        return Err(format!(
            "the value for {path} carries \"$metadata\", which only a whole component's value \
             may carry"
        ));
    }
    if is_component {
        components.insert(first);
        let slot = state
            .entry(first.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(members) = slot else {
            return Err(format!("{first} holds a value that is not a component"));
        };
        set_at(members, &segments[1..], value, path)
    } else {
        set_at(state, &segments, value, path)
    }
}

/// A component's properties from an add/replace value: the object minus its `$metadata`.
fn component_properties(name: &str, value: &Value) -> Result<Map<String, Value>, String> {
    let Some(members) = value.as_object().filter(|m| m.contains_key(DT_METADATA)) else {
        return Err(format!(
            "the value for component {name} must be an object with the marker \"$metadata\": {{}} \
             and its properties, e.g. {{\"$metadata\": {{}}, \"targetTemperature\": 21}}"
        ));
    };
    let mut props = Map::new();
    for (k, v) in members {
        if k == DT_METADATA {
            continue;
        }
        check_name(k).map_err(|why| format!("property '{k}' of component {name} {why}"))?;
        props.insert(k.clone(), v.clone());
    }
    Ok(props)
}

fn set_at(
    target: &mut Map<String, Value>,
    segments: &[String],
    value: Option<&Value>,
    path: &str,
) -> Result<(), String> {
    let Some((last, through)) = segments.split_last() else {
        return Err(format!(
            "{path} names a component, not a property within it"
        ));
    };
    let mut here = target;
    for segment in through {
        if value.is_none() && !here.contains_key(segment.as_str()) {
            return Ok(());
        }
        let slot = here
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        here = match slot {
            Value::Object(members) => members,
            _ => {
                return Err(format!(
                    "{path} goes through '{segment}', whose value is not an object"
                ));
            }
        };
    }
    match value {
        Some(v) => {
            here.insert(last.clone(), v.clone());
        }
        None => {
            here.shift_remove(last.as_str());
        }
    }
    Ok(())
}

fn parse_path(path: &str) -> Result<Vec<String>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "path \"{path}\" must start with '/', e.g. \"/component/property\""
        ));
    };
    let mut segments = Vec::new();
    for raw in rest.split('/') {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        check_name(&segment).map_err(|why| format!("path \"{path}\": '{segment}' {why}"))?;
        segments.push(segment);
    }
    Ok(segments)
}

/// DTDL names: `[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?`, at most 512 characters.
fn check_name(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    let valid = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphabetic()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        _ => false,
    };
    if !valid {
        return Err(
            "is not a DTDL name (letters, digits and underscores, starting with a letter and \
             not ending with an underscore)",
        );
    }
    if name.len() > MAX_DTDL_NAME_CHARS {
        return Err("is longer than the 512 characters a DTDL name may have");
    }
    Ok(())
}

/// The digital-twin change event between two digital twins (IoT Hub's
/// `digitalTwinChangeEvents` body, `application/json-patch+json`): `add` for every member that
/// is new or changed (RFC 6902 `add` replaces an existing member), `remove` for every member
/// that went away, descending into objects present in both.
pub fn digital_twin_changes(before: &Value, after: &Value) -> Value {
    let mut ops = Vec::new();
    diff_ops(before, after, "", &mut ops);
    Value::Array(ops)
}

fn diff_ops(before: &Value, after: &Value, pointer: &str, ops: &mut Vec<Value>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in new {
                let here = crate::error::push_token(pointer, key);
                match old.get(key) {
                    Some(previous) => diff_ops(previous, value, &here, ops),
                    None => {
                        ops.push(serde_json::json!({"op": "add", "path": here, "value": value}))
                    }
                }
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                let here = crate::error::push_token(pointer, key);
                ops.push(serde_json::json!({"op": "remove", "path": here}));
            }
        }
        (old, new) if old == new => {}
        (_, new) => ops.push(serde_json::json!({"op": "add", "path": pointer, "value": new})),
    }
}

/// The merge patch that turns `before` into `after`.
fn merge_diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for key in before.keys() {
        if !after.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    for (key, new) in after {
        match (before.get(key), new) {
            (Some(Value::Object(old)), Value::Object(new)) => {
                let inner = merge_diff(old, new);
                if !inner.is_empty() {
                    patch.insert(key.clone(), Value::Object(inner));
                }
            }
            (Some(old), new) if old == new => {}
            (_, new) => {
                patch.insert(key.clone(), new.clone());
            }
        }
    }
    patch
}

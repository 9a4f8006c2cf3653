//! Walking the elements of one document: contexts, identifiers, classes and references.

use serde_json::{Map, Value};

use super::{Reference, Session};
use crate::dtmi::Dtmi;
use crate::error::ParsingError;
use crate::model::Element;

/// Properties whose string values are references to other elements.
const REFERENCE_PROPERTIES: &[&str] = &[
    "extends",
    "schema",
    "elementSchema",
    "target",
    "contents",
    "fields",
    "enumValues",
    "request",
    "response",
    "mapKey",
    "mapValue",
    "properties",
];

/// Standard (built-in) identifiers never need resolving.
pub(crate) fn is_standard(d: &Dtmi) -> bool {
    let s = d.as_str();
    s.starts_with("dtmi:dtdl:")
        || s.starts_with("dtmi:standard:")
        || s.starts_with("dtmi:iotcentral:")
}

/// Walks one document; returns its root ids and DTDL version.
pub(crate) fn walk_document(
    s: &mut Session<'_>,
    source: usize,
    value: &Value,
) -> (Vec<crate::Dtmi>, u8) {
    let mut roots = Vec::new();
    let mut version = 0;
    match value {
        Value::Object(o) => {
            version = walk_root(s, source, String::new(), o, &mut roots);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let ptr = format!("/{i}");
                match item {
                    Value::Object(o) => {
                        let v = walk_root(s, source, ptr, o, &mut roots);
                        if version == 0 {
                            version = v;
                        }
                    }
                    _ => s.error(source, ptr, ParsingError::new("notJsonObject")),
                }
            }
        }
        _ => s.error(source, "", ParsingError::new("notJsonObject")),
    }
    (roots, version)
}

fn dtdl_version_of(ctx: &Value) -> Option<u8> {
    let one = |v: &Value| {
        v.as_str()
            .and_then(|s| s.strip_prefix("dtmi:dtdl:context;"))
            .and_then(|n| n.parse::<u8>().ok())
    };
    match ctx {
        Value::Array(a) => a.iter().find_map(one),
        other => one(other),
    }
}

fn walk_root(
    s: &mut Session<'_>,
    source: usize,
    ptr: String,
    o: &Map<String, Value>,
    roots: &mut Vec<Dtmi>,
) -> u8 {
    let version = match o.get("@context") {
        None => {
            s.error(source, ptr.clone(), ParsingError::new("missingContext"));
            0
        }
        Some(ctx) => match dtdl_version_of(ctx) {
            Some(v @ 2..=4) if v <= s.options.max_dtdl_version => v,
            Some(v @ 2..=4) => {
                s.error(
                    source,
                    format!("{ptr}/@context"),
                    ParsingError::new("disallowedContextVersion")
                        .value(v.to_string())
                        .restriction(s.options.max_dtdl_version.to_string()),
                );
                0
            }
            _ => {
                s.error(
                    source,
                    format!("{ptr}/@context"),
                    ParsingError::new("missingDtdlContext"),
                );
                0
            }
        },
    };
    if let Some(id) = walk_element(s, source, &ptr, o, version, 0) {
        roots.push(id);
    }
    version
}

fn walk_element(
    s: &mut Session<'_>,
    source: usize,
    ptr: &str,
    o: &Map<String, Value>,
    version: u8,
    depth: usize,
) -> Option<Dtmi> {
    let class = o.get("@type").and_then(|t| match t {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_owned),
        _ => None,
    });
    let id = match o.get("@id") {
        Some(Value::String(text)) => match Dtmi::parse(text) {
            Ok(d) => Some(d),
            Err(_) => {
                s.error(
                    source,
                    format!("{ptr}/@id"),
                    ParsingError::new("invalidId").value(text.clone()),
                );
                None
            }
        },
        Some(_) => {
            s.error(source, format!("{ptr}/@id"), ParsingError::new("invalidId"));
            None
        }
        None => None,
    };
    if let Some(id) = &id {
        if s.defined_in.contains_key(id) {
            s.error(
                source,
                format!("{ptr}/@id"),
                ParsingError::new("duplicateDefinition").primary(id.as_str()),
            );
        } else {
            s.defined_in.insert(id.clone(), source);
            s.elements.insert(
                id.clone(),
                Element {
                    id: id.clone(),
                    class: class.unwrap_or_default(),
                    dtdl_version: version,
                },
            );
        }
    }
    for (key, value) in o {
        if key.starts_with('@') {
            continue;
        }
        let child_ptr = format!("{ptr}/{}", escape(key));
        let values: Vec<(String, &Value)> = match value {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{child_ptr}/{i}"), v))
                .collect(),
            other => vec![(child_ptr, other)],
        };
        for (p, v) in values {
            match v {
                Value::Object(child) => {
                    walk_element(s, source, &p, child, version, depth + 1);
                }
                Value::String(text) if REFERENCE_PROPERTIES.contains(&key.as_str()) => {
                    if let Ok(target) = Dtmi::parse(text) {
                        s.references.push(Reference {
                            target,
                            source,
                            pointer: p,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    id
}

/// Escapes a key as a JSON pointer token (RFC 6901).
pub(crate) fn escape(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1").into()
    } else {
        key.into()
    }
}

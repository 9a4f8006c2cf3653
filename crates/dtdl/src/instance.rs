//! Instance validation as the language defines it: a JSON text checked against a schema
//! element by the instance conditions of the metamodel digest (per class and DTDL version: the
//! JSON type, the XSD datatype's value space, a lexical pattern, and which properties the
//! value or each of its children must conform to — `elementSchema` for Array items, `fields`
//! for Object members, `mapValue` for Map values, `valueSchema` and `enumValues` for Enums).
//! Only schemas validate instances; other elements (a Telemetry, a Command) refuse. This is
//! the reference parser's `ValidateInstance`, which conformance cases (`instances`) check;
//! [`ElementRef::validate_payload`] is the hub's wider entry point over the same schemas.

use serde_json::Value;

use crate::metamodel::{Metamodel, vkey};
use crate::model::{ElementRef, PropertyValue};
use crate::parser::values_matches;
use crate::payload::formats;
use crate::{PayloadError, PayloadErrorKind};

/// Deepest schema nesting followed (DTDL bounds nesting far below this).
const MAX_DEPTH: usize = 64;

impl<'m> ElementRef<'m> {
    /// Validates the JSON text `instance` against this schema element; returns every
    /// violation (empty when it conforms; a text that is not JSON is one violation). Fails
    /// with a [`PayloadErrorKind::NotASchema`] error when this element is not a schema.
    pub fn validate_instance(&self, instance: &str) -> Result<Vec<PayloadError>, PayloadError> {
        self.require_schema()?;
        match serde_json::from_str::<Value>(instance) {
            Ok(value) => Ok(self.violations(&value)),
            Err(e) => Ok(vec![PayloadError {
                pointer: String::new(),
                schema: self.id().to_owned(),
                kind: PayloadErrorKind::NotJson {
                    detail: e.to_string(),
                },
            }]),
        }
    }

    /// [`ElementRef::validate_instance`] for an already parsed JSON value.
    pub fn validate_instance_value(
        &self,
        value: &Value,
    ) -> Result<Vec<PayloadError>, PayloadError> {
        self.require_schema()?;
        Ok(self.violations(value))
    }

    fn require_schema(&self) -> Result<(), PayloadError> {
        if self.is_schema() {
            Ok(())
        } else {
            Err(PayloadError {
                pointer: String::new(),
                schema: self.id().to_owned(),
                kind: PayloadErrorKind::NotASchema {
                    class: self.class().to_owned(),
                },
            })
        }
    }

    fn violations(&self, value: &Value) -> Vec<PayloadError> {
        let mut out = Vec::new();
        conform(*self, value, &mut String::new(), 0, &mut out);
        out
    }
}

/// The instance conditions of a schema element's class in its DTDL version.
fn conditions(schema: ElementRef<'_>) -> Option<&'static Value> {
    Metamodel::get()
        .class(schema.class())?
        .instance
        .get(vkey(schema.dtdl_version()))
}

fn push(out: &mut Vec<PayloadError>, ptr: &str, schema: ElementRef<'_>, kind: PayloadErrorKind) {
    out.push(PayloadError {
        pointer: ptr.to_owned(),
        schema: schema.id().to_owned(),
        kind,
    });
}

/// Checks `value` against `schema`, appending violations; returns whether it conforms.
fn conform(
    schema: ElementRef<'_>,
    value: &Value,
    ptr: &mut String,
    depth: usize,
    out: &mut Vec<PayloadError>,
) -> bool {
    let before = out.len();
    if depth > MAX_DEPTH {
        push(out, ptr, schema, PayloadErrorKind::TooDeep);
        return false;
    }
    let Some(cond) = conditions(schema) else {
        push(
            out,
            ptr,
            schema,
            PayloadErrorKind::NotASchema {
                class: schema.class().to_owned(),
            },
        );
        return false;
    };
    let element = &cond["element"];
    if !element_conforms(schema, element, value, ptr, out) {
        return false;
    }
    // Properties the whole value must conform to (an Enum: its value schema and a value).
    for prop in strings(&element["instanceProperty"]) {
        match prop {
            "enumValues" => {
                let found = schema.enum_values().iter().any(|ev| {
                    matches!(
                        (ev.enum_value(), value),
                        (Some(PropertyValue::String(s)), Value::String(t)) if s == t
                    ) || matches!(
                        (ev.enum_value(), value),
                        (Some(PropertyValue::Integer(i)), Value::Number(n)) if n.as_i64() == Some(i)
                    )
                });
                if !found {
                    let allowed = schema
                        .enum_values()
                        .iter()
                        .filter_map(|ev| match ev.enum_value()? {
                            PropertyValue::String(s) => Some(format!("\"{s}\"")),
                            PropertyValue::Integer(i) => Some(i.to_string()),
                            _ => None,
                        })
                        .collect();
                    push(out, ptr, schema, PayloadErrorKind::NotInEnum { allowed });
                }
            }
            other => {
                for target in schema.elements(other) {
                    conform(target, value, ptr, depth + 1, out);
                }
            }
        }
    }
    // Conditions on each child (Array items, Object and Map members).
    for prop in strings(&cond["eachChild"]["instanceProperty"]) {
        match (prop, value) {
            ("elementSchema", Value::Array(items)) => {
                let Some(item_schema) = schema.element_schema() else {
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&i.to_string());
                    conform(item_schema, item, ptr, depth + 1, out);
                    ptr.truncate(len);
                }
            }
            ("mapValue", Value::Object(members)) => {
                let Some(value_schema) = schema.map_value().and_then(|mv| mv.schema()) else {
                    continue;
                };
                for (key, v) in members {
                    let len = ptr.len();
                    push_key(ptr, key);
                    conform(value_schema, v, ptr, depth + 1, out);
                    ptr.truncate(len);
                }
            }
            ("fields", Value::Object(members)) => {
                let fields = schema.fields();
                for (key, v) in members {
                    let len = ptr.len();
                    push_key(ptr, key);
                    match fields.iter().find(|f| f.name() == Some(key.as_str())) {
                        Some(field) => {
                            if let Some(field_schema) = field.schema() {
                                conform(field_schema, v, ptr, depth + 1, out);
                            }
                        }
                        None => push(
                            out,
                            ptr,
                            schema,
                            PayloadErrorKind::UnknownField { name: key.clone() },
                        ),
                    }
                    ptr.truncate(len);
                }
            }
            _ => {}
        }
    }
    out.len() == before
}

fn push_key(ptr: &mut String, key: &str) {
    ptr.push('/');
    ptr.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// The element-level conditions: JSON type, datatype value space and lexical pattern.
fn element_conforms(
    schema: ElementRef<'_>,
    element: &Value,
    value: &Value,
    ptr: &str,
    out: &mut Vec<PayloadError>,
) -> bool {
    let datatype = element["datatype"].as_str();
    let expected = datatype.unwrap_or_else(|| element["jsonType"].as_str().unwrap_or("value"));
    let wrong = |out: &mut Vec<PayloadError>| {
        push(
            out,
            ptr,
            schema,
            PayloadErrorKind::WrongType {
                expected: expected.to_owned(),
            },
        );
        false
    };
    let json_ok = match element["jsonType"].as_str() {
        None => true,
        Some("number") => value.is_number(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some(_) => false,
    };
    if !json_ok {
        return wrong(out);
    }
    if let Some(pattern) = element["pattern"].as_str() {
        // Patterns of numeric types apply to the number as written.
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if !values_matches(pattern, &text) {
            push(
                out,
                ptr,
                schema,
                PayloadErrorKind::BadFormat {
                    expected: expected.to_owned(),
                },
            );
            return false;
        }
    }
    let Some(datatype) = datatype else {
        return true;
    };
    let integer = |min: i128, max: i128| {
        let n = value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from));
        n.map(|n| (min..=max).contains(&n))
    };
    let in_space = match datatype {
        "int" => integer(i128::from(i32::MIN), i128::from(i32::MAX)),
        "long" => integer(i128::from(i64::MIN), i128::from(i64::MAX)),
        "short" => integer(i128::from(i16::MIN), i128::from(i16::MAX)),
        "byte" => integer(i128::from(i8::MIN), i128::from(i8::MAX)),
        "unsignedByte" => integer(0, i128::from(u8::MAX)),
        "unsignedShort" => integer(0, i128::from(u16::MAX)),
        "unsignedInt" => integer(0, i128::from(u32::MAX)),
        "unsignedLong" => integer(0, i128::from(u64::MAX)),
        "float" => value
            .as_f64()
            .map(|f| f.is_finite() && f.abs() <= f64::from(f32::MAX)),
        "double" => value.as_f64().map(f64::is_finite),
        "date" => value.as_str().map(formats::is_date),
        "dateTime" => value.as_str().map(formats::is_date_time),
        "time" => value.as_str().map(formats::is_time),
        // The digest's duration pattern uses a look-ahead, which the regex engine does not
        // support; the hand-written ISO 8601 rule stands in for it.
        "duration" => value.as_str().map(crate::parser::is_duration),
        // The lexical pattern is the whole rule for these.
        _ => Some(true),
    };
    match in_space {
        Some(true) => true,
        Some(false) => {
            push(
                out,
                ptr,
                schema,
                PayloadErrorKind::OutOfRange {
                    expected: datatype.to_owned(),
                },
            );
            false
        }
        // A number written with a fraction or exponent is no integer.
        None => wrong(out),
    }
}

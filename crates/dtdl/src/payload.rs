//! Payload validation: checks a JSON value (a telemetry message, a property value, a command
//! request or response) against a parsed schema element, reporting each violation with the
//! JSON pointer of the offending part of the payload. Primitive schemas follow the DTDL value
//! spaces (integer = 32-bit, long = 64-bit, v4 sized and unsigned integers, RFC 3339 dates
//! and times, ISO 8601 durations, UUIDs, base64 bytes); complex schemas (Array, Enum, Map,
//! Object) are checked recursively, with a depth bound.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::model::{ElementRef, PropertyValue};

/// Deepest schema nesting followed; DTDL limits nesting far below this, and recursive v4
/// schemas are thereby bounded too.
const MAX_DEPTH: usize = 64;

/// One violation found in a payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayloadError {
    /// RFC 6901 pointer into the payload (`""` for the payload itself).
    pub pointer: String,
    /// Identifier of the schema element the value was checked against.
    pub schema: String,
    pub kind: PayloadErrorKind,
}

/// What is wrong with a payload value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PayloadErrorKind {
    /// The JSON kind or value space does not fit the schema (e.g. a string for `double`).
    WrongType { expected: String },
    /// A number outside the schema's range (e.g. 2^31 for `integer`).
    OutOfRange { expected: String },
    /// A string that does not have the schema's format (date, duration, UUID, ...).
    BadFormat { expected: String },
    /// A value that is none of the Enum's values.
    NotInEnum { allowed: Vec<String> },
    /// An Object member that is not one of its fields.
    UnknownField { name: String },
    /// A required Object field is missing.
    MissingField { name: String },
    /// A Map key that does not satisfy the map key rules.
    BadMapKey { key: String },
    /// The element given is neither a schema nor something with a schema (e.g. a Command).
    NotASchema { class: String },
    /// Schema nesting deeper than the validator follows.
    TooDeep,
    /// The instance text is not JSON.
    NotJson { detail: String },
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        match &self.kind {
            PayloadErrorKind::WrongType { expected } => {
                write!(
                    f,
                    "value at {at} is not a {expected}; send a {expected} as schema {} requires",
                    self.schema
                )
            }
            PayloadErrorKind::OutOfRange { expected } => {
                write!(
                    f,
                    "value at {at} is outside the range of {expected}; send a value that fits"
                )
            }
            PayloadErrorKind::BadFormat { expected } => {
                write!(
                    f,
                    "value at {at} is not a valid {expected}; use the {expected} format"
                )
            }
            PayloadErrorKind::NotInEnum { allowed } => {
                write!(
                    f,
                    "value at {at} is not one of the allowed values ({}); send one of them",
                    allowed.join(", ")
                )
            }
            PayloadErrorKind::UnknownField { name } => {
                write!(
                    f,
                    "member '{name}' at {at} is not a field of object schema {}; remove it or fix its name",
                    self.schema
                )
            }
            PayloadErrorKind::MissingField { name } => {
                write!(f, "object at {at} lacks required field '{name}'; add it")
            }
            PayloadErrorKind::BadMapKey { key } => {
                write!(
                    f,
                    "map key '{key}' at {at} is not a valid key (letters, digits and underscores, starting with a letter); rename it"
                )
            }
            PayloadErrorKind::NotASchema { class } => {
                write!(
                    f,
                    "a {class} has no schema to validate a payload against; validate against a Telemetry, Property, command payload or schema"
                )
            }
            PayloadErrorKind::NotJson { detail } => {
                write!(
                    f,
                    "the instance is not valid JSON ({detail}); send a JSON text"
                )
            }
            PayloadErrorKind::TooDeep => {
                write!(f, "value at {at} nests deeper than the validator follows")
            }
        }
    }
}

impl std::error::Error for PayloadError {}

impl<'m> ElementRef<'m> {
    /// Validates `value` against this element: a schema, or an element with a `schema`
    /// (Telemetry, Property, CommandRequest/Response, Field, MapValue). Returns every
    /// violation found (empty when the value conforms).
    pub fn validate_payload(&self, value: &Value) -> Vec<PayloadError> {
        let mut errors = Vec::new();
        if self.is_schema() {
            check(*self, value, &mut String::new(), 0, &mut errors);
        } else if let Some(schema) = self.schema() {
            let nullable = self
                .property("nullable")
                .iter()
                .any(|v| matches!(v, PropertyValue::Boolean(true)));
            if !(nullable && value.is_null()) {
                check(schema, value, &mut String::new(), 0, &mut errors);
            }
        } else {
            errors.push(PayloadError {
                pointer: String::new(),
                schema: self.id().to_owned(),
                kind: PayloadErrorKind::NotASchema {
                    class: self.class().to_owned(),
                },
            });
        }
        errors
    }
}

fn push(errors: &mut Vec<PayloadError>, ptr: &str, schema: ElementRef<'_>, kind: PayloadErrorKind) {
    errors.push(PayloadError {
        pointer: ptr.to_owned(),
        schema: schema.id().to_owned(),
        kind,
    });
}

fn wrong(expected: &str) -> PayloadErrorKind {
    PayloadErrorKind::WrongType {
        expected: expected.to_owned(),
    }
}

fn integer_in(value: &Value, min: i128, max: i128) -> Result<(), bool> {
    let n = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                return Err(false);
            }
        }
        _ => return Err(false),
    };
    if n < min || n > max {
        Err(true)
    } else {
        Ok(())
    }
}

fn check(
    schema: ElementRef<'_>,
    value: &Value,
    ptr: &mut String,
    depth: usize,
    errors: &mut Vec<PayloadError>,
) {
    if depth > MAX_DEPTH {
        push(errors, ptr, schema, PayloadErrorKind::TooDeep);
        return;
    }
    let int = |name: &str, min: i128, max: i128, errors: &mut Vec<PayloadError>, ptr: &str| {
        match integer_in(value, min, max) {
            Ok(()) => {}
            Err(true) => push(
                errors,
                ptr,
                schema,
                PayloadErrorKind::OutOfRange {
                    expected: name.to_owned(),
                },
            ),
            Err(false) => push(errors, ptr, schema, wrong(name)),
        }
    };
    match schema.class() {
        "Boolean" => {
            if !value.is_boolean() {
                push(errors, ptr, schema, wrong("boolean"));
            }
        }
        "Integer" => int(
            "integer",
            i128::from(i32::MIN),
            i128::from(i32::MAX),
            errors,
            ptr,
        ),
        "Long" => int(
            "long",
            i128::from(i64::MIN),
            i128::from(i64::MAX),
            errors,
            ptr,
        ),
        "Byte" => int(
            "byte",
            i128::from(i8::MIN),
            i128::from(i8::MAX),
            errors,
            ptr,
        ),
        "Short" => int(
            "short",
            i128::from(i16::MIN),
            i128::from(i16::MAX),
            errors,
            ptr,
        ),
        "UnsignedByte" => int("unsignedByte", 0, i128::from(u8::MAX), errors, ptr),
        "UnsignedShort" => int("unsignedShort", 0, i128::from(u16::MAX), errors, ptr),
        "UnsignedInteger" => int("unsignedInteger", 0, i128::from(u32::MAX), errors, ptr),
        "UnsignedLong" => int("unsignedLong", 0, i128::from(u64::MAX), errors, ptr),
        "Double" => {
            if !value.is_number() {
                push(errors, ptr, schema, wrong("double"));
            }
        }
        "Float" => match value.as_f64() {
            Some(f) if f.abs() <= f64::from(f32::MAX) => {}
            Some(_) => push(
                errors,
                ptr,
                schema,
                PayloadErrorKind::OutOfRange {
                    expected: "float".into(),
                },
            ),
            None => push(errors, ptr, schema, wrong("float")),
        },
        "Decimal" => {
            let ok = value.is_number()
                || value
                    .as_str()
                    .is_some_and(|s| s.trim().parse::<f64>().is_ok());
            if !ok {
                push(errors, ptr, schema, wrong("decimal"));
            }
        }
        "String" => {
            if !value.is_string() {
                push(errors, ptr, schema, wrong("string"));
            }
        }
        "Date" | "DateTime" | "Time" | "Duration" | "Uuid" | "Bytes" => {
            let (name, ok): (&str, fn(&str) -> bool) = match schema.class() {
                "Date" => ("date", formats::is_date),
                "DateTime" => ("dateTime", formats::is_date_time),
                "Time" => ("time", formats::is_time),
                "Duration" => ("duration", formats::is_duration),
                "Uuid" => ("uuid", formats::is_uuid),
                _ => ("bytes", formats::is_base64),
            };
            match value.as_str() {
                Some(s) if ok(s) => {}
                Some(_) => push(
                    errors,
                    ptr,
                    schema,
                    PayloadErrorKind::BadFormat {
                        expected: name.to_owned(),
                    },
                ),
                None => push(errors, ptr, schema, wrong(name)),
            }
        }
        "Array" => {
            let Value::Array(items) = value else {
                push(errors, ptr, schema, wrong("array"));
                return;
            };
            let Some(element) = schema.element_schema() else {
                return;
            };
            for (i, item) in items.iter().enumerate() {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&i.to_string());
                check(element, item, ptr, depth + 1, errors);
                ptr.truncate(len);
            }
        }
        "Enum" => {
            let values: Vec<PropertyValue<'_>> = schema
                .enum_values()
                .iter()
                .filter_map(|v| v.enum_value())
                .collect();
            let found = values.iter().any(|v| match (v, value) {
                (PropertyValue::String(s), Value::String(t)) => s == t,
                (PropertyValue::Integer(i), Value::Number(n)) => n.as_i64() == Some(*i),
                _ => false,
            });
            if !found {
                let allowed = values
                    .iter()
                    .map(|v| match v {
                        PropertyValue::String(s) => format!("\"{s}\""),
                        PropertyValue::Integer(i) => i.to_string(),
                        _ => String::new(),
                    })
                    .collect();
                push(errors, ptr, schema, PayloadErrorKind::NotInEnum { allowed });
            }
        }
        "Map" => {
            let Value::Object(members) = value else {
                push(errors, ptr, schema, wrong("map (JSON object)"));
                return;
            };
            let value_schema = schema.map_value().and_then(|mv| mv.schema());
            for (key, v) in members {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&key.replace('~', "~0").replace('/', "~1"));
                if !formats::is_map_key(key) {
                    push(
                        errors,
                        ptr,
                        schema,
                        PayloadErrorKind::BadMapKey { key: key.clone() },
                    );
                }
                if let Some(vs) = value_schema {
                    check(vs, v, ptr, depth + 1, errors);
                }
                ptr.truncate(len);
            }
        }
        "Object" => {
            let Value::Object(members) = value else {
                push(errors, ptr, schema, wrong("object"));
                return;
            };
            let fields = schema.fields();
            for (key, v) in members {
                let len = ptr.len();
                ptr.push('/');
                ptr.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match fields.iter().find(|f| f.name() == Some(key.as_str())) {
                    Some(field) => {
                        if let Some(fs) = field.schema() {
                            check(fs, v, ptr, depth + 1, errors);
                        }
                    }
                    None => push(
                        errors,
                        ptr,
                        schema,
                        PayloadErrorKind::UnknownField { name: key.clone() },
                    ),
                }
                ptr.truncate(len);
            }
            for field in &fields {
                if field.has_type("Required")
                    && let Some(name) = field.name()
                    && !members.contains_key(name)
                {
                    push(
                        errors,
                        ptr,
                        schema,
                        PayloadErrorKind::MissingField {
                            name: name.to_owned(),
                        },
                    );
                }
            }
        }
        other => push(
            errors,
            ptr,
            schema,
            PayloadErrorKind::NotASchema {
                class: other.to_owned(),
            },
        ),
    }
}

/// Lexical formats of the temporal and other string-encoded primitive schemas.
pub(crate) mod formats {
    fn digits(s: &str, n: usize) -> Option<u32> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }

    /// RFC 3339 full-date.
    pub(crate) fn is_date(s: &str) -> bool {
        let mut p = s.split('-');
        let (Some(y), Some(m), Some(d), None) = (p.next(), p.next(), p.next(), p.next()) else {
            return false;
        };
        let (Some(y), Some(m), Some(d)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
            return false;
        };
        let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        (1..=days).contains(&d)
    }

    /// RFC 3339 partial-time, optionally with a time offset.
    pub(crate) fn is_time(s: &str) -> bool {
        let (clock, offset) = split_offset(s);
        if let Some(o) = offset
            && !is_offset(o)
        {
            return false;
        }
        let (hms, frac) = match clock.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (clock, None),
        };
        if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
            return false;
        }
        let mut p = hms.split(':');
        let (Some(h), Some(m), Some(sec), None) = (p.next(), p.next(), p.next(), p.next()) else {
            return false;
        };
        matches!((digits(h, 2), digits(m, 2), digits(sec, 2)), (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s <= 60)
    }

    fn split_offset(s: &str) -> (&str, Option<&str>) {
        if let Some(c) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
            return (c, Some("Z"));
        }
        match s.rfind(['+', '-']) {
            Some(i) if i >= 8 => (&s[..i], Some(&s[i..])),
            _ => (s, None),
        }
    }

    fn is_offset(o: &str) -> bool {
        if o == "Z" {
            return true;
        }
        let body = &o[1..];
        let Some((h, m)) = body.split_once(':') else {
            return false;
        };
        matches!((digits(h, 2), digits(m, 2)), (Some(h), Some(m)) if h < 24 && m < 60)
    }

    /// RFC 3339 date-time (with a time offset).
    pub(crate) fn is_date_time(s: &str) -> bool {
        let Some(i) = s.find(['T', 't', ' ']) else {
            return false;
        };
        let (date, time) = (&s[..i], &s[i + 1..]);
        is_date(date) && split_offset(time).1.is_some() && is_time(time)
    }

    /// ISO 8601 duration.
    pub(super) fn is_duration(t: &str) -> bool {
        crate::parser::is_duration(t)
    }

    /// 8-4-4-4-12 hexadecimal UUID.
    pub(super) fn is_uuid(s: &str) -> bool {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 5
            && parts
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Standard base64 with padding.
    pub(super) fn is_base64(s: &str) -> bool {
        let b = s.as_bytes();
        if !b.len().is_multiple_of(4) {
            return false;
        }
        let pad = b.iter().rev().take_while(|c| **c == b'=').count();
        pad <= 2
            && b[..b.len() - pad]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
    }

    /// DTDL map keys: a letter, then letters, digits and underscores.
    pub(super) fn is_map_key(s: &str) -> bool {
        let b = s.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn temporal_and_string_formats() {
            assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-13-01"));
            assert!(is_time("12:30:00") && is_time("12:30:00.5+01:00") && !is_time("25:00:00"));
            assert!(is_date_time("2024-01-01T00:00:00Z") && !is_date_time("2024-01-01T00:00:00"));
            assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000") && !is_uuid("123"));
            assert!(is_base64("aGVsbG8=") && !is_base64("abc"));
            assert!(is_map_key("a_1") && !is_map_key("1a"));
        }
    }
}

//! Elements and schemas as short texts for people (change details, pages).

use dtdl::{ElementRef, PropertyValue};

/// One line describing a content, e.g. `Property targetTemperature: double (writable)`.
pub fn content_summary(content: ElementRef<'_>) -> String {
    let name = content.name().unwrap_or_default();
    let mut text = format!("{} {name}", content.class());
    match content.class() {
        "Command" => {
            let request = content
                .request()
                .and_then(|r| r.schema())
                .map(schema_text)
                .unwrap_or_else(|| "nothing".to_owned());
            let response = content
                .response()
                .and_then(|r| r.schema())
                .map(schema_text)
                .unwrap_or_else(|| "nothing".to_owned());
            text.push_str(&format!(": {request} → {response}"));
        }
        "Relationship" => {
            text.push_str(&format!(
                " → {}",
                content.target().unwrap_or("any interface")
            ));
        }
        _ => {
            if let Some(schema) = content.schema() {
                text.push_str(&format!(": {}", schema_text(schema)));
            }
        }
    }
    if content.class() == "Property" && content.writable() {
        text.push_str(" (writable)");
    }
    if let Some(unit) = content.unit() {
        text.push_str(&format!(" in {}", short_id(unit.id())));
    }
    text
}

/// The last segment of a DTMI without version: `dtmi:standard:unit:degreeCelsius;2` → `degreeCelsius`.
pub fn short_id(id: &str) -> &str {
    let last = id.rsplit(':').next().unwrap_or(id);
    last.split(';').next().unwrap_or(last)
}

/// A compact, readable rendering of a schema: `double`, `Enum<string>{heat, cool}`,
/// `Object{ok: boolean, tags: Map<string, Array<dateTime>>}`, or the DTMI of a named schema
/// defined elsewhere.
pub fn schema_text(schema: ElementRef<'_>) -> String {
    schema_text_depth(schema, 0)
}

pub(super) fn schema_text_depth(schema: ElementRef<'_>, depth: usize) -> String {
    if depth > 6 {
        return "…".to_owned();
    }
    let inner = |s: Option<ElementRef<'_>>| {
        s.map(|s| schema_text_depth(s, depth + 1))
            .unwrap_or_else(|| "?".to_owned())
    };
    match schema.class() {
        "Object" => {
            let fields: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name().unwrap_or_default(), inner(f.schema())))
                .collect();
            format!("Object{{{}}}", fields.join(", "))
        }
        "Enum" => {
            let values: Vec<String> = schema
                .enum_values()
                .iter()
                .map(|v| enum_value_text(*v))
                .collect();
            format!(
                "Enum<{}>{{{}}}",
                inner(schema.value_schema()),
                values.join(", ")
            )
        }
        "Map" => format!(
            "Map<{}, {}>",
            inner(schema.map_key().and_then(|k| k.schema())),
            inner(schema.map_value().and_then(|v| v.schema()))
        ),
        "Array" => format!("Array<{}>", inner(schema.element_schema())),
        "Interface" => schema.id().to_owned(),
        class if schema.is_standard() => lower_first(class),
        class => lower_first(class),
    }
}

pub(super) fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `name = value` of an enum value, e.g. `heat = "heat"` or `low = 1`.
pub fn enum_value_text(value: ElementRef<'_>) -> String {
    let name = value.name().unwrap_or_default();
    match value.enum_value() {
        Some(PropertyValue::String(s)) => format!("{name} = \"{s}\""),
        Some(PropertyValue::Integer(n)) => format!("{name} = {n}"),
        _ => name.to_owned(),
    }
}

pub(super) fn enum_literal(value: ElementRef<'_>) -> String {
    match value.enum_value() {
        Some(PropertyValue::String(s)) => format!("\"{s}\""),
        Some(PropertyValue::Integer(n)) => n.to_string(),
        _ => String::new(),
    }
}

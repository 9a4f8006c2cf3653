//! The DTMIs a model document depends on, read syntactically as the DMR clients do: `extends`
//! and the `schema` of each component, each a DTMI string, an inline interface, or an array of
//! those, recursing through inline interfaces. (Co-typed components such as
//! `["Component", "X"]` count too; the Azure clients miss them.)

use serde_json::Value;

/// DTMIs referenced by `extends` and component schemas of `model`, each once, in document order.
///
/// ```
/// let model = serde_json::json!({
///     "@id": "dtmi:com:example:Controller;1",
///     "@type": "Interface",
///     "extends": "dtmi:com:example:Base;1",
///     "contents": [
///         {"@type": "Component", "name": "t", "schema": "dtmi:com:example:Thermostat;1"},
///         {"@type": "Telemetry", "name": "x", "schema": "double"}
///     ]
/// });
/// assert_eq!(
///     twinhub_client::dependencies_of(&model),
///     ["dtmi:com:example:Base;1", "dtmi:com:example:Thermostat;1"]
/// );
/// ```
pub fn dependencies_of(model: &Value) -> Vec<String> {
    let mut found = Vec::new();
    interface(model, &mut found);
    found
}

fn interface(value: &Value, found: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        return;
    };
    if let Some(extends) = object.get("extends") {
        reference(extends, found);
    }
    for item in object
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let is_component = match item.get("@type") {
            Some(Value::String(t)) => t == "Component",
            Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some("Component")),
            _ => false,
        };
        if is_component && let Some(schema) = item.get("schema") {
            reference(schema, found);
        }
    }
}

fn reference(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(dtmi) if !found.contains(dtmi) => found.push(dtmi.clone()),
        Value::Array(items) => items.iter().for_each(|item| reference(item, found)),
        Value::Object(_) => interface(value, found),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_interfaces_and_arrays_are_followed() {
        let model = serde_json::json!({
            "extends": [
                "dtmi:a:B;1",
                {"@type": "Interface", "extends": "dtmi:a:C;1", "contents": [
                    {"@type": ["Component", "X"], "name": "c", "schema": "dtmi:a:D;1"}
                ]}
            ],
            "contents": [
                {"@type": "Component", "name": "e", "schema": {"@type": "Interface", "extends": ["dtmi:a:B;1"]}},
                {"@type": "Property", "name": "p", "schema": "dtmi:a:NotFollowed;1"}
            ]
        });
        assert_eq!(
            dependencies_of(&model),
            ["dtmi:a:B;1", "dtmi:a:C;1", "dtmi:a:D;1"]
        );
    }
}

//! The object model views and payload validation on a small but complete model.

use dtdl::{ParsingOptions, PayloadErrorKind, PropertyValue, parse};
use serde_json::json;

const BASE: &str = r#"{
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:Base;1",
  "@type": "Interface",
  "contents": [
    { "@type": "Property", "name": "serial", "schema": "string" }
  ]
}"#;

const THERMOSTAT: &str = r#"{
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:com:example:Thermostat;1",
  "@type": "Interface",
  "displayName": { "en": "Thermostat", "de": "Thermostat" },
  "extends": "dtmi:com:example:Base;1",
  "contents": [
    { "@type": ["Telemetry", "Temperature"], "name": "temp", "schema": "double", "unit": "degreeCelsius" },
    { "@type": "Property", "name": "target", "schema": "integer", "writable": true },
    { "@type": "Property", "name": "mode", "schema": {
        "@type": "Enum", "valueSchema": "string",
        "enumValues": [ { "name": "heat", "enumValue": "heat" }, { "name": "cool", "enumValue": "cool" } ] } },
    { "@type": "Command", "name": "reboot",
      "request": { "name": "delay", "schema": "duration" },
      "response": { "name": "report", "schema": {
        "@type": "Object",
        "fields": [
          { "name": "ok", "schema": "boolean" },
          { "name": "tags", "schema": { "@type": "Map",
              "mapKey": { "name": "k", "schema": "string" },
              "mapValue": { "name": "v", "schema": { "@type": "Array", "elementSchema": "dateTime" } } } }
        ] } } }
  ]
}"#;

#[test]
fn interfaces_expose_own_and_inherited_contents() {
    let model = parse(&[THERMOSTAT, BASE], None, &ParsingOptions::default()).expect("valid model");
    let t = model
        .element("dtmi:com:example:Thermostat;1")
        .expect("thermostat");
    assert_eq!(t.class(), "Interface");
    assert_eq!(t.display_name().get("de"), Some(&"Thermostat"));
    let names: Vec<_> = t.all_contents().iter().filter_map(|c| c.name()).collect();
    assert_eq!(names, ["temp", "target", "mode", "reboot", "serial"]);
    assert_eq!(t.telemetries().len(), 1);
    assert!(t.content("target").expect("target").writable());
    let temp = t.content("temp").expect("temp");
    assert!(temp.has_type("Temperature"));
    assert_eq!(temp.schema().map(|s| s.class()), Some("Double"));
    assert!(
        temp.unit()
            .is_some_and(|u| u.id().ends_with(":degreeCelsius"))
    );
    assert_eq!(temp.id(), "dtmi:com:example:Thermostat:_contents:__temp;1");
    assert!(temp.is_submitted() && !temp.has_explicit_id());
    let mode = t.content("mode").and_then(|m| m.schema()).expect("enum");
    let values: Vec<_> = mode
        .enum_values()
        .iter()
        .filter_map(|v| match v.enum_value() {
            Some(PropertyValue::String(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(values, ["heat", "cool"]);
    let json = serde_json::to_value(&model).expect("serialises");
    assert!(json["elements"].as_array().is_some_and(|e| e.len() > 10));
}

#[test]
fn payloads_are_checked_against_schemas_with_json_pointers() {
    let model = parse(&[THERMOSTAT, BASE], None, &ParsingOptions::default()).expect("valid model");
    let t = model
        .element("dtmi:com:example:Thermostat;1")
        .expect("thermostat");
    let temp = t.content("temp").expect("temp");
    assert!(temp.validate_payload(&json!(21.5)).is_empty());
    assert_eq!(
        temp.validate_payload(&json!("warm"))[0].kind,
        PayloadErrorKind::WrongType {
            expected: "double".into()
        }
    );

    let target = t.content("target").expect("target");
    assert!(matches!(
        target.validate_payload(&json!(4_294_967_296_i64))[0].kind,
        PayloadErrorKind::OutOfRange { .. }
    ));

    let mode = t.content("mode").expect("mode");
    assert!(mode.validate_payload(&json!("heat")).is_empty());
    assert!(matches!(
        mode.validate_payload(&json!("dry"))[0].kind,
        PayloadErrorKind::NotInEnum { .. }
    ));

    let reboot = t.content("reboot").expect("reboot");
    assert!(matches!(
        reboot.validate_payload(&json!(1))[0].kind,
        PayloadErrorKind::NotASchema { .. }
    ));
    assert!(
        reboot
            .request()
            .expect("request")
            .validate_payload(&json!("PT5S"))
            .is_empty()
    );
    let response = reboot.response().expect("response");
    let good = json!({ "ok": true, "tags": { "a": ["2024-01-01T00:00:00Z"] } });
    assert!(response.validate_payload(&good).is_empty());
    let bad = json!({ "ok": "yes", "extra": 1, "tags": { "1x": ["yesterday"] } });
    let errors = response.validate_payload(&bad);
    let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/ok", "/extra", "/tags/1x", "/tags/1x/0"]);
    assert!(errors.iter().all(|e| !e.to_string().is_empty()));
}

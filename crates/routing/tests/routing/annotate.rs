//! Telemetry annotated through a DTDL model: per-component interfaces, units, semantic types,
//! conformance and violations.

use serde_json::json;
use twinhub_routing::annotate::{CONFORMS_PROPERTY, INTERFACE_PROPERTY};
use twinhub_routing::{annotate_telemetry, apply_annotation};
use twinhub_twin::DeviceModel;

use crate::support::telemetry;

const THERMOSTAT: &str = r#"{
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:com:example:Thermostat;1",
  "@type": "Interface",
  "contents": [
    { "@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double",
      "unit": "degreeCelsius", "displayName": { "en": "Temperature" } },
    { "@type": "Telemetry", "name": "mode", "schema": {
        "@type": "Enum", "valueSchema": "string",
        "enumValues": [ { "name": "heat", "enumValue": "heat" }, { "name": "cool", "enumValue": "cool" } ] } }
  ]
}"#;

const CONTROLLER: &str = r#"{
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:Controller;1",
  "@type": "Interface",
  "contents": [
    { "@type": "Telemetry", "name": "workingSet", "schema": "long" },
    { "@type": "Component", "name": "thermostat1", "schema": "dtmi:com:example:Thermostat;1" }
  ]
}"#;

fn model() -> DeviceModel {
    DeviceModel::from_documents(&[CONTROLLER, THERMOSTAT], "dtmi:com:example:Controller;1")
        .expect("model parses")
}

#[test]
fn component_telemetry_is_described_by_its_interface() {
    let model = model();
    let mut e = telemetry("d1", json!({"temperature": 21.5, "mode": "heat"}), &[]);
    e.system_properties.dt_subject = Some("thermostat1".into());
    let a = annotate_telemetry(&model, &e);
    assert!(a.conforms, "{:?}", a.violations);
    assert_eq!(a.model_id, "dtmi:com:example:Controller;1");
    assert_eq!(a.component.as_deref(), Some("thermostat1"));
    assert_eq!(
        a.interface.as_deref(),
        Some("dtmi:com:example:Thermostat;1")
    );
    let json = serde_json::to_value(&a.telemetry).expect("serialises");
    assert_eq!(json[0]["name"], "temperature");
    assert_eq!(json[0]["schema"], "double");
    assert_eq!(json[0]["unit"], "degreeCelsius");
    assert_eq!(json[0]["semanticTypes"], json!(["Temperature"]));
    assert_eq!(json[0]["displayName"], "Temperature");
    assert_eq!(json[1]["name"], "mode");
    assert_eq!(json[1]["schema"], "Enum");
    assert!(json[1]["schemaId"].is_string());

    apply_annotation(&mut e, &a);
    assert_eq!(e.properties.get(CONFORMS_PROPERTY), Some("true"));
    assert_eq!(
        e.properties.get(INTERFACE_PROPERTY),
        Some("dtmi:com:example:Thermostat;1")
    );
    let ann = e.annotation.as_ref().expect("annotation set");
    assert_eq!(ann["conforms"], true);
    let ce = e.to_cloud_event();
    assert!(
        ce["twinhubannotation"]
            .as_str()
            .is_some_and(|s| s.contains("degreeCelsius"))
    );
}

#[test]
fn default_component_telemetry_uses_the_root_interface() {
    let a = annotate_telemetry(&model(), &telemetry("d1", json!({"workingSet": 1024}), &[]));
    assert!(a.conforms);
    assert_eq!(
        a.interface.as_deref(),
        Some("dtmi:com:example:Controller;1")
    );
    assert_eq!(a.telemetry[0].schema, "long");
}

#[test]
fn payloads_that_break_the_model_are_flagged_with_pointers() {
    let model = model();
    let mut e = telemetry(
        "d1",
        json!({"temperature": "warm", "mode": "dry", "humidity": 3}),
        &[],
    );
    e.system_properties.dt_subject = Some("thermostat1".into());
    let a = annotate_telemetry(&model, &e);
    assert!(!a.conforms);
    let pointers: Vec<&str> = a.violations.iter().map(|v| v.pointer.as_str()).collect();
    assert_eq!(pointers, ["/temperature", "/mode", "/humidity"]);
    assert!(
        a.violations[2].message.contains("humidity"),
        "{}",
        a.violations[2].message
    );
    // Only known telemetry is described.
    assert_eq!(a.telemetry.len(), 2);

    let mut e = e;
    apply_annotation(&mut e, &a);
    assert_eq!(e.properties.get(CONFORMS_PROPERTY), Some("false"));
}

#[test]
fn unknown_components_and_non_json_bodies_do_not_conform() {
    let model = model();
    let mut e = telemetry("d1", json!({"temperature": 1}), &[]);
    e.system_properties.dt_subject = Some("nope".into());
    let a = annotate_telemetry(&model, &e);
    assert!(!a.conforms);
    assert_eq!(a.interface, None);
    assert!(
        a.violations[0].message.contains("nope"),
        "{}",
        a.violations[0].message
    );

    let mut e = telemetry("d1", json!({}), &[]);
    e.system_properties.content_type = Some("application/octet-stream".into());
    let a = annotate_telemetry(&model, &e);
    assert!(!a.conforms);
    assert!(a.violations[0].message.contains("not JSON"));

    // Without a content type, a JSON body is still understood.
    let mut e = telemetry("d1", json!({"workingSet": 3}), &[]);
    e.system_properties.content_type = None;
    e.system_properties.content_encoding = None;
    assert!(annotate_telemetry(&model, &e).conforms);
    e.body = b"not json".to_vec();
    let a = annotate_telemetry(&model, &e);
    assert!(!a.conforms);
    assert!(a.violations[0].message.contains("not JSON"));
}

//! Validation and the digital twin over small DTDL v3 and v4 models written here: inherited
//! components and contents, complex schemas in merge patches, nullable command requests (v4).

use serde_json::json;
use twinhub_twin::{
    DeviceModel, ModelError, Twin, TwinLimits, ViolationKind, digital_twin,
    digital_twin_patch_to_desired, validate_command, validate_desired, validate_reported,
    validate_telemetry,
};

const BASE: &str = r#"{
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:Base;1",
  "@type": "Interface",
  "contents": [
    { "@type": "Property", "name": "firmware", "schema": "string" },
    { "@type": "Component", "name": "sensor", "schema": "dtmi:com:example:Sensor;1" }
  ]
}"#;

const SENSOR_BASE: &str = r#"{
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:SensorBase;1",
  "@type": "Interface",
  "contents": [
    { "@type": "Telemetry", "name": "status", "schema": {
        "@type": "Enum", "valueSchema": "integer",
        "enumValues": [ { "name": "ok", "enumValue": 0 }, { "name": "fault", "enumValue": 1 } ] } }
  ]
}"#;

const SENSOR: &str = r#"{
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:com:example:Sensor;1",
  "@type": "Interface",
  "extends": "dtmi:com:example:SensorBase;1",
  "contents": [
    { "@type": ["Telemetry", "RelativeHumidity"], "name": "humidity", "schema": "double", "unit": "percent" },
    { "@type": "Property", "name": "interval", "schema": "duration", "writable": true }
  ]
}"#;

const DEVICE: &str = r#"{
  "@context": "dtmi:dtdl:context;4",
  "@id": "dtmi:com:example:Device;1",
  "@type": "Interface",
  "extends": "dtmi:com:example:Base;1",
  "contents": [
    { "@type": "Property", "name": "config", "writable": true, "schema": {
        "@type": "Object",
        "fields": [
          { "name": "mode", "schema": { "@type": "Enum", "valueSchema": "string",
              "enumValues": [ { "name": "eco", "enumValue": "eco" }, { "name": "max", "enumValue": "max" } ] } },
          { "name": "limits", "schema": { "@type": "Map",
              "mapKey": { "name": "zone", "schema": "string" },
              "mapValue": { "name": "celsius", "schema": "double" } } },
          { "name": "hours", "schema": { "@type": "Array", "elementSchema": "integer" } }
        ] } },
    { "@type": "Command", "name": "ping" },
    { "@type": "Command", "name": "wake",
      "request": { "name": "at", "schema": "dateTime", "nullable": true } }
  ]
}"#;

fn model() -> DeviceModel {
    DeviceModel::from_documents(
        &[DEVICE, BASE, SENSOR, SENSOR_BASE],
        "dtmi:com:example:Device;1",
    )
    .expect("device model")
}

#[test]
fn inherited_components_and_contents_are_found() {
    let m = model();
    assert_eq!(
        m.component("sensor").map(|c| c.interface.id()),
        Some("dtmi:com:example:Sensor;1")
    );
    assert!(m.property(None, "firmware").is_some());
    assert!(m.telemetry(Some("sensor"), "status").is_some());
    let humidity = m.telemetry(Some("sensor"), "humidity").expect("humidity");
    assert_eq!(humidity.unit_name(), Some("percent"));
    assert_eq!(humidity.semantic_type_names(), ["RelativeHumidity"]);
    assert!(
        m.property(Some("sensor"), "interval")
            .is_some_and(|p| p.writable)
    );
    assert_eq!(m.content_names(None, "Command"), ["ping", "wake"]);
}

#[test]
fn models_must_name_an_interface_they_contain() {
    let err = DeviceModel::from_documents(&[BASE, SENSOR, SENSOR_BASE], "dtmi:com:example:Other;1")
        .expect_err("not there");
    assert!(matches!(err, ModelError::RootNotFound { .. }), "{err:?}");
    let err = DeviceModel::from_documents(
        &[BASE, SENSOR, SENSOR_BASE],
        "dtmi:com:example:Sensor:_contents:__humidity;1",
    )
    .expect_err("not an interface");
    assert_eq!(
        err.to_string(),
        "dtmi:com:example:Sensor:_contents:__humidity;1 is a Telemetry, not an Interface; a \
         device's model id must name an Interface"
    );
    assert!(matches!(
        DeviceModel::from_documents(&[DEVICE], "dtmi:com:example:Device;1"),
        Err(ModelError::Parse(_))
    ));
}

#[test]
fn complex_values_are_checked_as_merge_patches() {
    let m = model();
    // Partial objects, map keys deleted with null, arrays.
    for desired in [
        json!({"config": {"mode": "eco"}}),
        json!({"config": {"limits": {"kitchen": 21.5, "hall": null}, "hours": [6, 22]}}),
        json!({"config": null}),
        json!({"sensor": {"__t": "c", "interval": "PT5M"}}),
    ] {
        let v = validate_desired(&m, &desired);
        assert!(v.is_empty(), "{desired}: {v:?}");
    }
    let v = validate_desired(
        &m,
        &json!({"config": {"mode": "off", "limits": {"kitchen": "warm"}, "hours": [6, "x"]}, "sensor": {"interval": "5 minutes"}}),
    );
    let pointers: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/config/mode",
            "/config/limits/kitchen",
            "/config/hours/1",
            "/sensor/interval"
        ],
        "{v:#?}"
    );
    assert!(matches!(
        &v[0].kind,
        ViolationKind::Schema {
            error: dtdl::PayloadErrorKind::NotInEnum { .. },
            ..
        }
    ));
    assert!(
        v[3].to_string().contains("is not a valid duration"),
        "{}",
        v[3]
    );

    let reported =
        json!({"config": {"value": {"mode": "max"}, "ac": 200, "av": 3}, "firmware": "1.2"});
    assert!(validate_reported(&m, &reported).is_empty());
}

#[test]
fn commands_without_a_request_take_no_payload_and_nullable_requests_take_null() {
    let m = model();
    assert!(validate_command(&m, None, "ping", &json!(null)).is_ok());
    let err = validate_command(&m, None, "ping", &json!({"x": 1})).expect_err("payload");
    assert_eq!(
        err[0].to_string(),
        "at /: command ping (dtmi:com:example:Device;1) takes no request payload; send none (null)"
    );
    assert!(validate_command(&m, None, "wake", &json!(null)).is_ok());
    assert!(validate_command(&m, None, "wake", &json!("2025-01-01T08:00:00Z")).is_ok());
    assert!(validate_command(&m, None, "wake", &json!(8)).is_err());
}

#[test]
fn inherited_telemetry_validates_enum_values() {
    let m = model();
    assert!(
        validate_telemetry(&m, Some("sensor"), &json!({"status": 1, "humidity": 40.5})).is_empty()
    );
    let v = validate_telemetry(&m, Some("sensor"), &json!({"status": 2}));
    assert!(matches!(
        &v[0].kind,
        ViolationKind::Schema {
            error: dtdl::PayloadErrorKind::NotInEnum { .. },
            ..
        }
    ));
}

#[test]
fn violations_serialise_as_data() {
    let m = model();
    let v = validate_desired(&m, &json!({"firmware": "2.0"}));
    assert_eq!(
        serde_json::to_value(&v).expect("serialise"),
        json!([{
            "pointer": "/firmware",
            "element": {
                "component": null,
                "name": "firmware",
                "class": "Property",
                "interface": "dtmi:com:example:Base;1"
            },
            "kind": {"kind": "notWritable"}
        }])
    );
}

#[test]
fn deep_json_patch_paths_reach_into_object_properties() {
    let m = model();
    let mut twin = Twin::new(
        Some("dtmi:com:example:Device;1".into()),
        chrono::DateTime::UNIX_EPOCH,
    );
    twin.patch_desired(
        &json!({"config": {"mode": "eco", "limits": {"kitchen": 21.0, "hall": 18.0}}}),
        chrono::DateTime::UNIX_EPOCH,
        &TwinLimits::default(),
    )
    .expect("desired");
    let desired = digital_twin_patch_to_desired(
        &twin,
        Some(&m),
        &json!([
            {"op": "replace", "path": "/config/limits", "value": {"kitchen": 22.0}},
            {"op": "add", "path": "/sensor/interval", "value": "PT1M"}
        ]),
    )
    .expect("translates");
    assert_eq!(
        desired,
        json!({
            "config": {"limits": {"hall": null, "kitchen": 22.0}},
            "sensor": {"__t": "c", "interval": "PT1M"}
        })
    );
    assert!(validate_desired(&m, &desired).is_empty());
    twin.patch_desired(
        &desired,
        chrono::DateTime::UNIX_EPOCH,
        &TwinLimits::default(),
    )
    .expect("applies");
    let dt = digital_twin("dev", &twin, Some(&m));
    assert_eq!(
        dt["$metadata"]["config"]["desiredValue"],
        json!({"mode": "eco", "limits": {"kitchen": 22.0}})
    );
    assert_eq!(
        dt["sensor"]["$metadata"]["interval"]["desiredValue"],
        json!("PT1M")
    );
}

//! The TemperatureController / Thermostat / DeviceInformation family from the public model
//! repository (`../shared/models-sample`): model lookups, validation of what a real device and
//! back end send, the digital twin and its JSON Patch.

mod support;

use chrono::DateTime;
use serde_json::{Value, json};
use twinhub_twin::{
    DeviceModel, Timestamp, Twin, TwinError, TwinLimits, ViolationKind, digital_twin,
    digital_twin_changes, digital_twin_patch_to_desired, validate_command,
    validate_command_response, validate_desired, validate_reported, validate_telemetry,
};

const ROOT: &str = "dtmi:com:example:TemperatureController;3";
const THERMOSTAT: &str = "dtmi:com:example:Thermostat;1";

fn model() -> Option<DeviceModel> {
    support::sample_model(ROOT)
}

fn at(seconds: i64) -> Timestamp {
    DateTime::from_timestamp(1_594_966_231 + seconds, 960_923_300).expect("time")
}

fn kinds(violations: &[twinhub_twin::Violation]) -> Vec<(&str, &ViolationKind)> {
    violations
        .iter()
        .map(|v| (v.pointer.as_str(), &v.kind))
        .collect()
}

#[test]
fn the_model_is_indexed_by_component_and_name_with_inherited_contents() {
    let Some(m) = model() else { return };
    assert_eq!(m.root(), ROOT);
    let names: Vec<&str> = m.components().iter().map(|c| c.name).collect();
    // deviceUpdate comes from the base interface dtmi:azure:iot:deviceUpdateContractModel;1.
    assert_eq!(
        names,
        [
            "thermostat1",
            "thermostat2",
            "deviceInformation",
            "deviceUpdate"
        ]
    );
    assert_eq!(
        m.component("thermostat2").map(|c| c.interface.id()),
        Some(THERMOSTAT)
    );
    let target = m
        .property(Some("thermostat1"), "targetTemperature")
        .expect("targetTemperature");
    assert!(target.writable);
    assert_eq!(target.schema.map(|s| s.class()), Some("Double"));
    assert!(
        !m.property(Some("thermostat1"), "maxTempSinceLastReboot")
            .expect("max")
            .writable
    );
    assert!(m.property(None, "targetTemperature").is_none());
    assert!(m.property(None, "serialNumber").is_some());
    assert!(
        m.property(Some("deviceUpdate"), "service")
            .expect("inherited component's property")
            .writable
    );

    let reboot = m.command(None, "reboot").expect("reboot");
    assert_eq!(
        reboot.request.and_then(|r| r.schema()).map(|s| s.class()),
        Some("Integer")
    );
    assert!(reboot.response.is_none());
    let report = m
        .command(Some("thermostat1"), "getMaxMinReport")
        .expect("report");
    assert_eq!(
        report.response.and_then(|r| r.schema()).map(|s| s.class()),
        Some("Object")
    );
    assert!(m.command(None, "getMaxMinReport").is_none());

    let temp = m
        .telemetry(Some("thermostat1"), "temperature")
        .expect("temperature");
    assert_eq!(temp.unit_name(), Some("degreeCelsius"));
    assert_eq!(temp.semantic_type_names(), ["Temperature"]);
    let working_set = m.telemetry(None, "workingSet").expect("workingSet");
    assert_eq!(working_set.unit_name(), Some("kibibyte"));
    assert_eq!(working_set.semantic_type_names(), ["DataSize"]);
    let names: Vec<&str> = m
        .properties(Some("deviceInformation"))
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "manufacturer");
    assert_eq!(m.telemetries(Some("thermostat1")).len(), 1);
    assert!(m.telemetry(Some("nope"), "temperature").is_none());
}

#[test]
fn what_the_python_sample_device_reports_is_valid() {
    let Some(m) = model() else { return };
    for patch in [
        json!({"serialNumber": "alwinexlepaho8329"}),
        json!({"thermostat1": {"__t": "c", "maxTempSinceLastReboot": 30.1}}),
        json!({"thermostat1": {"__t": "c", "targetTemperature": {"value": 25.0, "ac": 200, "av": 2, "ad": "applied"}}}),
        json!({"thermostat2": {"__t": "c", "targetTemperature": {"value": 0, "ac": 203, "av": 0}}}),
        json!({"deviceInformation": {"__t": "c", "manufacturer": "Contoso", "totalMemory": 1024, "totalStorage": 2.5e6}}),
        json!({"deviceUpdate": {"__t": "c", "agent": {"state": 0, "workflow": {"action": 3, "id": "x", "retryTimestamp": null}}}}),
        json!({"thermostat1": null, "serialNumber": null}),
    ] {
        let v = validate_reported(&m, &patch);
        assert!(v.is_empty(), "{patch}: {v:?}");
    }
}

#[test]
fn reported_patches_that_break_the_model_are_flagged_with_pointers() {
    let Some(m) = model() else { return };
    let patch = json!({
        "serialNumber": 5,
        "colour": "red",
        "thermostat1": {"maxTempSinceLastReboot": "hot"},
        "thermostat2": {"__t": "c", "targetTemperature": 21.5},
        "thermostat3": {"__t": "c", "x": 1},
        "deviceInformation": {"__t": "x", "manufacturer": "Contoso"},
        "deviceUpdate": 7
    });
    let v = validate_reported(&m, &patch);
    let got = kinds(&v);
    assert_eq!(got.len(), 8, "{v:#?}");
    assert!(matches!(
        got[0],
        ("/serialNumber", ViolationKind::Schema { .. })
    ));
    assert!(matches!(
        got[1],
        ("/colour", ViolationKind::UnknownContent { .. })
    ));
    assert!(matches!(
        got[2],
        ("/thermostat1", ViolationKind::MissingComponentMarker { .. })
    ));
    assert!(matches!(
        got[3],
        (
            "/thermostat1/maxTempSinceLastReboot",
            ViolationKind::Schema { .. }
        )
    ));
    assert!(matches!(
        got[4],
        (
            "/thermostat2/targetTemperature",
            ViolationKind::NotAnAck { .. }
        )
    ));
    assert!(matches!(
        got[5],
        ("/thermostat3", ViolationKind::UnknownComponent { .. })
    ));
    assert!(matches!(
        got[6],
        (
            "/deviceInformation/__t",
            ViolationKind::BadComponentMarker { .. }
        )
    ));
    assert!(matches!(
        got[7],
        ("/deviceUpdate", ViolationKind::ComponentNotObject { .. })
    ));

    assert_eq!(
        v[1].to_string(),
        "at /colour: dtmi:com:example:TemperatureController;3 has no property 'colour' \
         (properties: serialNumber); remove it or fix its name"
    );
    assert_eq!(
        v[3].to_string(),
        "property maxTempSinceLastReboot of component thermostat1 (dtmi:com:example:Thermostat;1): \
         value at /thermostat1/maxTempSinceLastReboot is not a double; send a double as schema \
         dtmi:dtdl:instance:Schema:double;2 requires"
    );
    assert!(
        v[4].to_string()
            .contains("must report it as an acknowledgement"),
        "{}",
        v[4]
    );
    assert_eq!(
        v[5].to_string(),
        "at /thermostat3: 'thermostat3' is not a component of the device's model (components: \
         thermostat1, thermostat2, deviceInformation, deviceUpdate); remove it or fix its name"
    );
}

#[test]
fn acknowledgements_are_checked_member_by_member() {
    let Some(m) = model() else { return };
    let cases = [
        (
            json!({"value": "warm", "ac": 200, "av": 2}),
            "/thermostat1/targetTemperature/value",
        ),
        (
            json!({"value": 21, "ac": "ok", "av": 2}),
            "/thermostat1/targetTemperature",
        ),
        (
            json!({"value": 21, "ac": 200}),
            "/thermostat1/targetTemperature",
        ),
        (
            json!({"value": 21, "ac": 200, "av": 2, "by": "me"}),
            "/thermostat1/targetTemperature",
        ),
        (
            json!({"ac": 200, "av": 2}),
            "/thermostat1/targetTemperature",
        ),
    ];
    for (ack, pointer) in cases {
        let patch = json!({"thermostat1": {"__t": "c", "targetTemperature": ack}});
        let v = validate_reported(&m, &patch);
        assert_eq!(v.len(), 1, "{ack}: {v:?}");
        assert_eq!(v[0].pointer, pointer, "{ack}");
    }
}

#[test]
fn desired_patches_may_only_set_writable_properties() {
    let Some(m) = model() else { return };
    assert!(
        validate_desired(
            &m,
            &json!({"thermostat1": {"__t": "c", "targetTemperature": 25}})
        )
        .is_empty()
    );
    // Without the marker (it is in the twin already) and deleting.
    assert!(validate_desired(&m, &json!({"thermostat2": {"targetTemperature": null}})).is_empty());
    assert!(validate_desired(
        &m,
        &json!({"deviceUpdate": {"service": {"workflow": {"action": 1, "id": "w"}, "fileUrls": {"f1": "http://x"}}}})
    )
    .is_empty());
    let v = validate_desired(
        &m,
        &json!({
            "serialNumber": "x",
            "thermostat1": {"maxTempSinceLastReboot": 1, "targetTemperature": "hot"},
            "deviceUpdate": {"service": {"fileUrls": {"f1": 5}}}
        }),
    );
    let got = kinds(&v);
    assert!(matches!(
        got[0],
        ("/serialNumber", ViolationKind::NotWritable)
    ));
    assert!(matches!(
        got[1],
        (
            "/thermostat1/maxTempSinceLastReboot",
            ViolationKind::NotWritable
        )
    ));
    assert!(matches!(
        got[2],
        (
            "/thermostat1/targetTemperature",
            ViolationKind::Schema { .. }
        )
    ));
    assert!(matches!(
        got[3],
        (
            "/deviceUpdate/service/fileUrls/f1",
            ViolationKind::Schema { .. }
        )
    ));
    assert_eq!(got.len(), 4);
    assert_eq!(
        v[0].to_string(),
        "at /serialNumber: property serialNumber (dtmi:com:example:TemperatureController;3) is \
         read-only: only the device reports it; set writable properties only"
    );
}

#[test]
fn commands_are_checked_against_their_request_and_response() {
    let Some(m) = model() else { return };
    assert!(validate_command(&m, None, "reboot", &json!(5)).is_ok());
    let err = validate_command(&m, None, "reboot", &json!("soon")).expect_err("wrong type");
    assert!(matches!(err[0].kind, ViolationKind::Schema { .. }));
    assert!(
        validate_command(
            &m,
            Some("thermostat1"),
            "getMaxMinReport",
            &json!("2024-01-01T00:00:00Z")
        )
        .is_ok()
    );
    let err = validate_command(
        &m,
        Some("thermostat1"),
        "getMaxMinReport",
        &json!("yesterday"),
    )
    .expect_err("not a dateTime");
    assert!(
        err[0].to_string().contains("is not a valid dateTime"),
        "{}",
        err[0]
    );
    let err = validate_command(&m, None, "getMaxMinReport", &json!(null)).expect_err("not root");
    assert_eq!(
        err[0].to_string(),
        "at /: dtmi:com:example:TemperatureController;3 has no command 'getMaxMinReport' \
         (commands: reboot); remove it or fix its name"
    );
    let err = validate_command(&m, Some("thermostat9"), "getMaxMinReport", &json!(null))
        .expect_err("unknown component");
    assert!(matches!(
        err[0].kind,
        ViolationKind::UnknownComponent { .. }
    ));

    let ok = json!({"maxTemp": 30.1, "minTemp": 20.0, "avgTemp": 25.0,
                    "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T01:00:00Z"});
    assert!(validate_command_response(&m, Some("thermostat1"), "getMaxMinReport", &ok).is_empty());
    let v = validate_command_response(
        &m,
        Some("thermostat1"),
        "getMaxMinReport",
        &json!({"maxTemp": "high", "extra": 1}),
    );
    let pointers: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
    assert_eq!(pointers, ["/maxTemp", "/extra"], "{v:?}");
    let v = validate_command_response(&m, None, "reboot", &json!({"done": true}));
    assert!(matches!(v[0].kind, ViolationKind::UnexpectedPayload { .. }));
    assert!(validate_command_response(&m, None, "reboot", &json!(null)).is_empty());
}

#[test]
fn telemetry_is_checked_per_component() {
    let Some(m) = model() else { return };
    assert!(validate_telemetry(&m, Some("thermostat1"), &json!({"temperature": 21.5})).is_empty());
    assert!(validate_telemetry(&m, None, &json!({"workingSet": 1024})).is_empty());
    let v = validate_telemetry(
        &m,
        Some("thermostat1"),
        &json!({"temperature": "hot", "humidity": 40}),
    );
    let got = kinds(&v);
    assert!(matches!(
        got[0],
        ("/temperature", ViolationKind::Schema { .. })
    ));
    assert!(matches!(
        got[1],
        ("/humidity", ViolationKind::UnknownContent { .. })
    ));
    assert_eq!(
        v[1].to_string(),
        "at /humidity: component thermostat1 (dtmi:com:example:Thermostat;1) has no telemetry \
         'humidity' (telemetry: temperature); remove it or fix its name"
    );
    // Root telemetry sent without $.sub is not a thermostat's.
    let v = validate_telemetry(&m, None, &json!({"temperature": 21.5}));
    assert!(matches!(v[0].kind, ViolationKind::UnknownContent { .. }));
    let v = validate_telemetry(&m, Some("thermostat1"), &json!([21.5]));
    assert!(matches!(v[0].kind, ViolationKind::NotAnObject { .. }));
    let v = validate_telemetry(&m, Some("nope"), &json!({}));
    assert!(matches!(v[0].kind, ViolationKind::UnknownComponent { .. }));
}

/// The twin of the IoT Hub documentation's example, built through the operations.
fn documented_twin() -> Twin {
    let limits = TwinLimits::default();
    let mut twin = Twin::new(Some(ROOT.into()), at(0));
    twin.patch_reported(
        &json!({"serialNumber": "alwinexlepaho8329"}),
        at(0),
        &limits,
    )
    .expect("serial");
    twin.patch_reported(
        &json!({"thermostat1": {"__t": "c", "maxTempSinceLastReboot": 25.3}}),
        at(0),
        &limits,
    )
    .expect("max");
    for t in [20.0, 21.0, 21.8] {
        twin.patch_desired(
            &json!({"thermostat1": {"__t": "c", "targetTemperature": t}}),
            at(30),
            &limits,
        )
        .expect("desired");
    }
    twin.patch_reported(
        &json!({"thermostat1": {"__t": "c", "targetTemperature": {"value": 21.8, "ac": 200, "av": 4, "ad": "Successfully executed patch"}}}),
        at(33),
        &limits,
    )
    .expect("ack");
    twin
}

#[test]
fn the_digital_twin_has_the_documented_shape() {
    let twin = documented_twin();
    let expected = json!({
        "$dtId": "sample-device",
        "serialNumber": "alwinexlepaho8329",
        "thermostat1": {
            "maxTempSinceLastReboot": 25.3,
            "targetTemperature": 21.8,
            "$metadata": {
                "maxTempSinceLastReboot": {"lastUpdateTime": "2020-07-17T06:10:31.9609233Z"},
                "targetTemperature": {
                    "desiredValue": 21.8,
                    "desiredVersion": 4,
                    "ackVersion": 4,
                    "ackCode": 200,
                    "ackDescription": "Successfully executed patch",
                    "lastUpdateTime": "2020-07-17T06:11:04.9609233Z"
                }
            }
        },
        "$metadata": {
            "$model": ROOT,
            "serialNumber": {"lastUpdateTime": "2020-07-17T06:10:31.9609233Z"}
        }
    });
    // Without the model, components come from their markers; with it, the same.
    assert_eq!(digital_twin("sample-device", &twin, None), expected);
    if let Some(m) = model() {
        assert_eq!(digital_twin("sample-device", &twin, Some(&m)), expected);
    }
}

#[test]
fn desired_only_writable_properties_show_in_metadata() {
    let mut twin = Twin::new(None, at(0));
    twin.patch_desired(&json!({"fanSpeed": 2.0}), at(1), &TwinLimits::default())
        .expect("desired");
    assert_eq!(
        digital_twin("d", &twin, None),
        json!({"$dtId": "d", "$metadata": {"fanSpeed": {"desiredValue": 2.0, "desiredVersion": 2}}})
    );
}

#[test]
fn model_components_are_components_without_markers() {
    let Some(m) = model() else { return };
    let mut twin = Twin::new(Some(ROOT.into()), at(0));
    // A device that forgot the marker: the model still says thermostat2 is a component.
    twin.patch_reported(
        &json!({"thermostat2": {"maxTempSinceLastReboot": 1.0}}),
        at(0),
        &TwinLimits::default(),
    )
    .expect("reported");
    let dt = digital_twin("d", &twin, Some(&m));
    assert_eq!(dt["thermostat2"]["maxTempSinceLastReboot"], json!(1.0));
    assert!(dt["thermostat2"]["$metadata"]["maxTempSinceLastReboot"].is_object());
    let without = digital_twin("d", &twin, None);
    assert_eq!(
        without["thermostat2"],
        json!({"maxTempSinceLastReboot": 1.0})
    );
}

fn to_desired(twin: &Twin, model: Option<&DeviceModel>, ops: Value) -> Result<Value, TwinError> {
    digital_twin_patch_to_desired(twin, model, &ops)
}

#[test]
fn json_patch_operations_become_desired_merge_patches() {
    let m = model();
    let twin = documented_twin();
    let cases = [
        (
            json!([{"op": "add", "path": "/thermostat1/targetTemperature", "value": 42}]),
            json!({"thermostat1": {"__t": "c", "targetTemperature": 42}}),
        ),
        (
            json!([{"op": "replace", "path": "/thermostat2/targetTemperature", "value": 18}]),
            json!({"thermostat2": {"__t": "c", "targetTemperature": 18}}),
        ),
        (
            json!([{"op": "remove", "path": "/thermostat1/targetTemperature"}]),
            json!({"thermostat1": {"__t": "c", "targetTemperature": null}}),
        ),
        (
            json!([{"op": "add", "path": "/fanSpeed", "value": 2}]),
            json!({"fanSpeed": 2}),
        ),
        (
            json!([{"op": "remove", "path": "/thermostat1"}]),
            json!({"thermostat1": null}),
        ),
        (
            json!([{"op": "add", "path": "/thermostat2", "value": {"$metadata": {}, "targetTemperature": 19}}]),
            json!({"thermostat2": {"__t": "c", "targetTemperature": 19}}),
        ),
        // Replacing a component drops what the new value lacks.
        (
            json!([{"op": "replace", "path": "/thermostat1", "value": {"$metadata": {}}}]),
            json!({"thermostat1": {"__t": "c", "targetTemperature": null}}),
        ),
        // Later operations win; setting the current value changes nothing.
        (
            json!([
                {"op": "add", "path": "/thermostat1/targetTemperature", "value": 1},
                {"op": "add", "path": "/thermostat1/targetTemperature", "value": 21.8}
            ]),
            json!({}),
        ),
        (
            json!([{"op": "remove", "path": "/nothing/here"}]),
            json!({}),
        ),
    ];
    for (ops, expected) in cases {
        assert_eq!(
            to_desired(&twin, m.as_ref(), ops.clone()).expect("translates"),
            expected,
            "{ops}"
        );
    }
}

#[test]
fn json_patch_translation_refuses_what_iot_hub_refuses() {
    let m = model();
    let twin = documented_twin();
    let cases: [(Value, &str); 9] = [
        (json!({"op": "add"}), "must be a JSON Patch array"),
        (
            json!([{"op": "move", "from": "/a", "path": "/b"}]),
            "op \"move\" is not supported",
        ),
        (
            json!([{"op": "add", "path": "/thermostat1/target-temp", "value": 1}]),
            "'target-temp' is not a DTDL name",
        ),
        (
            json!([{"op": "add", "path": "thermostat1", "value": 1}]),
            "must start with '/'",
        ),
        (
            json!([{"op": "add", "path": "/thermostat1/x"}]),
            "has no \"value\"",
        ),
        (
            json!([{"op": "add", "path": "/thermostat1", "value": {"targetTemperature": 1}}]),
            "must be an object with the marker \"$metadata\"",
        ),
        (
            json!([{"op": "add", "path": "/thermostat1/$metadata/targetTemperature", "value": {}}]),
            "'$metadata' is not a DTDL name",
        ),
        (
            json!([{"op": "add", "path": "/fan_", "value": 1}]),
            "'fan_' is not a DTDL name",
        ),
        (json!([{"path": "/x", "value": 1}]), "has no \"op\" string"),
    ];
    for (ops, needle) in cases {
        let err = to_desired(&twin, m.as_ref(), ops.clone()).expect_err("refused");
        assert!(err.to_string().contains(needle), "{ops}: {err}");
    }
    if let Some(m) = &m {
        let err = to_desired(
            &twin,
            Some(m),
            json!([{"op": "add", "path": "/serialNumber", "value": {"$metadata": {}}}]),
        )
        .expect_err("a property, not a component");
        assert!(
            err.to_string()
                .contains("serialNumber is not a component of"),
            "{err}"
        );
        let err = to_desired(
            &twin,
            Some(m),
            json!([{"op": "add", "path": "/x", "value": 1}, {"op": "test", "path": "/x", "value": 1}]),
        )
        .expect_err("test op");
        assert!(
            matches!(err, TwinError::DigitalTwinPatch { index: 1, .. }),
            "{err}"
        );
    }
}

#[test]
fn a_translated_patch_applies_and_validates() {
    let Some(m) = model() else { return };
    let mut twin = documented_twin();
    let desired = to_desired(
        &twin,
        Some(&m),
        json!([{"op": "add", "path": "/thermostat2/targetTemperature", "value": 17.5}]),
    )
    .expect("translates");
    assert!(validate_desired(&m, &desired).is_empty());
    let update = twin
        .patch_desired(&desired, at(60), &TwinLimits::default())
        .expect("applies");
    assert_eq!(
        update.patch,
        json!({"thermostat2": {"__t": "c", "targetTemperature": 17.5}, "$version": 5})
    );
    let dt = digital_twin("d", &twin, Some(&m));
    assert_eq!(
        dt["thermostat2"]["$metadata"]["targetTemperature"],
        json!({"desiredValue": 17.5, "desiredVersion": 5})
    );
}

#[test]
fn digital_twin_changes_are_json_patches_as_iot_hub_sends_them() {
    let mut twin = documented_twin();
    let before = digital_twin("d", &twin, None);
    twin.patch_desired(
        &json!({"thermostat1": {"__t": "c", "targetTemperature": 22.5}}),
        at(40),
        &TwinLimits::default(),
    )
    .expect("desired");
    twin.patch_reported(
        &json!({"serialNumber": null}),
        at(41),
        &TwinLimits::default(),
    )
    .expect("reported");
    let after = digital_twin("d", &twin, None);
    assert_eq!(
        digital_twin_changes(&before, &after),
        json!([
            {"op": "add", "path": "/thermostat1/$metadata/targetTemperature/desiredValue", "value": 22.5},
            {"op": "add", "path": "/thermostat1/$metadata/targetTemperature/desiredVersion", "value": 5},
            {"op": "remove", "path": "/$metadata/serialNumber"},
            {"op": "remove", "path": "/serialNumber"}
        ])
    );
    assert_eq!(digital_twin_changes(&after, &after), json!([]));
}

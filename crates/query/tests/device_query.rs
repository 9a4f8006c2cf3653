//! Device queries: the documented examples parse, bad queries fail with positions, and the
//! in-memory evaluation (filter, projection, COUNT, GROUP BY, TOP) gives IoT Hub's results.

use serde_json::{Value, json};
use twinhub_query::{Collection, DeviceQuery, QueryErrorKind};

fn docs() -> Vec<Value> {
    vec![
        json!({
            "deviceId": "d1", "status": "enabled", "connectionState": "Disconnected",
            "lastActivityTime": "2021-05-07T00:50:38.0543092Z", "version": 2,
            "modelId": "dtmi:com:example:Thermostat;1",
            "tags": {"location": {"region": "US", "plant": "Redmond43"}, "floor": 1},
            "properties": {
                "desired": {"telemetryConfig": {"sendFrequencyInSecs": 300}, "$version": 4},
                "reported": {"connectivity": "wifi", "telemetryConfig": {"sendFrequencyInSecs": 300, "status": "Success"}, "$version": 7}
            }
        }),
        json!({
            "deviceId": "d2", "status": "enabled", "connectionState": "Connected", "version": 5,
            "tags": {"location": {"region": "EU"}, "floor": "1"},
            "properties": {
                "desired": {"$version": 1},
                "reported": {"connectivity": "wired", "telemetryConfig": {"sendFrequencyInSecs": 30, "status": "Pending"}, "$version": 2}
            }
        }),
        json!({
            "deviceId": "sensor-3", "status": "disabled", "connectionState": "Disconnected", "version": 1,
            "tags": {"location": {"region": "US"}},
            "properties": {
                "desired": {"$version": 1},
                "reported": {"connectivity": "cellular", "telemetryConfig": {"status": "Success"}, "$version": 3}
            }
        }),
        json!({
            "deviceId": "sensor-4", "status": "enabled", "connectionState": "Disconnected", "version": 1,
            "tags": {},
            "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}}
        }),
    ]
}

fn ids(query: &str) -> Vec<String> {
    let q = DeviceQuery::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let docs = docs();
    docs.iter()
        .filter(|d| q.matches(d))
        .map(|d| d["deviceId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn where_conditions_select_the_documented_devices() {
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT * FROM devices",
            &["d1", "d2", "sensor-3", "sensor-4"],
        ),
        (
            "SELECT * FROM devices WHERE tags.location.region = 'US'",
            &["d1", "sensor-3"],
        ),
        (
            "SELECT * FROM devices WHERE tags.location.region = 'US' AND properties.reported.telemetryConfig.sendFrequencyInSecs >= 60",
            &["d1"],
        ),
        (
            "SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired', 'wifi']",
            &["d1", "d2"],
        ),
        (
            "SELECT * FROM devices WHERE properties.reported.connectivity NIN ['wired', 'wifi']",
            &["sensor-3"],
        ),
        (
            "SELECT * FROM devices WHERE properties.reported.connectivity NOT IN ['wired']",
            &["d1", "sensor-3"],
        ),
        (
            "SELECT * FROM devices WHERE is_defined(properties.reported.connectivity)",
            &["d1", "d2", "sensor-3"],
        ),
        (
            "SELECT * FROM devices WHERE NOT IS_DEFINED(tags.location)",
            &["sensor-4"],
        ),
        // Undefined and mismatched types are neither equal nor unequal.
        ("SELECT * FROM devices WHERE tags.floor = 1", &["d1"]),
        ("SELECT * FROM devices WHERE tags.floor != 1", &[]),
        ("SELECT * FROM devices WHERE tags.floor <> '2'", &["d2"]),
        ("SELECT * FROM devices WHERE NOT (tags.floor = 1)", &[]),
        (
            "SELECT * FROM devices WHERE tags.floor = 1 OR tags.floor = '1'",
            &["d1", "d2"],
        ),
        (
            "SELECT * FROM devices WHERE STARTSWITH(deviceId, 'sensor')",
            &["sensor-3", "sensor-4"],
        ),
        (
            "SELECT * FROM devices WHERE ENDS_WITH(deviceId, '-4')",
            &["sensor-4"],
        ),
        (
            "SELECT * FROM devices WHERE status = 'enabled' AND connectionState = 'Disconnected'",
            &["d1", "sensor-4"],
        ),
        (
            "SELECT * FROM devices WHERE properties.reported.$version > 2",
            &["d1", "sensor-3"],
        ),
        (
            "SELECT * FROM devices WHERE properties.desired.$version = 4",
            &["d1"],
        ),
        (
            "SELECT * FROM devices WHERE version >= 2 AND version < 0x05",
            &["d1"],
        ),
        ("select * from DEVICES where DeviceId = \"d2\"", &["d2"]),
        (
            "SELECT * FROM devices WHERE modelId = 'dtmi:com:example:Thermostat;1'",
            &["d1"],
        ),
        (
            "SELECT * FROM devices WHERE lastActivityTime > '2021-01-01'",
            &["d1"],
        ),
        (
            "SELECT * FROM devices WHERE tags.location.region > 'A' AND tags.location.region < 'F'",
            &["d2"],
        ),
        ("SELECT * FROM devices WHERE tags.location = 'US'", &[]),
        (
            "SELECT * FROM devices WHERE properties.reported.nothing = null",
            &[],
        ),
        (
            "SELECT * FROM devices WHERE tags.floor IN [1, '1']",
            &["d1", "d2"],
        ),
        ("SELECT * FROM devices WHERE tags.floor IN []", &[]),
        (
            "SELECT * FROM devices WHERE true",
            &["d1", "d2", "sensor-3", "sensor-4"],
        ),
        (
            "SELECT * FROM devices WHERE -1 < 0 AND NOT false",
            &["d1", "d2", "sensor-3", "sensor-4"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(ids(query), *expected, "{query}");
    }
}

#[test]
fn projections_name_fields_by_alias_or_last_member() {
    let q = DeviceQuery::parse(
        "SELECT DeviceId, LastActivityTime FROM devices WHERE status = 'enabled' AND connectionState = 'Disconnected'",
    )
    .expect("query");
    let docs = docs();
    assert_eq!(
        q.run(&docs),
        [
            json!({"deviceId": "d1", "lastActivityTime": "2021-05-07T00:50:38.0543092Z"}),
            json!({"deviceId": "sensor-4"})
        ]
    );
    let q = DeviceQuery::parse(
        "SELECT TOP 1 deviceId, tags.location.region AS region, properties.reported.$version FROM devices WHERE tags.location.region = 'US'",
    )
    .expect("query");
    assert_eq!(
        q.run(&docs),
        [json!({"deviceId": "d1", "region": "US", "$version": 7})]
    );
    let q = DeviceQuery::parse("SELECT TOP 2 * FROM devices").expect("query");
    assert_eq!(q.run(&docs), docs[..2]);
}

#[test]
fn counts_and_groups_as_documented() {
    let docs = docs();
    let q = DeviceQuery::parse("SELECT COUNT() as totalNumberOfDevices FROM devices").expect("q");
    assert_eq!(q.run(&docs), [json!({"totalNumberOfDevices": 4})]);
    let q = DeviceQuery::parse("SELECT COUNT() FROM devices WHERE deviceId = 'none'").expect("q");
    assert_eq!(q.run(&docs), [json!({"$1": 0})]);
    let q = DeviceQuery::parse(
        "SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices
           FROM devices
           GROUP BY properties.reported.telemetryConfig.status",
    )
    .expect("q");
    assert!(q.is_aggregate());
    assert_eq!(
        q.run(&docs),
        [
            json!({"status": "Success", "numberOfDevices": 2}),
            json!({"status": "Pending", "numberOfDevices": 1}),
            json!({"numberOfDevices": 1})
        ]
    );
    let q = DeviceQuery::parse(
        "SELECT tags.floor, COUNT() AS n FROM devices WHERE is_defined(tags.floor) GROUP BY tags.floor",
    )
    .expect("q");
    // 1 and '1' are different groups.
    assert_eq!(
        q.run(&docs),
        [json!({"floor": 1, "n": 1}), json!({"floor": "1", "n": 1})]
    );
}

#[test]
fn module_queries_read_devices_modules() {
    let q = DeviceQuery::parse(
        "SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning' AND deviceId IN ['device1', 'device2']",
    )
    .expect("q");
    assert_eq!(q.from, Collection::Modules);
    let module = json!({"deviceId": "device1", "moduleId": "m", "properties": {"reported": {"status": "scanning"}}});
    assert!(q.matches(&module));
    let q = DeviceQuery::parse("SELECT * FROM devices.modules WHERE moduleId = 'm'").expect("q");
    assert!(q.matches(&module));
}

#[test]
fn bad_queries_fail_with_their_position() {
    let cases: &[(&str, &str)] = &[
        (
            "SELECT * FORM devices",
            "expected FROM at line 1, column 10: found 'FORM'",
        ),
        (
            "SELECT * FROM devices WHERE",
            "expected a value (a field, a constant or a function call) at line 1, column 28: found end of input",
        ),
        (
            "SELECT * FROM devices WHERE tags.x = ",
            "expected a value (a field, a constant or a function call) at line 1, column 38: found end of input",
        ),
        (
            "SELECT * FROM devices\nWHERE foo = 1",
            "unknown field 'foo'; query deviceId, moduleId, modelId, etag, deviceEtag, status, statusReason, statusUpdateTime, connectionState, lastActivityTime, cloudToDeviceMessageCount, authenticationType, version, tags.…, properties.desired.… or properties.reported.… at line 2, column 7",
        ),
        (
            "SELECT * FROM devices WHERE properties.wanted.x = 1",
            "unknown field 'properties.wanted'",
        ),
        (
            "SELECT * FROM devices WHERE tags.a + 1 = 2",
            "arithmetic is not supported in device queries",
        ),
        (
            "SELECT * FROM devices WHERE tags.a[0] = 2",
            "array indexes are not supported",
        ),
        (
            "SELECT * FROM devices WHERE properties.reported.$metadata.x = 2",
            "'$metadata' cannot be queried under properties.reported",
        ),
        (
            "SELECT * FROM devices WHERE deviceId.x = 2",
            "deviceId is a single value and has no members at line 1, column 38",
        ),
        (
            "SELECT * FROM devices WHERE tags.a IN 'x'",
            "expected '[' opening a list of constants at line 1, column 39: found string 'x'",
        ),
        (
            "SELECT * FROM devices WHERE tags.a IN [tags.b]",
            "expected a constant",
        ),
        (
            "SELECT * FROM devices WHERE LOWER(deviceId) = 'x'",
            "unknown function 'LOWER' (functions here: IS_DEFINED, STARTS_WITH, ENDS_WITH) at line 1, column 29",
        ),
        (
            "SELECT * FROM devices WHERE IS_DEFINED('x')",
            "IS_DEFINED takes a property path",
        ),
        (
            "SELECT * FROM devices WHERE STARTSWITH(deviceId)",
            "STARTS_WITH takes 2 arguments, not 1",
        ),
        (
            "SELECT * FROM devices.jobs",
            "devices.jobs is not supported",
        ),
        (
            "SELECT * FROM twins",
            "expected devices or devices.modules at line 1, column 15: found 'twins'",
        ),
        (
            "SELECT AVG(version) AS v FROM devices",
            "AVG is not supported; the only aggregate is COUNT()",
        ),
        (
            "SELECT deviceId, COUNT() AS n FROM devices",
            "every selected field must be one of the GROUP BY fields at line 1, column 8",
        ),
        (
            "SELECT * FROM devices GROUP BY status",
            "GROUP BY needs a projection",
        ),
        (
            "SELECT * FROM devices WHERE a = 'open",
            "string literal is not closed",
        ),
        (
            "SELECT * FROM devices WHERE status = 'x' LIMIT 3",
            "expected WHERE, GROUP BY or the end of the query at line 1, column 42: found 'LIMIT'",
        ),
    ];
    for (query, needle) in cases {
        let err = DeviceQuery::parse(query).expect_err(query);
        assert!(
            err.to_string().contains(needle),
            "{query}\n  got: {err}\n want: {needle}"
        );
    }
    let long = format!(
        "SELECT * FROM devices WHERE deviceId = '{}'",
        "x".repeat(8200)
    );
    let err = DeviceQuery::parse(&long).expect_err("too long");
    assert_eq!(err.kind, QueryErrorKind::TooLong { max: 8192 });
}

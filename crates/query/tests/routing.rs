//! Routing conditions, table-driven: condition × message → routed or not.

use serde_json::json;
use twinhub_query::{Message, MessageView, RouteCondition, SystemProperty};

fn telemetry() -> Message {
    Message {
        system: vec![
            (SystemProperty::ContentType, "application/json".into()),
            (SystemProperty::ContentEncoding, "UTF-8".into()),
            (SystemProperty::ConnectionDeviceId, "thermostat-01".into()),
            (SystemProperty::EnqueuedTime, "2017-05-08T18:55:31.8514657Z".into()),
            (SystemProperty::DtDataSchema, "dtmi:com:example:Thermostat;1".into()),
            (SystemProperty::DtSubject, "thermostat1".into()),
            (SystemProperty::ModelId, "dtmi:com:example:Thermostat;1".into()),
            (SystemProperty::MessageId, "m-1".into()),
        ],
        application: vec![
            ("processingPath".into(), "hot".into()),
            ("severity".into(), "2".into()),
            ("verbose".into(), "true".into()),
            ("$custom".into(), "app".into()),
        ],
        body: serde_json::to_vec(&json!({
            "Weather": {
                "Temperature": 50,
                "Time": "2017-03-09T00:00:00.000Z",
                "PrevTemperatures": [20, 30, 40],
                "IsEnabled": true,
                "Location": {"Street": "One Microsoft Way", "City": "Redmond", "State": "WA"},
                "HistoricalData": [{"Month": "Feb", "Temperature": 40}, {"Month": "Jan", "Temperature": 30}]
            }
        }))
        .unwrap_or_default(),
        twin: Some(json!({
            "tags": {"deploymentLocation": {"building": "43", "floor": 1}},
            "properties": {
                "desired": {"telemetryConfig": {"sendFrequency": "5m"}, "$version": 1},
                "reported": {"batteryLevel": 55, "$version": 4}
            }
        })),
    }
}

fn with_encoding(content_type: &str, encoding: &str, body: Vec<u8>) -> Message {
    let mut m = telemetry();
    m.system.retain(|(p, _)| {
        !matches!(
            p,
            SystemProperty::ContentType | SystemProperty::ContentEncoding
        )
    });
    if !content_type.is_empty() {
        m.system
            .push((SystemProperty::ContentType, content_type.into()));
    }
    if !encoding.is_empty() {
        m.system
            .push((SystemProperty::ContentEncoding, encoding.into()));
    }
    m.body = body;
    m
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn utf32be_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0, 0, 0xFE, 0xFF];
    out.extend(text.chars().flat_map(|c| u32::from(c).to_be_bytes()));
    out
}

#[test]
fn conditions_route_the_documented_messages() {
    let m = telemetry();
    let cases: &[(&str, bool)] = &[
        ("true", true),
        ("false", false),
        ("$contentEncoding = 'UTF-8'", true),
        ("processingPath = 'hot'", true),
        ("PROCESSINGPATH = 'hot'", true),
        (
            "$contentEncoding = 'UTF-8' AND processingPath = 'hot'",
            true,
        ),
        ("$body.Weather.HistoricalData[0].Month = 'Feb'", true),
        ("$body.Weather.HistoricalData[5].Month = 'Feb'", false),
        (
            "$body.Weather.Temperature = 50 AND $body.Weather.IsEnabled",
            true,
        ),
        ("length($body.Weather.Location.State) = 2", true),
        (
            "$body.Weather.Temperature = 50 AND processingPath = 'hot'",
            true,
        ),
        ("$body.weather.temperature = 50", true),
        (
            "$twin.properties.desired.telemetryConfig.sendFrequency = '5m'",
            true,
        ),
        ("$twin.tags.deploymentLocation.floor = 1", true),
        ("$twin.tags.deploymentLocation.building = 43", false),
        ("$twin.properties.reported.batteryLevel >= 50", true),
        // Application properties are strings.
        ("severity <= 2", false),
        ("as_number(severity) <= 2", true),
        ("severity = '2'", true),
        ("verbose", false),
        ("verbose = 'true'", true),
        ("$connectionDeviceId = 'thermostat-01'", true),
        ("$iothub-connection-device-id = 'thermostat-01'", true),
        (
            "$dt-subject = 'thermostat1' AND $dt-dataschema = 'dtmi:com:example:Thermostat;1'",
            true,
        ),
        ("$modelId = 'dtmi:com:example:Thermostat;1'", true),
        ("$messageId = 'm-1'", true),
        ("$connectionModuleId = 'x'", false),
        ("NOT IS_DEFINED($connectionModuleId)", true),
        ("$custom = 'app'", true),
        ("IS_DEFINED(missing)", false),
        ("missing = 'x' OR true", true),
        ("NOT (missing = 'x')", false),
        ("$body.Weather.Temperature + 10 = 60", true),
        ("$body.Weather.Temperature % 7 = 1", true),
        ("-$body.Weather.Temperature = -50", true),
        ("$body.Weather.Temperature / 0 = 1", false),
        (
            "ABS(-5) = 5 AND CEILING(1.2) = 2 AND FLOOR(1.8) = 1 AND SIGN(-3) = -1",
            true,
        ),
        (
            "SQUARE(3) = 9 AND POWER(2, 3) = 8 AND SQRT(16) = 4 AND EXP(0) = 1",
            true,
        ),
        (
            "IS_STRING(processingPath) AND IS_NUMBER($body.Weather.Temperature) AND IS_BOOL($body.Weather.IsEnabled)",
            true,
        ),
        (
            "IS_ARRAY($body.Weather.PrevTemperatures) AND IS_OBJECT($body.Weather.Location) AND IS_PRIMITIVE($body.Weather.Time)",
            true,
        ),
        ("IS_NULL($body.Weather.Nothing)", false),
        ("CONTAINS($body.Weather.Location.Street, 'Microsoft')", true),
        (
            "STARTS_WITH($connectionDeviceId, 'thermo') AND ENDS_WITH($connectionDeviceId, '-01')",
            true,
        ),
        (
            "LOWER($body.Weather.Location.City) = 'redmond' AND UPPER('wa') = $body.Weather.Location.State",
            true,
        ),
        (
            "CONCAT($dt-subject, '/', processingPath) = 'thermostat1/hot'",
            true,
        ),
        (
            "SUBSTRING($connectionDeviceId, 0, 5) = 'therm' AND INDEX_OF($connectionDeviceId, '-') = 10",
            true,
        ),
        ("$body.Weather.PrevTemperatures[2] IN [40, 50]", true),
        ("$body.Weather.Temperature NIN [40, 50]", false),
        ("$enqueuedTime > '2017-01-01'", true),
    ];
    for (condition, expected) in cases {
        let c = RouteCondition::parse(condition).unwrap_or_else(|e| panic!("{condition}: {e}"));
        assert_eq!(c.matches(&m), *expected, "{condition}");
    }
}

#[test]
fn the_body_is_read_only_when_declared_json() {
    let body = br#"{"a": {"b": 1}}"#.to_vec();
    let c = RouteCondition::parse("$body.a.b = 1").expect("condition");
    let cases = [
        (
            with_encoding("application/json", "utf-8", body.clone()),
            true,
        ),
        (
            with_encoding("application/json; charset=utf-8", "UTF-8", body.clone()),
            true,
        ),
        (
            with_encoding(
                "Application/JSON",
                "utf-8",
                [b"\xEF\xBB\xBF".as_slice(), &body].concat(),
            ),
            true,
        ),
        (
            with_encoding("application/json", "utf-16", utf16le(r#"{"a": {"b": 1}}"#)),
            true,
        ),
        (
            with_encoding(
                "application/json",
                "utf-32",
                utf32be_with_bom(r#"{"a": {"b": 1}}"#),
            ),
            true,
        ),
        (with_encoding("application/json", "", body.clone()), false),
        (with_encoding("text/plain", "utf-8", body.clone()), false),
        (with_encoding("", "utf-8", body.clone()), false),
        (
            with_encoding("application/json", "latin-1", body.clone()),
            false,
        ),
        (
            with_encoding("application/json", "utf-8", b"{not json".to_vec()),
            false,
        ),
    ];
    for (message, expected) in cases {
        assert_eq!(c.matches(&message), expected, "{:?}", message.system);
    }
}

#[test]
fn a_view_decodes_the_body_once_for_many_conditions() {
    let m = telemetry();
    let view = MessageView::new(&m);
    let conditions = ["$body.Weather.Temperature = 50", "$body.Weather.IsEnabled"];
    for c in conditions {
        assert!(
            RouteCondition::parse(c).expect("c").matches_view(&view),
            "{c}"
        );
    }
    assert!(view.json_body().is_some());
    let value = RouteCondition::parse("CONCAT($twin.tags.deploymentLocation.building, 'x')")
        .expect("c")
        .evaluate(&view);
    assert_eq!(value, Some(json!("43x")));
    assert_eq!(
        RouteCondition::parse("missing").expect("c").evaluate(&view),
        None
    );
}

#[test]
fn bad_conditions_fail_with_their_position() {
    let cases: &[(&str, &str)] = &[
        (
            "$body = 1",
            "the whole $body cannot be queried; name a member, e.g. $body.temperature at line 1, column 1",
        ),
        ("$twin.deviceId = 'x'", "unknown field '$twin'"),
        (
            "$contentType.x = 1",
            "$contentType is a message property, a string without members at line 1, column 14",
        ),
        ("FOO(1)", "unknown function 'FOO'"),
        ("processingPath = 'hot' AND", "expected a value"),
        (
            "processingPath == 'hot'",
            "expected a value (a field, a constant or a function call) at line 1, column 17: found '='",
        ),
        (
            "processingPath = 'hot' processingPath",
            "expected AND, OR or the end of the condition at line 1, column 24: found 'processingPath'",
        ),
        ("SUBSTRING('a')", "SUBSTRING takes 2 to 3 arguments, not 1"),
        ("CONCAT('a')", "CONCAT takes at least 2 arguments, not 1"),
        (
            "a IN [1, 2",
            "expected ',' or ']' at line 1, column 11: found end of input",
        ),
        ("$body.a[x] = 1", "expected an array index"),
    ];
    for (condition, needle) in cases {
        let err = RouteCondition::parse(condition).expect_err(condition);
        assert!(
            err.to_string().contains(needle),
            "{condition}\n  got: {err}\n want: {needle}"
        );
    }
}

//! Route conditions, enrichments, the fallback route and route-set checks, as tables.

use serde_json::{Value, json};
use twinhub_routing::{
    EndpointName, Envelope, FallbackRoute, MessageSource, Route, RouteError, RouteParts, RouteSet,
};

use crate::support::{endpoint, telemetry, twin, twin_change};

fn route(name: &str, source: MessageSource, condition: &str, to: &[&str]) -> Route {
    Route::new(
        RouteParts::new(name, source, to.iter().map(|e| endpoint(e)).collect())
            .condition(condition),
    )
    .unwrap_or_else(|e| panic!("route {name}: {e}"))
}

fn endpoints_of(set: &RouteSet, envelope: &Envelope, twin: Option<&Value>) -> Vec<String> {
    set.deliveries(envelope, twin)
        .into_iter()
        .map(|d| d.endpoint.to_string())
        .collect()
}

#[test]
fn conditions_route_by_properties_body_twin_and_model() {
    let mut with_model = telemetry("d1", json!({"temperature": 31.5, "unit": "C"}), &[]);
    with_model.system_properties.dt_dataschema = Some("dtmi:com:example:Thermostat;1".into());
    with_model.system_properties.dt_subject = Some("thermostat1".into());
    let alert = telemetry("d1", json!({"temperature": 12}), &[("level", "critical")]);
    let text = {
        let mut e = telemetry("d2", json!({}), &[]);
        e.system_properties.content_type = Some("text/plain".into());
        e.body = b"temperature=40".to_vec();
        e
    };
    let twin_doc = twin();
    // (condition, message, twin?, routes?)
    let cases: Vec<(&str, &Envelope, bool, bool)> = vec![
        ("true", &alert, false, true),
        ("false", &alert, false, false),
        ("$body.temperature > 30", &with_model, false, true),
        ("$body.temperature > 30", &alert, false, false),
        // $body is only visible for JSON bodies; undefined does not route.
        ("$body.temperature > 30", &text, false, false),
        ("NOT IS_DEFINED($body.temperature)", &text, false, true),
        ("level = 'critical'", &alert, false, true),
        ("LEVEL = 'critical'", &alert, false, true),
        ("level = 'critical'", &with_model, false, false),
        ("$connectionDeviceId = 'd1'", &alert, false, true),
        ("$connectionDeviceId = 'd2'", &alert, false, false),
        ("$contentType = 'application/json'", &alert, false, true),
        (
            "$modelId = 'dtmi:com:example:Thermostat;1'",
            &with_model,
            false,
            true,
        ),
        ("$dt-subject = 'thermostat1'", &with_model, false, true),
        ("IS_DEFINED($modelId)", &alert, false, false),
        ("$twin.tags.site = 'berlin'", &alert, true, true),
        ("$twin.tags.site = 'berlin'", &alert, false, false),
        (
            "$twin.tags.floor >= 3 AND $body.temperature < 20",
            &alert,
            true,
            true,
        ),
        ("$twin.properties.reported.fw = '1.2'", &alert, true, true),
        ("$twin.properties.desired.interval = 10", &alert, true, true),
        ("$body.temperature * 2 > 60", &with_model, false, true),
        ("STARTS_WITH($body.unit, 'C')", &with_model, false, true),
        ("AS_NUMBER(level) > 1", &alert, false, false),
    ];
    let mut failures = Vec::new();
    for (condition, message, with_twin, expected) in cases {
        let set = RouteSet::new(
            vec![route("r", MessageSource::Telemetry, condition, &["out"])],
            None,
        )
        .expect("route set");
        let t = with_twin.then_some(&twin_doc);
        let routed = !set.deliveries(message, t).is_empty();
        if routed != expected {
            failures.push(format!("{condition} (twin: {with_twin}): routed {routed}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn routes_only_see_their_own_source() {
    let set = RouteSet::new(
        vec![
            route("telemetry", MessageSource::Telemetry, "true", &["a"]),
            route(
                "twins",
                MessageSource::TwinChangeEvents,
                "opType = 'updateTwin'",
                &["b"],
            ),
            route(
                "twin-body",
                MessageSource::TwinChangeEvents,
                "$body.properties.reported.fw = '1.2'",
                &["c"],
            ),
        ],
        None,
    )
    .expect("route set");
    assert_eq!(
        endpoints_of(&set, &telemetry("d1", json!({}), &[]), None),
        ["a"]
    );
    assert_eq!(endpoints_of(&set, &twin_change("d1"), None), ["b", "c"]);
}

#[test]
fn each_endpoint_gets_one_copy_with_the_enrichments_of_every_matching_route() {
    let first = Route::new(
        RouteParts::new(
            "first",
            MessageSource::Telemetry,
            vec![endpoint("a"), endpoint("b")],
        )
        .enrich("site", "$twin.tags.site")
        .enrich("hub", "$iothubname")
        .enrich("owner", "team-1"),
    )
    .expect("route");
    let second = Route::new(
        RouteParts::new("second", MessageSource::Telemetry, vec![endpoint("a")])
            .condition("$body.temperature > 0")
            .enrich("owner", "team-2")
            .enrich("fw", "$twin.properties.reported.fw")
            .annotated(),
    )
    .expect("route");
    let set = RouteSet::new(vec![first, second], None).expect("route set");
    let message = telemetry("d1", json!({"temperature": 5}), &[("owner", "device")]);
    let twin_doc = twin();
    let deliveries = set.deliveries(&message, Some(&twin_doc));
    assert_eq!(deliveries.len(), 2);
    let a = &deliveries[0];
    assert_eq!(a.endpoint.as_str(), "a");
    assert_eq!(a.routes, ["first", "second"]);
    assert!(a.annotate);
    let copy = a.apply(&message);
    assert_eq!(copy.properties.get("site"), Some("berlin"));
    assert_eq!(copy.properties.get("hub"), Some("hub1"));
    assert_eq!(
        copy.properties.get("owner"),
        Some("team-2"),
        "later route wins"
    );
    assert_eq!(copy.properties.get("fw"), Some("1.2"));
    let b = deliveries[1].apply(&message);
    assert_eq!(deliveries[1].routes, ["first"]);
    assert!(!deliveries[1].annotate);
    assert_eq!(b.properties.get("owner"), Some("team-1"));
    assert_eq!(b.properties.get("fw"), None);
    assert_eq!(
        message.properties.get("owner"),
        Some("device"),
        "original untouched"
    );
}

#[test]
fn enrichments_from_missing_twin_paths_carry_the_path_and_objects_are_skipped() {
    let r = Route::new(
        RouteParts::new("r", MessageSource::Telemetry, vec![endpoint("a")])
            .enrich("region", "$twin.tags.region")
            .enrich("location", "$twin.tags.location")
            .enrich("floor", "$twin.tags.floor"),
    )
    .expect("route");
    let twin_doc = twin();
    let t = r.test(&telemetry("d1", json!({}), &[]), Some(&twin_doc));
    assert!(t.matched);
    assert_eq!(
        t.enrichments,
        vec![
            ("region".to_owned(), "$twin.tags.region".to_owned()),
            ("floor".to_owned(), "3".to_owned()),
        ]
    );
}

#[test]
fn the_fallback_takes_telemetry_no_route_matched() {
    let set = RouteSet::new(
        vec![
            route(
                "hot",
                MessageSource::Telemetry,
                "$body.temperature > 30",
                &["alerts"],
            ),
            route("off", MessageSource::Telemetry, "true", &["never"]),
            route("twins", MessageSource::TwinChangeEvents, "false", &["x"]),
        ],
        Some(FallbackRoute {
            endpoints: vec![endpoint("builtin")],
            enabled: true,
        }),
    )
    .expect("route set");
    // "off" routes everything but is disabled below, so it must not count as a match.
    let mut routes: Vec<Route> = set.routes().to_vec();
    routes[1] = Route::new(
        RouteParts::new("off", MessageSource::Telemetry, vec![endpoint("never")]).disabled(),
    )
    .expect("route");
    let set = RouteSet::new(routes, set.fallback().cloned()).expect("route set");

    let hot = telemetry("d1", json!({"temperature": 40}), &[]);
    let cold = telemetry("d1", json!({"temperature": 10}), &[]);
    assert_eq!(endpoints_of(&set, &hot, None), ["alerts"]);
    assert_eq!(endpoints_of(&set, &cold, None), ["builtin"]);
    assert_eq!(set.deliveries(&cold, None)[0].routes, ["$fallback"]);
    // The fallback is for device messages only.
    assert!(endpoints_of(&set, &twin_change("d1"), None).is_empty());
}

#[test]
fn bad_routes_are_rejected_with_what_and_where() {
    let to = || vec![endpoint("a")];
    let cases: Vec<(RouteParts, &str)> = vec![
        (
            RouteParts::new("r", MessageSource::Telemetry, to()).condition("temperature >"),
            "route 'r': condition 'temperature >' cannot be read: expected",
        ),
        (
            RouteParts::new("r", MessageSource::Telemetry, to()).condition("$twin.foo = 1"),
            "at line 1, column 1",
        ),
        (
            RouteParts::new("bad name", MessageSource::Telemetry, to()),
            "route name 'bad name' is not valid",
        ),
        (
            RouteParts::new("r", MessageSource::Telemetry, vec![]),
            "route 'r' names no endpoint",
        ),
        (
            RouteParts::new("r", MessageSource::Telemetry, to())
                .enrich("k", "1")
                .enrich("K", "2"),
            "sets enrichment 'K' twice",
        ),
        (
            RouteParts::new("r", MessageSource::Telemetry, to()).enrich("k", "$twin.deviceId"),
            "enrichment 'k' has value '$twin.deviceId'",
        ),
        (
            RouteParts::new("r", MessageSource::Telemetry, to())
                .enrich("k", "$twin.properties.x.y"),
            "enrichment 'k' has value",
        ),
        (
            RouteParts::new("r", MessageSource::Telemetry, to()).enrich("$k", "v"),
            "enrichment name '$k' is not valid",
        ),
    ];
    for (parts, expected) in cases {
        let err = Route::new(parts.clone()).expect_err(&format!("{parts:?} must fail"));
        assert!(err.to_string().contains(expected), "{err} lacks {expected}");
    }
    let mut many = RouteParts::new("r", MessageSource::Telemetry, to());
    for i in 0..11 {
        many = many.enrich(format!("k{i}"), "v");
    }
    assert!(matches!(
        Route::new(many),
        Err(RouteError::TooManyEnrichments { count: 11, .. })
    ));
}

#[test]
fn condition_errors_carry_their_position() {
    let err = Route::new(
        RouteParts::new("r", MessageSource::Telemetry, vec![endpoint("a")])
            .condition("a = 1 AND\n  b = 'x"),
    )
    .expect_err("unterminated string");
    let RouteError::Condition { error, .. } = err else {
        panic!("not a condition error: {err}");
    };
    assert_eq!((error.line, error.column), (2, 7));
}

#[test]
fn route_sets_reject_duplicates_and_unknown_endpoints() {
    let dup = RouteSet::new(
        vec![
            route("r1", MessageSource::Telemetry, "true", &["a"]),
            route("R1", MessageSource::Telemetry, "true", &["a"]),
        ],
        None,
    )
    .expect_err("duplicate");
    assert_eq!(
        dup.to_string(),
        "there are two routes named 'R1'; route names must be unique"
    );

    let set = RouteSet::new(
        vec![
            route("r1", MessageSource::Telemetry, "true", &["a", "ghost"]),
            route("r2", MessageSource::Telemetry, "true", &["b"]),
        ],
        Some(FallbackRoute {
            endpoints: vec![endpoint("gone")],
            enabled: true,
        }),
    )
    .expect("set");
    let known: Vec<EndpointName> = vec![endpoint("a"), endpoint("b")];
    let errors = set.check_endpoints(&known).expect_err("unknown endpoints");
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "route 'r1' sends to endpoint 'ghost', which does not exist (endpoints: a, b)",
            "the fallback route sends to endpoint 'gone', which does not exist (endpoints: a, b)",
        ]
    );
    assert_eq!(
        set.endpoint_names()
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>(),
        ["a", "ghost", "b", "gone"]
    );
}

#[test]
fn route_sets_read_from_toml_and_round_trip_through_json() {
    let text = r#"
        [[routes]]
        name = "hot"
        source = "Telemetry"
        condition = "$body.temperature > 30 AND $twin.tags.site = 'berlin'"
        endpoints = ["nats", "alerts"]
        annotate_telemetry = true
        enrichments = { site = "$twin.tags.site", hub = "$iothubname", tier = "gold" }

        [[routes]]
        name = "twins"
        source = "twinChangeEvents"
        endpoints = ["nats"]
        enabled = false

        [fallback]
        endpoints = ["builtin"]
    "#;
    let set: RouteSet = toml::from_str(text).expect("parses");
    let hot = set.route("hot").expect("hot");
    assert!(hot.annotate_telemetry());
    assert_eq!(hot.enrichments().len(), 3);
    assert_eq!(hot.enrichments()[2].key, "tier");
    let twins = set.route("twins").expect("twins");
    assert_eq!(twins.condition(), "true");
    assert!(!twins.enabled());
    assert!(set.fallback().is_some_and(|f| f.enabled));

    let json = serde_json::to_value(&set).expect("serialises");
    assert_eq!(json["routes"][0]["annotateTelemetry"], true);
    assert_eq!(json["routes"][0]["enrichments"]["hub"], "$iothubname");
    let back: RouteSet = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, set);
}

#[test]
fn bad_route_files_say_what_is_wrong() {
    let cases = [
        (
            "[[routes]]\nname = \"r\"\nsource = \"Telemetry\"\ncondition = \"a ==\"\nendpoints = [\"x\"]\n",
            "condition 'a ==' cannot be read",
        ),
        (
            "[[routes]]\nname = \"r\"\nsource = \"telemetrie\"\nendpoints = [\"x\"]\n",
            "source 'telemetrie' is not one of",
        ),
        (
            "[[routes]]\nname = \"r\"\nsource = \"Telemetry\"\nendpoints = [\"x y\"]\n",
            "endpoint name 'x y' is not valid",
        ),
        (
            "[[routes]]\nname = \"r\"\nsource = \"Telemetry\"\nendpoint = [\"x\"]\n",
            "unknown field `endpoint`",
        ),
    ];
    for (text, expected) in cases {
        let err = toml::from_str::<RouteSet>(text).expect_err(text);
        assert!(
            err.to_string().contains(expected),
            "{err}\nlacks: {expected}"
        );
    }
}

#[test]
fn route_test_reports_the_condition_value() {
    let r = route(
        "r",
        MessageSource::Telemetry,
        "$body.temperature * 2",
        &["a"],
    );
    let t = r.test(&telemetry("d1", json!({"temperature": 4}), &[]), None);
    assert_eq!(t.value, Some(json!(8)));
    assert!(!t.matched, "a number is not true");
    let t = r.test(&twin_change("d1"), None);
    assert!(!t.source_matches);
}

//! The diff's cases: one test per kind of change and the direction it breaks.

use super::*;

/// Parses each side on its own (the old and new documents may share identifiers) and
/// diffs the first document's interface.
fn diff_of(old: &[&str], new: &[&str]) -> Diff {
    let options = dtdl::ParsingOptions::default();
    let old_model = dtdl::parse(old, None, &options).expect("old side parses");
    let new_model = dtdl::parse(new, None, &options).expect("new side parses");
    fn root(m: &dtdl::Model) -> ElementRef<'_> {
        let id = m.documents()[0].roots[0].to_string();
        m.element(&id).expect("root")
    }
    diff(root(&old_model), root(&new_model))
}

fn iface(id: &str, contents: &str) -> String {
    format!(
        r#"{{"@context": "dtmi:dtdl:context;3", "@id": "{id}", "@type": "Interface", "contents": [{contents}]}}"#
    )
}

fn v1(contents: &str) -> String {
    iface("dtmi:com:example:Thermostat;1", contents)
}

fn v2(contents: &str) -> String {
    iface("dtmi:com:example:Thermostat;2", contents)
}

fn only(diff: &Diff) -> &Change {
    let all: Vec<&Change> = diff.all().collect();
    assert_eq!(all.len(), 1, "expected one change: {all:#?}");
    all[0]
}

const TEMP: &str = r#"{"@type": "Telemetry", "name": "temp", "schema": "double"}"#;

#[test]
fn identical_interfaces_have_no_changes() {
    let d = diff_of(&[&v1(TEMP)], &[&v2(TEMP)]);
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(d.verdict, Verdict::Identical);
    assert_eq!(d.from, "dtmi:com:example:Thermostat;1");
    assert_eq!(d.to, "dtmi:com:example:Thermostat;2");
}

#[test]
fn removing_telemetry_breaks_solutions_and_adding_it_is_additive() {
    let removed = diff_of(&[&v1(TEMP)], &[&v2("")]);
    let change = only(&removed);
    assert_eq!(change.kind, ChangeKind::Removed);
    assert_eq!(change.path, "temp");
    assert_eq!(change.element, "Telemetry");
    assert_eq!(change.verdict, Verdict::BreakingForSolutions);
    assert_eq!(removed.verdict, Verdict::BreakingForSolutions);

    let added = diff_of(&[&v1("")], &[&v2(TEMP)]);
    assert_eq!(only(&added).kind, ChangeKind::Added);
    assert_eq!(added.verdict, Verdict::Additive);
}

#[test]
fn adding_a_command_or_a_writable_property_breaks_devices() {
    let command = diff_of(
        &[&v1("")],
        &[&v2(r#"{"@type": "Command", "name": "reboot"}"#)],
    );
    assert_eq!(only(&command).verdict, Verdict::BreakingForDevices);
    let writable = diff_of(
        &[&v1("")],
        &[&v2(
            r#"{"@type": "Property", "name": "target", "schema": "double", "writable": true}"#,
        )],
    );
    assert_eq!(only(&writable).verdict, Verdict::BreakingForDevices);
    let read_only = diff_of(
        &[&v1("")],
        &[&v2(
            r#"{"@type": "Property", "name": "serial", "schema": "string"}"#,
        )],
    );
    assert_eq!(only(&read_only).verdict, Verdict::Additive);
    let removed_command = diff_of(
        &[&v1(r#"{"@type": "Command", "name": "reboot"}"#)],
        &[&v2("")],
    );
    assert_eq!(
        only(&removed_command).verdict,
        Verdict::BreakingForSolutions
    );
}

#[test]
fn writable_changes_break_the_side_that_loses_something() {
    let rw = r#"{"@type": "Property", "name": "target", "schema": "double", "writable": true}"#;
    let ro = r#"{"@type": "Property", "name": "target", "schema": "double"}"#;
    let to_read_only = diff_of(&[&v1(rw)], &[&v2(ro)]);
    let change = only(&to_read_only);
    assert_eq!(change.path, "target/writable");
    assert_eq!(change.verdict, Verdict::BreakingForSolutions);
    assert_eq!(change.before.as_deref(), Some("true"));
    let to_writable = diff_of(&[&v1(ro)], &[&v2(rw)]);
    assert_eq!(only(&to_writable).verdict, Verdict::BreakingForDevices);
}

#[test]
fn telemetry_schema_widening_breaks_solutions_and_narrowing_breaks_devices() {
    let int = r#"{"@type": "Telemetry", "name": "count", "schema": "integer"}"#;
    let long = r#"{"@type": "Telemetry", "name": "count", "schema": "long"}"#;
    let wider = diff_of(&[&v1(int)], &[&v2(long)]);
    let change = only(&wider);
    assert_eq!(change.path, "count/schema");
    assert_eq!(change.verdict, Verdict::BreakingForSolutions);
    assert_eq!(change.before.as_deref(), Some("integer"));
    assert_eq!(change.after.as_deref(), Some("long"));
    let narrower = diff_of(&[&v1(long)], &[&v2(int)]);
    assert_eq!(only(&narrower).verdict, Verdict::BreakingForDevices);
    let unrelated = diff_of(
        &[&v1(int)],
        &[&v2(
            r#"{"@type": "Telemetry", "name": "count", "schema": "string"}"#,
        )],
    );
    assert_eq!(only(&unrelated).verdict, Verdict::Breaking);
}

#[test]
fn command_requests_flow_the_other_way() {
    let cmd = |schema: &str| {
        format!(
            r#"{{"@type": "Command", "name": "set", "request": {{"name": "level", "schema": "{schema}"}}}}"#
        )
    };
    let wider = diff_of(&[&v1(&cmd("integer"))], &[&v2(&cmd("long"))]);
    let change = only(&wider);
    assert_eq!(change.path, "set/request/schema");
    assert_eq!(change.verdict, Verdict::BreakingForDevices);
    let narrower = diff_of(&[&v1(&cmd("long"))], &[&v2(&cmd("integer"))]);
    assert_eq!(only(&narrower).verdict, Verdict::BreakingForSolutions);
    let added_request = diff_of(
        &[&v1(r#"{"@type": "Command", "name": "set"}"#)],
        &[&v2(&cmd("integer"))],
    );
    let change = only(&added_request);
    assert_eq!(change.kind, ChangeKind::Added);
    assert_eq!(change.path, "set/request");
    assert_eq!(change.verdict, Verdict::Breaking);
}

fn enum_property(values: &[&str], writable: bool) -> String {
    let values: Vec<String> = values
        .iter()
        .map(|v| format!(r#"{{"name": "{v}", "enumValue": "{v}"}}"#))
        .collect();
    format!(
        r#"{{"@type": "Property", "name": "mode", "writable": {writable}, "schema": {{"@type": "Enum", "valueSchema": "string", "enumValues": [{}]}}}}"#,
        values.join(", ")
    )
}

#[test]
fn enum_values_added_or_removed_break_by_direction() {
    let added = diff_of(
        &[&v1(&enum_property(&["heat"], false))],
        &[&v2(&enum_property(&["heat", "cool"], false))],
    );
    let change = only(&added);
    assert_eq!(change.verdict, Verdict::BreakingForSolutions);
    assert!(
        change.detail.contains("enum values added: \"cool\""),
        "{}",
        change.detail
    );
    let removed = diff_of(
        &[&v1(&enum_property(&["heat", "cool"], false))],
        &[&v2(&enum_property(&["heat"], false))],
    );
    assert_eq!(only(&removed).verdict, Verdict::BreakingForDevices);
    // A writable property carries values both ways: any change of its values breaks both.
    let writable = diff_of(
        &[&v1(&enum_property(&["heat"], true))],
        &[&v2(&enum_property(&["heat", "cool"], true))],
    );
    assert_eq!(only(&writable).verdict, Verdict::Breaking);
}

#[test]
fn nested_object_fields_are_compared_and_named() {
    let obj = |fields: &str| {
        format!(
            r#"{{"@type": "Telemetry", "name": "status", "schema": {{"@type": "Object", "fields": [{fields}]}}}}"#
        )
    };
    let d = diff_of(
        &[&v1(&obj(
            r#"{"name": "ok", "schema": "boolean"}, {"name": "inner", "schema": {"@type": "Array", "elementSchema": "integer"}}"#,
        ))],
        &[&v2(&obj(
            r#"{"name": "ok", "schema": "boolean"}, {"name": "inner", "schema": {"@type": "Array", "elementSchema": "long"}}, {"name": "extra", "schema": "string"}"#,
        ))],
    );
    let change = only(&d);
    assert_eq!(change.verdict, Verdict::BreakingForSolutions);
    assert!(
        change.detail.contains("inner.item: integer became long"),
        "{}",
        change.detail
    );
    assert!(
        change.detail.contains("field extra added"),
        "{}",
        change.detail
    );
    assert_eq!(
        change.after.as_deref(),
        Some("Object{ok: boolean, inner: Array<long>, extra: string}")
    );
    let mixed = diff_of(
        &[&v1(&obj(r#"{"name": "a", "schema": "integer"}"#))],
        &[&v2(&obj(r#"{"name": "b", "schema": "integer"}"#))],
    );
    assert_eq!(
        only(&mixed).verdict,
        Verdict::Breaking,
        "a field renamed is neither wider nor narrower"
    );
}

#[test]
fn units_and_semantic_types_are_semantic_and_texts_cosmetic() {
    let temp = |unit: &str, name: &str| {
        format!(
            r#"{{"@type": ["Telemetry", "Temperature"], "name": "temp", "schema": "double", "unit": "{unit}", "displayName": "{name}"}}"#
        )
    };
    let ctx = r#"["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"]"#;
    let with_ctx = |id: &str, contents: &str| {
        format!(
            r#"{{"@context": {ctx}, "@id": "{id}", "@type": "Interface", "contents": [{contents}]}}"#
        )
    };
    let d = diff_of(
        &[&with_ctx(
            "dtmi:com:example:T;1",
            &temp("degreeCelsius", "Temperature"),
        )],
        &[&with_ctx(
            "dtmi:com:example:T;2",
            &temp("degreeFahrenheit", "Temp"),
        )],
    );
    assert_eq!(d.changed.len(), 2, "{d:#?}");
    let unit = d
        .changed
        .iter()
        .find(|c| c.path == "temp/unit")
        .expect("unit change");
    assert_eq!(unit.verdict, Verdict::Semantic);
    assert_eq!(unit.before.as_deref(), Some("degreeCelsius"));
    let name = d
        .changed
        .iter()
        .find(|c| c.path == "temp/displayName")
        .expect("name change");
    assert_eq!(name.verdict, Verdict::Cosmetic);
    assert_eq!(d.verdict, Verdict::Semantic);
}

#[test]
fn interface_descriptions_are_cosmetic() {
    let a = r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:A;1", "@type": "Interface", "description": "old", "comment": "x"}"#;
    let b = r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:A;2", "@type": "Interface", "description": {"en": "new"}}"#;
    let d = diff_of(&[a], &[b]);
    assert_eq!(d.changed.len(), 2);
    assert!(d.changed.iter().all(|c| c.verdict == Verdict::Cosmetic));
    assert_eq!(d.verdict, Verdict::Cosmetic);
}

#[test]
fn a_new_base_interface_counts_with_the_contents_it_brings() {
    let base = iface(
        "dtmi:com:example:Base;1",
        r#"{"@type": "Command", "name": "reset"}, {"@type": "Telemetry", "name": "uptime", "schema": "long"}"#,
    );
    let new = r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:Thermostat;2", "@type": "Interface", "extends": "dtmi:com:example:Base;1", "contents": [{"@type": "Telemetry", "name": "temp", "schema": "double"}]}"#;
    let d = diff_of(&[&v1(TEMP)], &[new, &base]);
    let extends = d
        .added
        .iter()
        .find(|c| c.path == "extends")
        .expect("extends");
    assert_eq!(extends.after.as_deref(), Some("dtmi:com:example:Base;1"));
    assert_eq!(extends.verdict, Verdict::BreakingForDevices);
    let reset = d.added.iter().find(|c| c.path == "reset").expect("reset");
    assert_eq!(
        reset.inherited_from.as_deref(),
        Some("dtmi:com:example:Base;1")
    );
    assert_eq!(reset.verdict, Verdict::BreakingForDevices);
    let uptime = d.added.iter().find(|c| c.path == "uptime").expect("uptime");
    assert_eq!(uptime.verdict, Verdict::Additive);
    assert_eq!(d.verdict, Verdict::BreakingForDevices);

    // Moving a content into a base interface changes nothing for devices or solutions.
    let moved_base = iface("dtmi:com:example:Base;1", TEMP);
    let moved = r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:Thermostat;2", "@type": "Interface", "extends": "dtmi:com:example:Base;1"}"#;
    let d = diff_of(&[&v1(TEMP)], &[moved, &moved_base]);
    assert_eq!(d.verdict, Verdict::Cosmetic, "{d:#?}");
}

#[test]
fn components_are_compared_through_their_interfaces() {
    let part1 = iface("dtmi:com:example:Part;1", TEMP);
    let part2 = iface(
        "dtmi:com:example:Part;2",
        r#"{"@type": "Telemetry", "name": "temp", "schema": "double"}, {"@type": "Command", "name": "calibrate"}"#,
    );
    let old = iface(
        "dtmi:com:example:Device;1",
        r#"{"@type": "Component", "name": "part", "schema": "dtmi:com:example:Part;1"}"#,
    );
    let new = iface(
        "dtmi:com:example:Device;2",
        r#"{"@type": "Component", "name": "part", "schema": "dtmi:com:example:Part;2"}"#,
    );
    let d = diff_of(&[&old, &part1], &[&new, &part2]);
    let swap = d
        .changed
        .iter()
        .find(|c| c.path == "part/schema")
        .expect("schema change");
    assert_eq!(swap.verdict, Verdict::BreakingForDevices);
    let nested = d
        .added
        .iter()
        .find(|c| c.path == "part/calibrate")
        .expect("nested command");
    assert_eq!(nested.verdict, Verdict::BreakingForDevices);
    assert_eq!(d.verdict, Verdict::BreakingForDevices);
}

#[test]
fn a_content_changing_class_breaks_both_sides() {
    let d = diff_of(
        &[&v1(TEMP)],
        &[&v2(
            r#"{"@type": "Property", "name": "temp", "schema": "double"}"#,
        )],
    );
    assert_eq!(only(&d).verdict, Verdict::Breaking);
}

#[test]
fn one_sided_breaks_combine_into_breaking() {
    assert_eq!(
        Verdict::BreakingForDevices.and(Verdict::BreakingForSolutions),
        Verdict::Breaking
    );
    assert_eq!(Verdict::Additive.and(Verdict::Cosmetic), Verdict::Additive);
    assert_eq!(Verdict::Identical.and(Verdict::Semantic), Verdict::Semantic);
    assert_eq!(
        Verdict::BreakingForDevices.and(Verdict::Semantic),
        Verdict::BreakingForDevices
    );
    let d = diff_of(
        &[&v1(TEMP)],
        &[&v2(r#"{"@type": "Command", "name": "reboot"}"#)],
    );
    assert_eq!(d.verdict, Verdict::Breaking);
}

#[test]
fn relationship_multiplicity_narrowing_breaks_solutions() {
    let rel = |max: u32| {
        format!(
            r#"{{"@type": "Relationship", "name": "rooms", "target": "dtmi:com:example:Room;1", "maxMultiplicity": {max}}}"#
        )
    };
    let d = diff_of(&[&v1(&rel(10))], &[&v2(&rel(5))]);
    let change = only(&d);
    assert_eq!(change.path, "rooms/maxMultiplicity");
    assert_eq!(change.verdict, Verdict::BreakingForSolutions);
    let d = diff_of(&[&v1(&rel(5))], &[&v2(&rel(10))]);
    assert_eq!(only(&d).verdict, Verdict::Additive);
}

#[test]
fn schemas_render_readably() {
    let doc = v1(
        r#"{"@type": "Property", "name": "p", "schema": {"@type": "Map", "mapKey": {"name": "k", "schema": "string"}, "mapValue": {"name": "v", "schema": {"@type": "Enum", "valueSchema": "integer", "enumValues": [{"name": "low", "enumValue": 1}]}}}}"#,
    );
    let model = dtdl::parse(&[&doc], None, &dtdl::ParsingOptions::default()).expect("parses");
    let root = model
        .element("dtmi:com:example:Thermostat;1")
        .expect("root");
    let p = root.content("p").expect("p");
    assert_eq!(
        schema_text(p.schema().expect("schema")),
        "Map<string, Enum<integer>{low = 1}>"
    );
    assert_eq!(
        content_summary(p),
        "Property p: Map<string, Enum<integer>{low = 1}>"
    );
}

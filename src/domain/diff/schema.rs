//! Comparing schemas: whether the new one still fits the old in the direction values flow
//! (telemetry and reported properties from the device, writes and requests to it).

use std::collections::BTreeSet;

use dtdl::ElementRef;

use super::interface::{compare_cosmetics, compare_semantics};
use super::text::{enum_literal, schema_text};
use super::{Change, ChangeKind, Verdict, join};

/// Which side sends values of a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Telemetry, read-only properties, command responses.
    FromDevice,
    /// Command requests.
    ToDevice,
    /// Writable properties: solutions write, devices report.
    BothWays,
}

/// How the set of values a new schema accepts relates to the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fit {
    Same,
    /// The new schema accepts everything the old did, and more.
    Wider,
    /// The new schema accepts a part of what the old did.
    Narrower,
    /// Neither contains the other.
    Different,
}

impl Fit {
    fn and(self, other: Fit) -> Fit {
        match (self, other) {
            (Fit::Same, x) | (x, Fit::Same) => x,
            (a, b) if a == b => a,
            _ => Fit::Different,
        }
    }
}

pub(super) fn schema_change_verdict(fit: Fit, flow: Flow) -> Verdict {
    match (fit, flow) {
        (Fit::Same, _) => Verdict::Identical,
        (Fit::Different, _) | (_, Flow::BothWays) => Verdict::Breaking,
        // Receivers meet values they do not know.
        (Fit::Wider, Flow::FromDevice) => Verdict::BreakingForSolutions,
        (Fit::Wider, Flow::ToDevice) => Verdict::BreakingForDevices,
        // Senders built for the old schema send values that are no longer allowed.
        (Fit::Narrower, Flow::FromDevice) => Verdict::BreakingForDevices,
        (Fit::Narrower, Flow::ToDevice) => Verdict::BreakingForSolutions,
    }
}

pub(super) fn compare_payload(
    old: Option<ElementRef<'_>>,
    new: Option<ElementRef<'_>>,
    path: &str,
    flow: Flow,
    out: &mut Vec<Change>,
) {
    let sender = if flow == Flow::ToDevice {
        "solutions"
    } else {
        "devices"
    };
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => out.push(Change {
            kind: ChangeKind::Added,
            path: path.to_owned(),
            element: "CommandPayload".to_owned(),
            verdict: if flow == Flow::ToDevice {
                Verdict::Breaking
            } else {
                Verdict::BreakingForDevices
            },
            detail: format!(
                "a payload is now expected: {sender} built for the old version send none"
            ),
            before: None,
            after: n.schema().map(schema_text),
            inherited_from: None,
        }),
        (Some(o), None) => out.push(Change {
            kind: ChangeKind::Removed,
            path: path.to_owned(),
            element: "CommandPayload".to_owned(),
            verdict: if flow == Flow::ToDevice {
                Verdict::BreakingForDevices
            } else {
                Verdict::BreakingForSolutions
            },
            detail: format!(
                "the payload is gone: {sender} built for the old version still send one"
            ),
            before: o.schema().map(schema_text),
            after: None,
            inherited_from: None,
        }),
        (Some(o), Some(n)) => {
            if o.name() != n.name() {
                out.push(Change {
                    kind: ChangeKind::Changed,
                    path: join(path, "name"),
                    element: "CommandPayload".to_owned(),
                    verdict: Verdict::Cosmetic,
                    detail: "the payload was renamed; its name is not sent".to_owned(),
                    before: o.name().map(str::to_owned),
                    after: n.name().map(str::to_owned),
                    inherited_from: None,
                });
            }
            compare_cosmetics(o, n, path, "CommandPayload", out);
            compare_semantics(o, n, path, out);
            compare_schema_slot(o.schema(), n.schema(), &join(path, "schema"), flow, out);
        }
    }
}

/// Compares two schemas and reports one change for the slot, with the details of what differs.
pub(super) fn compare_schema_slot(
    old: Option<ElementRef<'_>>,
    new: Option<ElementRef<'_>>,
    path: &str,
    flow: Flow,
    out: &mut Vec<Change>,
) {
    let (Some(old), Some(new)) = (old, new) else {
        return;
    };
    let mut notes = Vec::new();
    let fit = compare_schema(old, new, "", &mut notes, 0);
    if fit == Fit::Same && notes.is_empty() {
        return;
    }
    let verdict = if fit == Fit::Same {
        Verdict::Cosmetic
    } else {
        schema_change_verdict(fit, flow)
    };
    let shape = match fit {
        Fit::Same => "only names or descriptions inside the schema changed",
        Fit::Wider => "the schema now allows more values",
        Fit::Narrower => "the schema now allows fewer values",
        Fit::Different => "the schema changed incompatibly",
    };
    let mut detail = shape.to_owned();
    if !notes.is_empty() {
        detail.push_str(": ");
        detail.push_str(&notes.join("; "));
    }
    out.push(Change {
        kind: ChangeKind::Changed,
        path: path.to_owned(),
        element: "Schema".to_owned(),
        verdict,
        detail,
        before: Some(schema_text(old)),
        after: Some(schema_text(new)),
        inherited_from: None,
    });
}

/// Primitive schemas by the values they accept: each entry lists the schemas it fits inside.
pub(super) fn primitive_fit(old: &str, new: &str) -> Fit {
    const WIDER: &[(&str, &[&str])] = &[
        (
            "Byte",
            &["Short", "Integer", "Long", "Float", "Double", "Decimal"],
        ),
        ("Short", &["Integer", "Long", "Float", "Double", "Decimal"]),
        ("Integer", &["Long", "Double", "Decimal"]),
        ("Long", &["Decimal"]),
        (
            "UnsignedByte",
            &[
                "UnsignedShort",
                "UnsignedInteger",
                "UnsignedLong",
                "Short",
                "Integer",
                "Long",
                "Double",
            ],
        ),
        (
            "UnsignedShort",
            &[
                "UnsignedInteger",
                "UnsignedLong",
                "Integer",
                "Long",
                "Double",
            ],
        ),
        ("UnsignedInteger", &["UnsignedLong", "Long", "Double"]),
        ("Float", &["Double"]),
        ("Date", &["String"]),
        ("Time", &["String"]),
        ("DateTime", &["String"]),
        ("Duration", &["String"]),
        ("Uuid", &["String"]),
    ];
    let within = |a: &str, b: &str| WIDER.iter().any(|(from, to)| *from == a && to.contains(&b));
    if old == new {
        Fit::Same
    } else if within(old, new) {
        Fit::Wider
    } else if within(new, old) {
        Fit::Narrower
    } else {
        Fit::Different
    }
}

pub(super) fn compare_schema(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    at: &str,
    notes: &mut Vec<String>,
    depth: usize,
) -> Fit {
    if depth > 16 {
        return Fit::Same;
    }
    let here = |what: &str| {
        if at.is_empty() {
            what.to_owned()
        } else {
            format!("{at}: {what}")
        }
    };
    let (oc, nc) = (old.class(), new.class());
    if oc != nc {
        let fit = primitive_fit(oc, nc);
        notes.push(here(&format!(
            "{} became {}",
            schema_text(old),
            schema_text(new)
        )));
        return if old.is_standard() && new.is_standard() {
            fit
        } else {
            Fit::Different
        };
    }
    match oc {
        "Object" => {
            let mut fit = Fit::Same;
            let old_fields = old.fields();
            let new_fields = new.fields();
            for nf in &new_fields {
                let name = nf.name().unwrap_or_default();
                match old_fields.iter().find(|f| f.name() == Some(name)) {
                    Some(of) => {
                        if let (Some(os), Some(ns)) = (of.schema(), nf.schema()) {
                            fit = fit.and(compare_schema(
                                os,
                                ns,
                                &join_field(at, name),
                                notes,
                                depth + 1,
                            ));
                        }
                    }
                    None => {
                        notes.push(here(&format!("field {name} added")));
                        fit = fit.and(Fit::Wider);
                    }
                }
            }
            for of in &old_fields {
                let name = of.name().unwrap_or_default();
                if !new_fields.iter().any(|f| f.name() == Some(name)) {
                    notes.push(here(&format!("field {name} removed")));
                    fit = fit.and(Fit::Narrower);
                }
            }
            fit
        }
        "Enum" => {
            let mut fit = match (old.value_schema(), new.value_schema()) {
                (Some(o), Some(n)) if o.class() != n.class() => {
                    notes.push(here(&format!(
                        "enum values are now {} instead of {}",
                        schema_text(n),
                        schema_text(o)
                    )));
                    Fit::Different
                }
                _ => Fit::Same,
            };
            let old_values: BTreeSet<String> =
                old.enum_values().iter().map(|v| enum_literal(*v)).collect();
            let new_values: BTreeSet<String> =
                new.enum_values().iter().map(|v| enum_literal(*v)).collect();
            let added: Vec<&String> = new_values.difference(&old_values).collect();
            let removed: Vec<&String> = old_values.difference(&new_values).collect();
            if !added.is_empty() {
                notes.push(here(&format!(
                    "enum values added: {}",
                    join_strings(&added)
                )));
                fit = fit.and(Fit::Wider);
            }
            if !removed.is_empty() {
                notes.push(here(&format!(
                    "enum values removed: {}",
                    join_strings(&removed)
                )));
                fit = fit.and(Fit::Narrower);
            }
            fit
        }
        "Map" => {
            let key = match (
                old.map_key().and_then(|k| k.schema()),
                new.map_key().and_then(|k| k.schema()),
            ) {
                (Some(o), Some(n)) => {
                    compare_schema(o, n, &join_field(at, "key"), notes, depth + 1)
                }
                _ => Fit::Same,
            };
            let value = match (
                old.map_value().and_then(|v| v.schema()),
                new.map_value().and_then(|v| v.schema()),
            ) {
                (Some(o), Some(n)) => {
                    compare_schema(o, n, &join_field(at, "value"), notes, depth + 1)
                }
                _ => Fit::Same,
            };
            key.and(value)
        }
        "Array" => match (old.element_schema(), new.element_schema()) {
            (Some(o), Some(n)) => compare_schema(o, n, &join_field(at, "item"), notes, depth + 1),
            _ => Fit::Same,
        },
        _ => Fit::Same,
    }
}

pub(super) fn join_field(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

pub(super) fn join_strings(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

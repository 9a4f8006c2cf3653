//! Comparing relationships: target, multiplicity bounds and their properties.

use dtdl::{ElementRef, PropertyValue};

use super::interface::compare_contents;
use super::text::content_summary;
use super::{Change, ChangeKind, MAX_DEPTH, Verdict, join};

pub(super) fn integer(element: ElementRef<'_>, property: &str) -> Option<i64> {
    element
        .property(property)
        .into_iter()
        .find_map(|v| match v {
            PropertyValue::Integer(n) => Some(n),
            _ => None,
        })
}

pub(super) fn compare_relationship(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    path: &str,
    out: &mut Vec<Change>,
) {
    if old.target() != new.target() {
        out.push(Change {
            kind: ChangeKind::Changed,
            path: join(path, "target"),
            element: "Relationship".to_owned(),
            verdict: match (old.target(), new.target()) {
                // Any target becomes allowed: existing relationships stay valid.
                (Some(_), None) => Verdict::BreakingForSolutions,
                _ => Verdict::Breaking,
            },
            detail: "the relationship points at other interfaces".to_owned(),
            before: Some(old.target().unwrap_or("any interface").to_owned()),
            after: Some(new.target().unwrap_or("any interface").to_owned()),
            inherited_from: None,
        });
    }
    for property in ["minMultiplicity", "maxMultiplicity"] {
        let (before, after) = (integer(old, property), integer(new, property));
        if before == after {
            continue;
        }
        // A lower maximum or a higher minimum refuses relationships that were allowed.
        let narrower = match property {
            "maxMultiplicity" => after.unwrap_or(i64::MAX) < before.unwrap_or(i64::MAX),
            _ => after.unwrap_or(0) > before.unwrap_or(0),
        };
        out.push(Change {
            kind: ChangeKind::Changed,
            path: join(path, property),
            element: "Relationship".to_owned(),
            verdict: if narrower {
                Verdict::BreakingForSolutions
            } else {
                Verdict::Additive
            },
            detail: if narrower {
                "fewer relationships are allowed: existing ones may no longer fit".to_owned()
            } else {
                "more relationships are allowed".to_owned()
            },
            before: before.map(|n| n.to_string()),
            after: after.map(|n| n.to_string()),
            inherited_from: None,
        });
    }
    let (was, is) = (old.writable(), new.writable());
    if was != is {
        out.push(Change {
            kind: ChangeKind::Changed,
            path: join(path, "writable"),
            element: "Relationship".to_owned(),
            verdict: if is {
                Verdict::Additive
            } else {
                Verdict::BreakingForSolutions
            },
            detail: if is {
                "solutions may now create and change it".to_owned()
            } else {
                "solutions can no longer create or change it".to_owned()
            },
            before: Some(was.to_string()),
            after: Some(is.to_string()),
            inherited_from: None,
        });
    }
    let old_props = old.elements("properties");
    let new_props = new.elements("properties");
    for np in &new_props {
        let name = np.name().unwrap_or_default();
        let sub = join(path, name);
        match old_props.iter().find(|p| p.name() == Some(name)) {
            Some(op) => compare_contents(*op, *np, &sub, out, MAX_DEPTH),
            None => out.push(Change {
                kind: ChangeKind::Added,
                path: sub,
                element: "Property".to_owned(),
                verdict: Verdict::Additive,
                detail: format!("new relationship property {name}"),
                before: None,
                after: Some(content_summary(*np)),
                inherited_from: None,
            }),
        }
    }
    for op in &old_props {
        let name = op.name().unwrap_or_default();
        if !new_props.iter().any(|p| p.name() == Some(name)) {
            out.push(Change {
                kind: ChangeKind::Removed,
                path: join(path, name),
                element: "Property".to_owned(),
                verdict: Verdict::BreakingForSolutions,
                detail: format!("relationship property {name} is gone"),
                before: Some(content_summary(*op)),
                after: None,
                inherited_from: None,
            });
        }
    }
}

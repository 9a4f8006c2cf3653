//! Comparing two interfaces' contents (matched by name, inherited ones included), their
//! cosmetic texts and semantic annotations, and components through their interfaces.

use std::collections::BTreeSet;

use dtdl::ElementRef;

use super::relationship::compare_relationship;
use super::schema::{Flow, compare_payload, compare_schema_slot};
use super::text::{content_summary, short_id};
use super::{Change, ChangeKind, MAX_DEPTH, Verdict, declared_in, join};

pub(super) fn compare_interfaces(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    prefix: &str,
    out: &mut Vec<Change>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    compare_cosmetics(old, new, prefix, "Interface", out);

    let old_bases: BTreeSet<&str> = old.extends().iter().map(|e| e.id()).collect();
    let new_bases: BTreeSet<&str> = new.extends().iter().map(|e| e.id()).collect();

    let old_contents = old.all_contents();
    let new_contents = new.all_contents();
    let mut content_changes = Vec::new();
    for n in &new_contents {
        let name = n.name().unwrap_or_default();
        let path = join(prefix, name);
        match old_contents.iter().find(|o| o.name() == Some(name)) {
            Some(o) => {
                let start = content_changes.len();
                compare_contents(*o, *n, &path, &mut content_changes, depth);
                if let Some(base) = declared_in(new, *n) {
                    for change in &mut content_changes[start..] {
                        change.inherited_from = Some(base.clone());
                    }
                }
            }
            None => content_changes.push(Change {
                kind: ChangeKind::Added,
                element: n.class().to_owned(),
                verdict: added_content_verdict(*n, depth),
                detail: added_content_detail(*n),
                before: None,
                after: Some(content_summary(*n)),
                inherited_from: declared_in(new, *n),
                path,
            }),
        }
    }
    for o in &old_contents {
        let name = o.name().unwrap_or_default();
        if !new_contents.iter().any(|n| n.name() == Some(name)) {
            content_changes.push(Change {
                kind: ChangeKind::Removed,
                element: o.class().to_owned(),
                verdict: Verdict::BreakingForSolutions,
                detail: format!(
                    "{} {name} is gone: solutions that use it break",
                    o.class().to_lowercase()
                ),
                before: Some(content_summary(*o)),
                after: None,
                inherited_from: declared_in(old, *o),
                path: join(prefix, name),
            });
        }
    }

    // A changed `extends` is reported with the verdict of the contents it brings or takes.
    for base in new_bases.difference(&old_bases) {
        let verdict = content_changes
            .iter()
            .filter(|c| c.inherited_from.as_deref() == Some(*base) && c.kind == ChangeKind::Added)
            .fold(Verdict::Cosmetic, |acc, c| acc.and(c.verdict));
        out.push(Change {
            kind: ChangeKind::Added,
            path: join(prefix, "extends"),
            element: "Interface".to_owned(),
            verdict,
            detail: format!("now extends {base}; the contents it brings are listed with it"),
            before: None,
            after: Some((*base).to_owned()),
            inherited_from: None,
        });
    }
    for base in old_bases.difference(&new_bases) {
        let verdict = content_changes
            .iter()
            .filter(|c| c.inherited_from.as_deref() == Some(*base) && c.kind == ChangeKind::Removed)
            .fold(Verdict::Cosmetic, |acc, c| acc.and(c.verdict));
        out.push(Change {
            kind: ChangeKind::Removed,
            path: join(prefix, "extends"),
            element: "Interface".to_owned(),
            verdict,
            detail: format!("no longer extends {base}; the contents it brought are listed with it"),
            before: Some((*base).to_owned()),
            after: None,
            inherited_from: None,
        });
    }
    out.extend(content_changes);
}

/// What a new content demands of devices that claim the new version.
pub(super) fn added_content_verdict(content: ElementRef<'_>, depth: usize) -> Verdict {
    match content.class() {
        "Command" => Verdict::BreakingForDevices,
        "Property" if content.writable() => Verdict::BreakingForDevices,
        "Component" => match content.schema() {
            Some(iface) if depth < MAX_DEPTH => iface
                .all_contents()
                .into_iter()
                .fold(Verdict::Additive, |acc, c| {
                    acc.and(added_content_verdict(c, depth + 1))
                }),
            _ => Verdict::BreakingForDevices,
        },
        _ => Verdict::Additive,
    }
}

pub(super) fn added_content_detail(content: ElementRef<'_>) -> String {
    let name = content.name().unwrap_or_default();
    match content.class() {
        "Command" => format!("new command {name}: devices must now handle it"),
        "Property" if content.writable() => {
            format!("new writable property {name}: devices must now accept writes of it")
        }
        "Property" => format!("new read-only property {name}: devices may report it"),
        "Telemetry" => format!("new telemetry {name}: devices may send it"),
        "Component" => format!(
            "new component {name}: devices must implement {}",
            content.schema().map(|s| s.id()).unwrap_or_default()
        ),
        "Relationship" => format!("new relationship {name}"),
        other => format!("new {} {name}", other.to_lowercase()),
    }
}

pub(super) fn compare_cosmetics(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    path: &str,
    element: &str,
    out: &mut Vec<Change>,
) {
    for (property, before, after) in [
        (
            "displayName",
            lang_text(old, "displayName"),
            lang_text(new, "displayName"),
        ),
        (
            "description",
            lang_text(old, "description"),
            lang_text(new, "description"),
        ),
        (
            "comment",
            old.comment().map(str::to_owned),
            new.comment().map(str::to_owned),
        ),
    ] {
        if before != after {
            out.push(Change {
                kind: ChangeKind::Changed,
                path: join(path, property),
                element: element.to_owned(),
                verdict: Verdict::Cosmetic,
                detail: format!("{property} changed; nothing on the wire changes"),
                before,
                after,
                inherited_from: None,
            });
        }
    }
}

/// A language map as `en: text; de: text` (sorted by language), or `None` when absent.
pub(super) fn lang_text(element: ElementRef<'_>, property: &str) -> Option<String> {
    let map = if property == "displayName" {
        element.display_name()
    } else {
        element.description()
    };
    if map.is_empty() {
        return None;
    }
    if map.len() == 1 {
        return map.values().next().map(|t| (*t).to_owned());
    }
    Some(
        map.iter()
            .map(|(lang, text)| format!("{lang}: {text}"))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

pub(super) fn compare_contents(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    path: &str,
    out: &mut Vec<Change>,
    depth: usize,
) {
    let class = new.class();
    if old.class() != class {
        out.push(Change {
            kind: ChangeKind::Changed,
            path: path.to_owned(),
            element: class.to_owned(),
            verdict: Verdict::Breaking,
            detail: format!(
                "was a {}, is now a {class}: devices and solutions handle them differently",
                old.class()
            ),
            before: Some(content_summary(old)),
            after: Some(content_summary(new)),
            inherited_from: None,
        });
        return;
    }
    compare_cosmetics(old, new, path, class, out);
    compare_semantics(old, new, path, out);
    match class {
        "Telemetry" => {
            compare_schema_slot(
                old.schema(),
                new.schema(),
                &join(path, "schema"),
                Flow::FromDevice,
                out,
            );
        }
        "Property" => {
            let (was, is) = (old.writable(), new.writable());
            if was != is {
                let (verdict, detail) = if is {
                    (
                        Verdict::BreakingForDevices,
                        "became writable: devices must now accept and acknowledge writes",
                    )
                } else {
                    (
                        Verdict::BreakingForSolutions,
                        "became read-only: solutions can no longer write it",
                    )
                };
                out.push(Change {
                    kind: ChangeKind::Changed,
                    path: join(path, "writable"),
                    element: class.to_owned(),
                    verdict,
                    detail: detail.to_owned(),
                    before: Some(was.to_string()),
                    after: Some(is.to_string()),
                    inherited_from: None,
                });
            }
            let flow = if was || is {
                Flow::BothWays
            } else {
                Flow::FromDevice
            };
            compare_schema_slot(old.schema(), new.schema(), &join(path, "schema"), flow, out);
        }
        "Command" => {
            compare_payload(
                old.request(),
                new.request(),
                &join(path, "request"),
                Flow::ToDevice,
                out,
            );
            compare_payload(
                old.response(),
                new.response(),
                &join(path, "response"),
                Flow::FromDevice,
                out,
            );
        }
        "Component" => compare_component(old, new, path, out, depth),
        "Relationship" => compare_relationship(old, new, path, out),
        _ => {}
    }
}

pub(super) fn compare_semantics(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    path: &str,
    out: &mut Vec<Change>,
) {
    let old_types: BTreeSet<&str> = old
        .supplemental_types()
        .iter()
        .map(|t| short_id(t))
        .collect();
    let new_types: BTreeSet<&str> = new
        .supplemental_types()
        .iter()
        .map(|t| short_id(t))
        .collect();
    if old_types != new_types {
        out.push(Change {
            kind: ChangeKind::Changed,
            path: join(path, "@type"),
            element: new.class().to_owned(),
            verdict: Verdict::Semantic,
            detail: "the semantic type changed: the values mean something else".to_owned(),
            before: Some(old_types.into_iter().collect::<Vec<_>>().join(", ")),
            after: Some(new_types.into_iter().collect::<Vec<_>>().join(", ")),
            inherited_from: None,
        });
    }
    let old_unit = old.unit().map(|u| short_id(u.id()).to_owned());
    let new_unit = new.unit().map(|u| short_id(u.id()).to_owned());
    if old_unit != new_unit {
        out.push(Change {
            kind: ChangeKind::Changed,
            path: join(path, "unit"),
            element: new.class().to_owned(),
            verdict: Verdict::Semantic,
            detail: "the unit changed: the same numbers mean other quantities".to_owned(),
            before: old_unit,
            after: new_unit,
            inherited_from: None,
        });
    }
}

pub(super) fn compare_component(
    old: ElementRef<'_>,
    new: ElementRef<'_>,
    path: &str,
    out: &mut Vec<Change>,
    depth: usize,
) {
    let (Some(oi), Some(ni)) = (old.schema(), new.schema()) else {
        return;
    };
    if oi.id() == ni.id() {
        return;
    }
    let mut nested = Vec::new();
    compare_interfaces(oi, ni, path, &mut nested, depth + 1);
    let verdict = nested
        .iter()
        .fold(Verdict::Cosmetic, |acc, c| acc.and(c.verdict));
    out.push(Change {
        kind: ChangeKind::Changed,
        path: join(path, "schema"),
        element: "Component".to_owned(),
        verdict,
        detail: format!(
            "the component now uses {} instead of {}; the differences between them are listed under {path}",
            ni.id(),
            oi.id()
        ),
        before: Some(oi.id().to_owned()),
        after: Some(ni.id().to_owned()),
        inherited_from: None,
    });
    // Cosmetic changes of the nested interface itself (its display name) are not the
    // component's business; keep what the device and solution see.
    out.extend(
        nested
            .into_iter()
            .filter(|c| !(c.element == "Interface" && c.verdict == Verdict::Cosmetic)),
    );
}

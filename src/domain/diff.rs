//! The semantic diff of two Interfaces over the `dtdl` object model: what was added, removed
//! or changed, each change with its element path and a verdict saying whom it breaks.
//!
//! Who breaks depends on which way the data flows. A *device* implements the interface: it
//! sends telemetry, reports properties, answers commands and accepts writes of writable
//! properties. A *solution* consumes it: it reads telemetry and properties, writes writable
//! properties and invokes commands. So removing telemetry breaks solutions (they lose data),
//! adding a command breaks devices (they must now handle it), and a schema that grows breaks
//! whoever *receives* values of it while one that shrinks breaks whoever *sends* them.
//! Contents inherited through `extends` are compared like own contents, so a new base
//! interface shows up as the contents it brings; components are compared recursively.

use std::collections::BTreeSet;

use dtdl::{ElementRef, PropertyValue};
use serde::Serialize;

/// Whom a change affects. Ordered by severity, except that the two one-sided breaks are
/// equally severe and combine into [`Verdict::Breaking`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// Nothing differs.
    Identical,
    /// Only display names, descriptions or comments differ.
    Cosmetic,
    /// New optional things that neither side has to use.
    Additive,
    /// The meaning of existing data changes (unit or semantic type), not its shape.
    Semantic,
    /// Devices built for the old version no longer conform to the new one.
    BreakingForDevices,
    /// Solutions built for the old version can no longer rely on what they used.
    BreakingForSolutions,
    /// Breaks devices and solutions.
    Breaking,
}

impl Verdict {
    fn rank(self) -> u8 {
        match self {
            Self::Identical => 0,
            Self::Cosmetic => 1,
            Self::Additive => 2,
            Self::Semantic => 3,
            Self::BreakingForDevices | Self::BreakingForSolutions => 4,
            Self::Breaking => 5,
        }
    }

    /// The verdict of two changes taken together.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (BreakingForDevices, BreakingForSolutions)
            | (BreakingForSolutions, BreakingForDevices) => Breaking,
            _ if other.rank() > self.rank() => other,
            _ => self,
        }
    }

    /// Short wording for people, e.g. in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Self::Identical => "identical",
            Self::Cosmetic => "cosmetic",
            Self::Additive => "additive",
            Self::Semantic => "semantic",
            Self::BreakingForDevices => "breaks devices",
            Self::BreakingForSolutions => "breaks solutions",
            Self::Breaking => "breaks devices and solutions",
        }
    }

    /// A CSS-friendly name.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Identical => "identical",
            Self::Cosmetic => "cosmetic",
            Self::Additive => "additive",
            Self::Semantic => "semantic",
            Self::BreakingForDevices => "breaking-devices",
            Self::BreakingForSolutions => "breaking-solutions",
            Self::Breaking => "breaking",
        }
    }

    pub fn is_breaking(self) -> bool {
        self.rank() >= 4
    }
}

/// Whether something appeared, disappeared or changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between the two interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub kind: ChangeKind,
    /// Where: content names and schema steps joined by `/`, e.g. `setMode/request/schema`;
    /// interface-level properties are named alone (`displayName`, `extends`).
    pub path: String,
    /// The DTDL class of the element concerned (`Telemetry`, `Property`, `Field`, ...).
    pub element: String,
    pub verdict: Verdict,
    /// What changed and why it has this verdict.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The interface the element is inherited from (through `extends`), when not declared
    /// by the compared interface itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inherited_from: Option<String>,
}

/// The differences between an old and a new interface.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub from: String,
    pub to: String,
    /// All changes taken together.
    pub verdict: Verdict,
    pub added: Vec<Change>,
    pub removed: Vec<Change>,
    pub changed: Vec<Change>,
}

impl Diff {
    /// Every change, added first, then removed, then changed.
    pub fn all(&self) -> impl Iterator<Item = &Change> {
        self.added
            .iter()
            .chain(self.removed.iter())
            .chain(self.changed.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares two interfaces (each from its own parsed model, with its dependencies resolved).
pub fn diff(old: ElementRef<'_>, new: ElementRef<'_>) -> Diff {
    let mut changes = Vec::new();
    compare_interfaces(old, new, "", &mut changes, 0);
    let verdict = changes
        .iter()
        .fold(Verdict::Identical, |acc, c| acc.and(c.verdict));
    let mut out = Diff {
        from: old.id().to_owned(),
        to: new.id().to_owned(),
        verdict,
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for change in changes {
        match change.kind {
            ChangeKind::Added => out.added.push(change),
            ChangeKind::Removed => out.removed.push(change),
            ChangeKind::Changed => out.changed.push(change),
        }
    }
    out
}

/// Components nest interfaces; DTDL limits the depth, this guards against odd models.
const MAX_DEPTH: usize = 8;

/// Which side sends values of a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// Telemetry, read-only properties, command responses.
    FromDevice,
    /// Command requests.
    ToDevice,
    /// Writable properties: solutions write, devices report.
    BothWays,
}

/// How the set of values a new schema accepts relates to the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
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

fn schema_change_verdict(fit: Fit, flow: Flow) -> Verdict {
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

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The interface declaring a content directly, when it is not `root`.
fn declared_in(root: ElementRef<'_>, content: ElementRef<'_>) -> Option<String> {
    if root.contents().iter().any(|c| c.id() == content.id()) {
        return None;
    }
    let mut stack = root.extends();
    let mut seen = BTreeSet::new();
    while let Some(iface) = stack.pop() {
        if !seen.insert(iface.id()) {
            continue;
        }
        if iface.contents().iter().any(|c| c.id() == content.id()) {
            return Some(iface.id().to_owned());
        }
        stack.extend(iface.extends());
    }
    None
}

fn compare_interfaces(
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
fn added_content_verdict(content: ElementRef<'_>, depth: usize) -> Verdict {
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

fn added_content_detail(content: ElementRef<'_>) -> String {
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

/// One line describing a content, e.g. `Property targetTemperature: double (writable)`.
pub fn content_summary(content: ElementRef<'_>) -> String {
    let name = content.name().unwrap_or_default();
    let mut text = format!("{} {name}", content.class());
    match content.class() {
        "Command" => {
            let request = content
                .request()
                .and_then(|r| r.schema())
                .map(schema_text)
                .unwrap_or_else(|| "nothing".to_owned());
            let response = content
                .response()
                .and_then(|r| r.schema())
                .map(schema_text)
                .unwrap_or_else(|| "nothing".to_owned());
            text.push_str(&format!(": {request} → {response}"));
        }
        "Relationship" => {
            text.push_str(&format!(
                " → {}",
                content.target().unwrap_or("any interface")
            ));
        }
        _ => {
            if let Some(schema) = content.schema() {
                text.push_str(&format!(": {}", schema_text(schema)));
            }
        }
    }
    if content.class() == "Property" && content.writable() {
        text.push_str(" (writable)");
    }
    if let Some(unit) = content.unit() {
        text.push_str(&format!(" in {}", short_id(unit.id())));
    }
    text
}

/// The last segment of a DTMI without version: `dtmi:standard:unit:degreeCelsius;2` → `degreeCelsius`.
pub fn short_id(id: &str) -> &str {
    let last = id.rsplit(':').next().unwrap_or(id);
    last.split(';').next().unwrap_or(last)
}

/// A compact, readable rendering of a schema: `double`, `Enum<string>{heat, cool}`,
/// `Object{ok: boolean, tags: Map<string, Array<dateTime>>}`, or the DTMI of a named schema
/// defined elsewhere.
pub fn schema_text(schema: ElementRef<'_>) -> String {
    schema_text_depth(schema, 0)
}

fn schema_text_depth(schema: ElementRef<'_>, depth: usize) -> String {
    if depth > 6 {
        return "…".to_owned();
    }
    let inner = |s: Option<ElementRef<'_>>| {
        s.map(|s| schema_text_depth(s, depth + 1))
            .unwrap_or_else(|| "?".to_owned())
    };
    match schema.class() {
        "Object" => {
            let fields: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name().unwrap_or_default(), inner(f.schema())))
                .collect();
            format!("Object{{{}}}", fields.join(", "))
        }
        "Enum" => {
            let values: Vec<String> = schema
                .enum_values()
                .iter()
                .map(|v| enum_value_text(*v))
                .collect();
            format!(
                "Enum<{}>{{{}}}",
                inner(schema.value_schema()),
                values.join(", ")
            )
        }
        "Map" => format!(
            "Map<{}, {}>",
            inner(schema.map_key().and_then(|k| k.schema())),
            inner(schema.map_value().and_then(|v| v.schema()))
        ),
        "Array" => format!("Array<{}>", inner(schema.element_schema())),
        "Interface" => schema.id().to_owned(),
        class if schema.is_standard() => lower_first(class),
        class => lower_first(class),
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `name = value` of an enum value, e.g. `heat = "heat"` or `low = 1`.
pub fn enum_value_text(value: ElementRef<'_>) -> String {
    let name = value.name().unwrap_or_default();
    match value.enum_value() {
        Some(PropertyValue::String(s)) => format!("{name} = \"{s}\""),
        Some(PropertyValue::Integer(n)) => format!("{name} = {n}"),
        _ => name.to_owned(),
    }
}

fn enum_literal(value: ElementRef<'_>) -> String {
    match value.enum_value() {
        Some(PropertyValue::String(s)) => format!("\"{s}\""),
        Some(PropertyValue::Integer(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn compare_cosmetics(
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
fn lang_text(element: ElementRef<'_>, property: &str) -> Option<String> {
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

fn compare_contents(
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

fn compare_semantics(old: ElementRef<'_>, new: ElementRef<'_>, path: &str, out: &mut Vec<Change>) {
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

fn compare_payload(
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
fn compare_schema_slot(
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
fn primitive_fit(old: &str, new: &str) -> Fit {
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

fn compare_schema(
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

fn join_field(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

fn join_strings(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn compare_component(
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

fn integer(element: ElementRef<'_>, property: &str) -> Option<i64> {
    element
        .property(property)
        .into_iter()
        .find_map(|v| match v {
            PropertyValue::Integer(n) => Some(n),
            _ => None,
        })
}

fn compare_relationship(
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

#[cfg(test)]
mod tests {
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
}

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
//!
//! Here: the verdicts, changes and [`diff`]; `interface.rs` compares contents, cosmetics and
//! components, `schema.rs` schemas by direction of flow, `relationship.rs` relationships,
//! and `text.rs` renders elements and schemas for people.

mod interface;
mod relationship;
mod schema;
#[cfg(test)]
mod tests;
mod text;

use std::collections::BTreeSet;

use dtdl::ElementRef;
use serde::Serialize;

use interface::compare_interfaces;

pub use text::{content_summary, enum_value_text, schema_text, short_id};

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

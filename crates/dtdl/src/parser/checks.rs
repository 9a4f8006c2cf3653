//! Whole-model rules, checked once every definition is known: the classes and versions of
//! referenced elements, uniqueness of names (including names inherited through `extends`),
//! descendant controls (nesting depth, recursion, excluded types, counts), Enum value
//! datatypes, and the constraints extension co-types place on their elements.

use crate::fxhash::{FxHashMap, FxHashSet};

use super::{El, PropKind, Session, Val};
use crate::error::ParsingError;
use crate::metamodel::{DescendantControl, Metamodel, TermTarget};

/// An error found by a check: (source, pointer, error).
type Found = (usize, String, ParsingError);

impl Session<'_> {
    pub(crate) fn check_model(&mut self) {
        let mut found: Vec<Found> = Vec::new();
        for el in &self.elements {
            self.check_references(el, &mut found);
            self.check_unique_properties(el, &mut found);
            self.check_supplemental_constraints(el, &mut found);
            // Own content names are covered by `uniqueProperties`; inherited ones only
            // matter when the Interface extends others.
            if el.class == "Interface" && el.refs("extends").next().is_some() {
                self.check_inherited_names(el, &mut found);
            }
            if el.class == "Enum" {
                self.check_enum_values(el, &mut found);
            }
        }
        self.check_descendant_controls(&mut found);
        for (source, pointer, error) in found {
            self.error(source, pointer, error);
        }
    }

    fn check_references(&self, el: &El, found: &mut Vec<Found>) {
        let mm = Metamodel::get();
        for p in &el.props {
            match p.kind {
                PropKind::Core => {
                    let Some((pf, pv)) = p.facts else {
                        continue;
                    };
                    let Some(range) = pv.class.as_deref().or(pf.common.class.as_deref()) else {
                        continue;
                    };
                    for v in &p.values {
                        let Val::Ref {
                            target,
                            pointer,
                            inline,
                            arena_index,
                            ..
                        } = v
                        else {
                            continue;
                        };
                        let Some(t) = self.ref_target(el, target, *arena_index) else {
                            continue;
                        };
                        if !mm.is_subclass(t.class, range) {
                            found.push((
                                el.source,
                                p.value_pointer(*pointer),
                                ParsingError::new("badType")
                                    .primary(el.id.clone())
                                    .property(p.name.clone())
                                    .secondary(t.id.clone())
                                    .type_name(range),
                            ));
                            continue;
                        }
                        if self.index.contains_key(target.as_str())
                            && !mm.class(t.class).is_some_and(|c| c.partition)
                            && self.partition_of(t) != self.partition_of(el)
                        {
                            found.push((
                                el.source,
                                p.value_pointer(*pointer),
                                ParsingError::new("crossPartitionReference")
                                    .primary(el.id.clone())
                                    .property(p.name.clone())
                                    .secondary(t.id.clone())
                                    .value(target.clone()),
                            ));
                            continue;
                        }
                        // A standard alias (`...:integer;3`) stands for the element it names.
                        let aliased = crate::metamodel::unalias(target);
                        let version = if aliased == target.as_str() {
                            t.version
                        } else {
                            self.lookup(aliased).map_or(t.version, |a| a.version)
                        };
                        if !pv.versions.is_empty() && !pv.versions.contains(&version) {
                            found.push((
                                el.source,
                                p.value_pointer(*pointer),
                                ParsingError::new(if *inline {
                                    "disallowedVersionDefinition"
                                } else {
                                    "disallowedVersionReference"
                                })
                                .primary(el.id.clone())
                                .property(p.name.clone())
                                .secondary(t.id.clone())
                                .restriction(format!("{:?}", pv.versions)),
                            ));
                            continue;
                        }
                        if !pv.value_uris.is_empty()
                            && !pv
                                .value_uris
                                .iter()
                                .any(|u| u == target || u == crate::metamodel::unalias(target))
                        {
                            found.push((
                                el.source,
                                p.value_pointer(*pointer),
                                ParsingError::new("incorrectPropertyValue")
                                    .primary(el.id.clone())
                                    .property(p.name.clone())
                                    .secondary(t.id.clone())
                                    .restriction(pv.values.join(", ")),
                            ));
                        }
                    }
                }
                PropKind::Supplemental => {
                    // Several co-types may share one property DTMI (DTDL v2 `unit`); the
                    // value must suit every co-type that defines it.
                    for sp in el
                        .cotypes
                        .iter()
                        .filter_map(|t| mm.supplemental_property(t, &p.name))
                    {
                        self.check_supplemental_value(el, p, sp, found);
                    }
                }
                PropKind::Undefined => {}
            }
        }
    }

    /// The partition (nearest enclosing Interface) an element belongs to.
    fn partition_of(&self, el: &El) -> Option<usize> {
        el.partition
    }

    fn check_supplemental_value(
        &self,
        el: &El,
        p: &super::Prop,
        sp: &crate::metamodel::SupplementalProperty,
        found: &mut Vec<Found>,
    ) {
        let mm = Metamodel::get();
        let Some(type_id) = sp.type_id.as_deref() else {
            return;
        };
        if type_id.starts_with("http://") {
            return;
        }
        for v in &p.values {
            let Val::Ref {
                target, pointer, ..
            } = v
            else {
                continue;
            };
            let Some(t) = self.lookup(target) else {
                continue;
            };
            let ok = match mm.classify(type_id) {
                TermTarget::Class(c, _) => mm.is_subclass(t.class, c),
                TermTarget::Supplemental => {
                    t.cotypes.iter().any(|ct| mm.supplemental_is(ct, type_id))
                }
                _ => true,
            };
            let child_ok = sp.child_of.as_deref().is_none_or(|parent| {
                super::parent_of(&self.elements, t).is_some_and(|p| p.id == parent)
            });
            if !ok || !child_ok {
                found.push((
                    el.source,
                    p.value_pointer(*pointer),
                    ParsingError::new("badType")
                        .primary(el.id.clone())
                        .property(sp.property_name.clone())
                        .secondary(t.id.clone())
                        .type_name(sp.type_name.clone()),
                ));
            }
        }
    }

    /// `uniqueProperties`: e.g. content names, enum value names and values.
    fn check_unique_properties(&self, el: &El, found: &mut Vec<Found>) {
        for p in &el.props {
            let Some((_, pv)) = p.facts else {
                continue;
            };
            if pv.unique_properties.is_empty() {
                continue;
            }
            for unique in &pv.unique_properties {
                let mut seen: FxHashMap<LiteralKey<'_>, &str> = FxHashMap::default();
                for v in &p.values {
                    let Val::Ref {
                        target,
                        pointer,
                        arena_index,
                        ..
                    } = v
                    else {
                        continue;
                    };
                    let Some(child) = self.ref_target(el, target, *arena_index) else {
                        continue;
                    };
                    let Some(key) = child
                        .prop(unique)
                        .and_then(|cp| cp.values.first())
                        .map(literal_key)
                    else {
                        continue;
                    };
                    if let Some(first) = seen.get(&key) {
                        if *first != child.id {
                            found.push((
                                el.source,
                                p.value_pointer(*pointer),
                                ParsingError::new("nonUniquePropertyValue")
                                    .primary(el.id.clone())
                                    .property(p.name.clone())
                                    .value(key.to_string())
                                    .type_name(unique.clone()),
                            ));
                        }
                    } else {
                        seen.insert(key, &child.id);
                    }
                }
            }
        }
    }

    /// Content names must be unique across an Interface and everything it extends; the
    /// `extends` chain must be acyclic.
    fn check_inherited_names(&self, el: &El, found: &mut Vec<Found>) {
        let mut names: FxHashMap<String, String> = FxHashMap::default();
        let mut visited: FxHashSet<&str> = FxHashSet::default();
        let mut stack: Vec<&str> = vec![el.id.as_str()];
        while let Some(id) = stack.pop() {
            if !visited.insert(id) {
                continue;
            }
            let Some(iface) = self.lookup(id) else {
                continue;
            };
            for c in iface.refs("contents") {
                let Some(content) = self.lookup(c) else {
                    continue;
                };
                let Some(name) = content.str_value("name") else {
                    continue;
                };
                match names.get(name) {
                    Some(other) if other != &content.id && id != el.id => {
                        found.push((
                            el.source,
                            el.pointer.clone(),
                            ParsingError::new("nonUniqueImportedPropertyValue")
                                .primary(el.id.clone())
                                .secondary(id.to_owned())
                                .property("contents")
                                .value(name.to_owned()),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        names.insert(name.to_owned(), content.id.clone());
                    }
                }
            }
            for parent in iface.refs("extends") {
                stack.push(parent);
            }
        }
    }

    /// EnumValue `enumValue` literals must match the Enum's `valueSchema`.
    fn check_enum_values(&self, el: &El, found: &mut Vec<Found>) {
        let Some(schema) = el.refs("valueSchema").next() else {
            return;
        };
        let wants_int = schema.contains(":Schema:integer;");
        let wants_str = schema.contains(":Schema:string;");
        if !wants_int && !wants_str {
            return;
        }
        for v in el.refs("enumValues") {
            let Some(ev) = self.lookup(v) else { continue };
            let Some(prop) = ev.prop("enumValue") else {
                continue;
            };
            for val in &prop.values {
                // An integer enum value is a 32-bit integer.
                let ok = match (val, wants_int) {
                    (Val::Int(i), true) => i32::try_from(*i).is_ok(),
                    (Val::Str(_), false) => true,
                    _ => false,
                };
                if !ok {
                    found.push((
                        ev.source,
                        prop.pointer.clone(),
                        ParsingError::new("nonConformantDatatype")
                            .primary(ev.id.clone())
                            .property("enumValue")
                            .secondary(el.id.clone())
                            .type_name(schema.to_owned()),
                    ));
                }
            }
        }
    }

    /// Constraints and sibling rules of extension co-types.
    fn check_supplemental_constraints(&self, el: &El, found: &mut Vec<Found>) {
        let mm = Metamodel::get();
        for t in &el.cotypes {
            let Some(st) = mm.facts.supplemental_types.get(t) else {
                continue;
            };
            // Constraints are inherited from the co-type's ancestors.
            let mut constraints = Vec::new();
            let mut cur = Some(t.as_str());
            for _ in 0..16 {
                let Some(anc) = cur.and_then(|c| mm.facts.supplemental_types.get(c)) else {
                    break;
                };
                constraints.extend(anc.constraints.iter());
                cur = anc.parent.as_deref();
            }
            for c in constraints {
                let Some(prop) = c.get("property").and_then(|v| v.as_str()) else {
                    continue;
                };
                let Some(required) = c.get("requiredTypes").and_then(|v| v.as_array()) else {
                    continue;
                };
                if c.get("inverse").and_then(|v| v.as_bool()).unwrap_or(false) {
                    continue;
                }
                for target in el.refs(prop) {
                    let Some(te) = self.lookup(target) else {
                        continue;
                    };
                    let ok =
                        required
                            .iter()
                            .filter_map(|r| r.as_str())
                            .any(|r| match mm.classify(r) {
                                TermTarget::Class(c, _) => mm.is_subclass(te.class, c),
                                _ => te.cotypes.iter().any(|ct| mm.supplemental_is(ct, r)),
                            });
                    if !ok {
                        found.push((
                            el.source,
                            el.pointer.clone(),
                            ParsingError::new("notRequiredType")
                                .primary(el.id.clone())
                                .property(prop)
                                .secondary(te.id.clone())
                                .type_name(t.clone()),
                        ));
                    }
                }
            }
            for co in &st.cocotypes {
                if !el.cotypes.iter().any(|x| x == co) {
                    found.push((
                        el.source,
                        el.pointer.clone(),
                        ParsingError::new("missingCocotype")
                            .primary(el.id.clone())
                            .type_name(t.clone())
                            .restriction(co.clone()),
                    ));
                }
            }
            for dis in &st.discotypes {
                if el.cotypes.iter().any(|x| x == dis) {
                    found.push((
                        el.source,
                        el.pointer.clone(),
                        ParsingError::new("disallowedCocotype")
                            .primary(el.id.clone())
                            .type_name(t.clone())
                            .restriction(dis.clone()),
                    ));
                }
            }
            for sib in &st.siblings {
                self.check_sibling_rule(el, t, sib, found);
            }
        }
    }

    /// A sibling rule: the value of `keyref` (on this element) must name (`key`) a sibling
    /// element within the same parent property that has one of `requiredTypes`.
    fn check_sibling_rule(
        &self,
        el: &El,
        t: &str,
        rule: &serde_json::Value,
        found: &mut Vec<Found>,
    ) {
        let mm = Metamodel::get();
        let (Some(key), Some(keyref)) = (
            rule.get("key").and_then(|v| v.as_str()),
            rule.get("keyref").and_then(|v| v.as_str()),
        ) else {
            return;
        };
        let Some(required) = rule.get("requiredTypes").and_then(|v| v.as_array()) else {
            return;
        };
        let Some(value) = el
            .props
            .iter()
            .find(|p| p.kind == PropKind::Supplemental && p.name == keyref)
            .and_then(|p| p.values.first())
        else {
            return;
        };
        let Val::Str(wanted) = value else { return };
        let Some((_, parent_prop)) = el.parent else {
            return;
        };
        let Some(parent) = super::parent_of(&self.elements, el) else {
            return;
        };
        // An Interface's siblings include the contents it inherits through `extends`.
        let mut holders = vec![parent];
        if parent.class == "Interface" && parent_prop == "contents" {
            let mut i = 0;
            while let Some(h) = holders.get(i).copied() {
                i += 1;
                for base in h.refs("extends").filter_map(|b| self.lookup(b)) {
                    if holders.len() < 1024 && !holders.iter().any(|x| x.id == base.id) {
                        holders.push(base);
                    }
                }
            }
        }
        let sibling = holders
            .iter()
            .flat_map(|h| h.refs(parent_prop))
            .filter_map(|s| self.lookup(s))
            .find(|s| s.id != el.id && s.str_value(key) == Some(wanted.as_str()));
        let ok = sibling.is_some_and(|s| {
            required
                .iter()
                .filter_map(|r| r.as_str())
                .any(|r| match mm.classify(r) {
                    TermTarget::Class(c, v) => v == s.version && mm.is_subclass(s.class, c),
                    _ => false,
                })
        });
        if !ok {
            found.push((
                el.source,
                el.pointer.clone(),
                ParsingError::new("notSiblingRequiredType")
                    .primary(el.id.clone())
                    .property(keyref.to_owned())
                    .value(wanted.clone())
                    .type_name(t.to_owned()),
            ));
        }
    }

    fn check_descendant_controls(&self, found: &mut Vec<Found>) {
        let mm = Metamodel::get();
        // One set of traversal tables for every walk, cleared in between, so that each walk
        // does not allocate and regrow its own.
        let mut scratch = Walk::default();
        for el in &self.elements {
            for &i in mm.controls_for(el.version, el.class) {
                let control = &mm.facts.descendant_controls[i];
                // Every path from a schema nested inline in another schema is part of a path
                // from the outermost one, so wide controls start at outermost schemas only.
                if !control.narrow && el.in_schema {
                    continue;
                }
                // A narrow control over properties the element does not use has nothing to do.
                if control.narrow
                    && !el.props.iter().any(|p| {
                        p.kind == PropKind::Core && control.properties.iter().any(|c| c == &p.name)
                    })
                {
                    continue;
                }
                self.walk_control(el, control, &mut scratch, found);
            }
        }
    }

    fn walk_control(
        &self,
        root: &El,
        control: &DescendantControl,
        scratch: &mut Walk,
        found: &mut Vec<Found>,
    ) {
        /// Depth-first traversal steps; `Exit` takes an element off the current path.
        enum Frame<'a> {
            Enter(&'a El, u64),
            Exit(&'a El),
        }
        let mm = Metamodel::get();
        let max_depth = Metamodel::limit(&control.max_depth, root.limits);
        let max_count = Metamodel::limit(&control.max_count, root.limits);
        // A pure count limit cannot be exceeded by a model with fewer elements than it
        // allows (standard elements included, generously).
        if max_depth.is_none()
            && control.allow_self
            && control.exclude_type.is_none()
            && max_count.is_some_and(|m| (self.elements.len() + 1024) as u64 <= m)
        {
            return;
        }
        let Walk {
            best,
            counted,
            on_path,
        } = scratch;
        best.clear();
        counted.clear();
        on_path.clear();
        let mut stack = vec![Frame::Enter(root, if control.narrow { 0 } else { 1 })];
        let mut reported = false;
        while let Some(frame) = stack.pop() {
            let (node, depth) = match frame {
                Frame::Exit(el) => {
                    on_path.remove(&element_key(el));
                    continue;
                }
                Frame::Enter(node, depth) => (node, depth),
            };
            on_path.insert(element_key(node));
            stack.push(Frame::Exit(node));
            for p in &node.props {
                if p.kind != PropKind::Core
                    || (control.narrow && !control.properties.iter().any(|c| c == &p.name))
                {
                    continue;
                }
                let prop: &str = &p.name;
                for v in &p.values {
                    let Val::Ref {
                        target,
                        inline,
                        arena_index,
                        ..
                    } = v
                    else {
                        continue;
                    };
                    let Some(child) = self.ref_target(node, target, *arena_index) else {
                        continue;
                    };
                    let key = element_key(child);
                    if on_path.contains(&key) {
                        if !control.allow_self && !reported {
                            let vid = if control.narrow {
                                "recursiveStructureNarrow"
                            } else {
                                "recursiveStructureWide"
                            };
                            found.push((
                                root.source,
                                root.pointer.clone(),
                                ParsingError::new(vid)
                                    .primary(root.id.clone())
                                    .property(prop),
                            ));
                            reported = true;
                        }
                        continue;
                    }
                    if let Some(ex) = &control.exclude_type
                        && !reported
                        && mm.is_subclass(child.class, ex)
                    {
                        found.push((
                            root.source,
                            root.pointer.clone(),
                            ParsingError::new("excludedType")
                                .primary(root.id.clone())
                                .property(prop)
                                .secondary(child.id.clone())
                                .type_name(ex.clone()),
                        ));
                        reported = true;
                    }
                    // Nesting depth counts inline definitions; a referenced schema is
                    // measured on its own (but is still followed, to find recursion).
                    let counts = u64::from(mm.is_subclass(child.class, &control.defining_class));
                    let child_depth = if control.narrow {
                        depth + 1
                    } else if *inline {
                        depth + counts
                    } else {
                        counts
                    };
                    // A schema only nests deeper when something is reached through it, so a
                    // leaf (an Object without fields) at the limit's next level is no excess.
                    let descends = || {
                        control.narrow
                            || child.props.iter().any(|cp| {
                                cp.kind == PropKind::Core
                                    && control.properties.iter().any(|c| c == &cp.name)
                                    && cp.values.iter().any(|v| matches!(v, Val::Ref { .. }))
                            })
                    };
                    if let Some(max) = max_depth
                        && child_depth > max
                        && descends()
                    {
                        if !reported {
                            let vid = if control.narrow {
                                "excessiveDepthNarrow"
                            } else {
                                "excessiveDepthWide"
                            };
                            found.push((
                                root.source,
                                root.pointer.clone(),
                                ParsingError::new(vid)
                                    .primary(root.id.clone())
                                    .property(prop)
                                    .secondary(child.id.clone())
                                    .restriction(max.to_string()),
                            ));
                            reported = true;
                        }
                        continue;
                    }
                    counted.insert(key);
                    if best.get(&key).is_some_and(|b| *b >= child_depth) {
                        continue;
                    }
                    best.insert(key, child_depth);
                    stack.push(Frame::Enter(child, child_depth));
                }
            }
        }
        if let Some(max) = max_count
            && counted.len() as u64 > max
        {
            found.push((
                root.source,
                root.pointer.clone(),
                ParsingError::new("excessiveCount")
                    .primary(root.id.clone())
                    .restriction(max.to_string())
                    .value(counted.len().to_string()),
            ));
        }
    }
}

/// Tables of one descendant-control walk, keyed by element (see [`element_key`]).
#[derive(Default)]
struct Walk {
    /// Deepest depth each element was entered at.
    best: FxHashMap<*const El, u64>,
    /// Elements counted towards the control's count limit.
    counted: FxHashSet<*const El>,
    /// Elements on the current path from the root (for recursion).
    on_path: FxHashSet<*const El>,
}

/// An element's identity during a walk: its address. Every identifier resolves to exactly
/// one element (parsed or standard), so equal addresses mean equal identifiers, and the
/// address hashes as one word instead of a DTMI string.
fn element_key(el: &El) -> *const El {
    std::ptr::from_ref(el)
}

/// A literal value as a hashable key (numbers by their bit pattern).
#[derive(Hash, PartialEq, Eq)]
enum LiteralKey<'a> {
    Text(&'a str),
    Integer(i64),
    Number(u64),
    Boolean(bool),
    Other(String),
}

impl std::fmt::Display for LiteralKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiteralKey::Text(s) => f.write_str(s),
            LiteralKey::Integer(n) => write!(f, "{n}"),
            LiteralKey::Number(bits) => write!(f, "{}", f64::from_bits(*bits)),
            LiteralKey::Boolean(b) => write!(f, "{b}"),
            LiteralKey::Other(s) => f.write_str(s),
        }
    }
}

fn literal_key(v: &Val) -> LiteralKey<'_> {
    match v {
        Val::Str(s) => LiteralKey::Text(s),
        Val::Int(n) => LiteralKey::Integer(*n),
        Val::Num(n) => LiteralKey::Number(n.to_bits()),
        Val::Bool(b) => LiteralKey::Boolean(*b),
        Val::Ref { target, .. } => LiteralKey::Text(target),
        Val::Lang(l) => LiteralKey::Other(format!("{l:?}")),
        Val::Json(j) => LiteralKey::Other(j.to_string()),
    }
}

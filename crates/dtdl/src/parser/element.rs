//! Walking one DTDL element (a JSON object): its `@context`, `@type` (material class plus
//! supplemental co-types, classified in `types`), `@id` (explicit or generated, see
//! `identifiers`), and every property, dispatched on the metamodel's (class, version) →
//! property table to `core_property` or `supplemental`. Literal values are checked in
//! `values`; references and inline children are recorded for the whole-model checks in
//! `checks`.

use std::borrow::Cow;

use super::json::{Json as Value, Obj};

use super::identifiers::{generated_id, is_valid_identifier};
use super::scope::{Resolution, Scope, apply_context};
use super::supplemental::has_property;
use super::types::{TypeAt, apocrypha_ok, extended_class};
use super::{El, Prop, PropKind, Session, Val, Vals};
use crate::error::ParsingError;
use crate::metamodel::{Metamodel, TermTarget, vkey};

/// What the enclosing property expects of an element.
#[derive(Clone, Debug, Default)]
pub(crate) struct Range<'a> {
    /// Expected class (abstract or concrete), e.g. `Schema`; `Interface` at top level.
    pub class: &'a str,
    /// A supplemental type the element must carry instead (extension property ranges).
    pub supplemental: Option<String>,
    pub id_required: bool,
    pub type_required: bool,
}

/// Where an element sits.
pub(crate) struct Site<'a> {
    pub parent_id: Option<&'a str>,
    pub parent_class: Option<&'a str>,
    pub property: Option<&'static str>,
    /// Value of the parent property's segment property (e.g. the child's `name`), for ids.
    pub segment: Option<&'a str>,
    pub range: Range<'a>,
    pub top_level: bool,
}

impl Session<'_> {
    /// Walks one element object; returns its identifier (explicit or generated) when the
    /// element could be registered.
    pub(crate) fn walk_element(
        &mut self,
        source: usize,
        ptr: &str,
        obj: &Obj<'_>,
        parent_scope: &Scope,
        site: &Site<'_>,
    ) -> Option<String> {
        let mm = Metamodel::get();
        // Most elements inherit their contexts unchanged; only a nested @context makes a new
        // scope.
        let owned_scope;
        let scope: &Scope = match obj.get("@context") {
            Some(ctx) => {
                owned_scope = apply_context(
                    self,
                    source,
                    &super::join(ptr, "@context"),
                    ctx,
                    parent_scope,
                    site.top_level,
                )?;
                &owned_scope
            }
            None if site.top_level => {
                self.error(source, ptr, ParsingError::new("missingContext"));
                return None;
            }
            None => parent_scope,
        };
        if scope.version == 0 {
            return None;
        }
        let version = scope.version;
        let restricts_keywords = mm
            .facts
            .dtdl_versions_restricting_keywords
            .contains(&version);

        // @id (read first so that errors below can name the element).
        let explicit_id = match obj.get("@id") {
            None => None,
            Some(Value::String(t)) => Some(t.as_ref()),
            Some(_) => {
                self.error(
                    source,
                    format!("{ptr}/@id"),
                    ParsingError::new("idNotString"),
                );
                return None;
            }
        };

        // @type.
        let mut class: Option<&'static str> = None;
        let mut cotypes: Vec<String> = Vec::new();
        let mut undefined_types: Vec<String> = Vec::new();
        let mut type_errors = false;
        let display_id = explicit_id.map(str::to_owned).or_else(|| {
            site.parent_id
                .map(|p| generated_id(p, site.property.unwrap_or_default(), site.segment))
        });
        let pid: &str = display_id.as_deref().unwrap_or_default();
        // A top-level element must name a rootable class among its types; this is judged
        // before the types themselves, so an unknown type at top level is not rootable.
        // At top level the identifier must be present and the type rootable before anything
        // else is judged; elsewhere the identifier's syntax comes before the types.
        if site.top_level && explicit_id.is_none() && !self.building_standard {
            self.error(
                source,
                ptr,
                ParsingError::new("missingTopLevelId").property("@id"),
            );
            return None;
        }
        if site.top_level
            && !self.building_standard
            && !obj
                .get("@type")
                .is_some_and(|types| names_rootable_class(types, scope))
        {
            self.error(
                source,
                super::join(ptr, "@type"),
                ParsingError::new("typeNotRootable")
                    .value(pid)
                    .type_name("'Interface'"),
            );
            return None;
        }
        if let Some(text) = explicit_id
            && !is_valid_identifier(text, version)
        {
            self.error(
                source,
                format!("{ptr}/@id"),
                ParsingError::new("invalidId")
                    .value(text)
                    .restriction(format!("DTDL v{version} identifier")),
            );
            return None;
        }
        if !self.building_standard && !site.top_level {
            // A required identifier is missed before the types are judged.
            if explicit_id.is_none() && site.range.id_required {
                let mut e =
                    ParsingError::new("missingRequiredId").property(site.property.unwrap_or("@id"));
                if let Some(p) = site.parent_id {
                    e = e.primary(p);
                }
                self.error(source, ptr, e);
                return None;
            }
            // Two material classes, one of which the property does not take: the value is of
            // the wrong type for its property.
            if let (Some(parent), Some(types @ Value::Array(items))) =
                (site.parent_id, obj.get("@type"))
                && items.len() > 1
                && site.range.supplemental.is_none()
            {
                let classes = material_classes(types, scope);
                if classes.len() > 1 && classes.iter().any(|c| !mm.is_subclass(c, site.range.class))
                {
                    self.error(
                        source,
                        super::join(ptr, "@type"),
                        ParsingError::new("badType")
                            .primary(parent)
                            .secondary(pid)
                            .property(site.property.unwrap_or_default())
                            .type_name(site.range.class),
                    );
                    return None;
                }
            }
        }
        if let Some(text) = explicit_id
            && !self.building_standard
            && !self.tolerates_solecisms(source, version)
            && self.is_reserved_id(text, scope)
        {
            self.error(
                source,
                format!("{ptr}/@id"),
                ParsingError::new("reservedId")
                    .value(text)
                    .restriction("reserved prefix"),
            );
            return None;
        }
        // In DTDL v2 a class name of a later version (`CommandRequest`) is no undefined
        // co-type: the element is not of the type its property needs.
        if version == 2
            && !self.building_standard
            && let Some(term) = obj.get("@type").and_then(|t| later_class_term(t, scope))
        {
            let mut e = ParsingError::new("badType").secondary(pid).value(term);
            if let Some(parent) = site.parent_id {
                e = e
                    .primary(parent)
                    .property(site.property.unwrap_or_default());
            }
            self.error(source, super::join(ptr, "@type"), e);
            return None;
        }
        match obj.get("@type") {
            None => {}
            Some(Value::String(t)) => {
                type_errors |= !self.classify_type(
                    source,
                    TypeAt(ptr, None),
                    t,
                    scope,
                    pid,
                    &mut class,
                    &mut cotypes,
                    &mut undefined_types,
                );
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(t) => {
                            type_errors |= !self.classify_type(
                                source,
                                TypeAt(ptr, Some(i)),
                                t,
                                scope,
                                pid,
                                &mut class,
                                &mut cotypes,
                                &mut undefined_types,
                            );
                        }
                        _ => {
                            self.error(
                                source,
                                TypeAt(ptr, Some(i)).render(),
                                ParsingError::new("typeNotDtmiNorTerm")
                                    .primary(pid)
                                    .value(item.to_string()),
                            );
                            type_errors = true;
                        }
                    }
                }
            }
            Some(other) => {
                // A @type that is neither a string nor an array gives the element no type: the
                // enclosing property then holds a value of the wrong type.
                let e = match site.parent_id {
                    Some(parent) => ParsingError::new("badType")
                        .primary(parent)
                        .secondary(pid)
                        .property(site.property.unwrap_or_default())
                        .type_name(site.range.class),
                    // At top level the element cannot be an Interface.
                    None => ParsingError::new("typeNotRootable")
                        .value(other.to_string())
                        .type_name("Interface"),
                };
                self.error(source, super::join(ptr, "@type"), e);
                return None;
            }
        }
        if type_errors {
            return None;
        }
        let range_class = site.range.class;
        // Extension types of extensible material classes (units, semantic unit kinds) carry
        // their material class through their parent chain.
        let class = class.or_else(|| cotypes.iter().find_map(|t| extended_class(t, version)));
        let class = match class {
            Some(c) => c,
            None if obj.contains_key("@type") => {
                // Only co-types and no class: the value is not an element of the needed type.
                let e = match site.parent_id {
                    Some(parent) => ParsingError::new("badType")
                        .primary(parent)
                        .secondary(pid)
                        .property(site.property.unwrap_or_default())
                        .type_name(range_class),
                    None => ParsingError::new("noTypeThatAllows")
                        .primary(pid)
                        .type_name(range_class),
                };
                self.error(source, super::join(ptr, "@type"), e);
                return None;
            }
            None => {
                // No material type given: infer it where the language allows.
                let inferred = mm.class(range_class).and_then(|rc| {
                    let subs = rc.concrete_subclasses.get(vkey(version))?;
                    let optional: Vec<&String> = subs
                        .iter()
                        .filter(|c| {
                            mm.class(c)
                                .is_some_and(|k| k.type_optional_versions.contains(&version))
                        })
                        .collect();
                    match (optional.as_slice(), site.range.type_required) {
                        ([one], _) => Some(one.as_str()),
                        _ if !site.range.type_required && subs.len() == 1 => Some(subs[0].as_str()),
                        _ => None,
                    }
                });
                match inferred {
                    Some(c) => c,
                    None => {
                        // Without a type the value cannot be the element the property needs.
                        let e = match site.parent_id {
                            Some(parent) => ParsingError::new("badType")
                                .primary(parent)
                                .secondary(pid)
                                .property(site.property.unwrap_or_default())
                                .type_name(range_class),
                            None => ParsingError::new("missingTypeInfo")
                                .primary(pid)
                                .type_name(range_class),
                        };
                        self.error(source, ptr, e);
                        return None;
                    }
                }
            }
        };
        // The class facts, looked up once for the checks below and the property dispatch.
        let class_facts = mm.class(class);
        if site.top_level && !class_facts.is_some_and(|c| c.rootable) {
            self.error(
                source,
                format!("{ptr}/@type"),
                ParsingError::new("typeNotRootable")
                    .value(pid)
                    .type_name("'Interface'"),
            );
            return None;
        }
        if !site.top_level
            && site.range.supplemental.is_none()
            && !mm.is_subclass(class, range_class)
        {
            self.error(
                source,
                format!("{ptr}/@type"),
                ParsingError::new("badType")
                    .primary(site.parent_id.unwrap_or_default())
                    .secondary(pid)
                    .property(site.property.unwrap_or_default())
                    .type_name(range_class),
            );
            return None;
        }
        // Co-types must be allowed with the material class.
        for t in &cotypes {
            let Some(st) = mm.facts.supplemental_types.get(t) else {
                continue;
            };
            if extended_class(t, version).is_some() {
                continue;
            }
            if st.is_abstract {
                self.error(
                    source,
                    format!("{ptr}/@type"),
                    ParsingError::new("abstractSupplementalType")
                        .primary(pid)
                        .type_name(t.clone()),
                );
                type_errors = true;
            } else if !st.cotypes.iter().any(|c| mm.is_subclass(class, c))
                || !st.cotype_versions.contains(&version)
            {
                self.error(
                    source,
                    format!("{ptr}/@type"),
                    ParsingError::new("invalidCotype")
                        .primary(pid)
                        .type_name(t.clone())
                        .restriction(class),
                );
                type_errors = true;
            }
        }
        if type_errors {
            return None;
        }

        // Identifier.
        match explicit_id {
            Some(text) => {
                let max = mm
                    .facts
                    .identifier_definition
                    .get(if class == "Interface" {
                        "Interface"
                    } else {
                        ""
                    })
                    .and_then(|v| v.get(vkey(version)))
                    .and_then(|v| v.get("maxLength"))
                    .and_then(|m| m.get(scope.limits).or_else(|| m.get("")))
                    .and_then(serde_json::Value::as_u64)
                    .or_else(|| {
                        mm.facts
                            .identifier_definition
                            .get(vkey(version))
                            .and_then(|v| v.get("maxLength"))
                            .and_then(|m| m.get(scope.limits).or_else(|| m.get("")))
                            .and_then(serde_json::Value::as_u64)
                    })
                    .unwrap_or(2048);
                // The syntax and reserved prefixes were judged before the types.
                if text.chars().count() as u64 > max {
                    let name = if class == "Interface" {
                        "idTooLongForType"
                    } else {
                        "idTooLong"
                    };
                    self.error(
                        source,
                        format!("{ptr}/@id"),
                        ParsingError::new(name)
                            .value(text)
                            .type_name(class)
                            .restriction(max.to_string()),
                    );
                    return None;
                }
            }
            None => {
                let required = site.range.id_required
                    || class_facts.is_some_and(|c| {
                        c.id_required_versions.contains(&version)
                            || c.id_required_when.get(vkey(version)).is_some_and(|w| {
                                w.iter().any(|cp| {
                                    Some(cp.class.as_str()) == site.parent_class
                                        && Some(cp.property.as_str()) == site.property
                                })
                            })
                    });
                if required {
                    let name = if site.top_level {
                        "missingTopLevelId"
                    } else {
                        "missingRequiredId"
                    };
                    let mut e = ParsingError::new(name).property(site.property.unwrap_or("@id"));
                    if let Some(p) = site.parent_id {
                        e = e.primary(p);
                    }
                    self.error(source, ptr, e);
                    return None;
                }
            }
        }
        // The explicit or generated identifier, validated above.
        let id: String = display_id?;

        let el_index = self.elements.len();
        if self.index.contains_key(&id) {
            if explicit_id.is_some() {
                self.error(
                    source,
                    format!("{ptr}/@id"),
                    ParsingError::new("duplicateDefinition").primary(id.clone()),
                );
            } else if !self.tolerates_solecisms(source, version) {
                // Two siblings with the same name generate the same identifier.
                let mut e = ParsingError::new("nonUniquePropertyValue")
                    .property(site.property.unwrap_or_default())
                    .value(site.segment.unwrap_or_default())
                    .type_name("name");
                if let Some(p) = site.parent_id {
                    e = e.primary(p);
                }
                self.error(source, ptr, e);
            }
            return None;
        }
        self.index.insert(id.clone(), el_index);
        let parent_index = site.parent_id.and_then(|p| self.index.get(p)).copied();
        let parent_el = parent_index.and_then(|i| self.elements.get(i));
        let partition = if class_facts.is_some_and(|c| c.partition) {
            Some(el_index)
        } else {
            parent_el.and_then(|parent| parent.partition)
        };
        let in_schema = parent_el.is_some_and(|parent| {
            parent.in_schema || mm.is_subclass(parent.class, "ComplexSchema")
        });
        self.elements.push(El {
            id: id.clone(),
            class,
            version,
            cotypes,
            undefined_types,
            source,
            pointer: ptr.to_owned(),
            explicit_id: explicit_id.is_some(),
            limits: scope.limits,
            props: Vec::new(),
            parent: parent_index.map(|i| (i, site.property.unwrap_or_default())),
            standard: self.building_standard,
            partition,
            in_schema,
        });

        // Properties.
        let mut props: Vec<Prop> = Vec::with_capacity(obj.len());
        let core_properties = mm.core_properties(version, class);
        let vkey = vkey(version);
        let has_apocryphal_type = !self.elements[el_index].undefined_types.is_empty();
        let cotypes = self.elements[el_index].cotypes.clone();
        for (key, value) in obj {
            if key.starts_with('@') {
                // The pointer is only needed for the errors below, not for `@id`/`@type`.
                let kp = || super::join(ptr, key);
                match key {
                    "@id" | "@type" | "@context" => {}
                    // Misplaced keywords make the object an invalid value of the enclosing
                    // property, so they are reported on the parent where there is one.
                    "@graph" => {
                        let (owner, prop) = site
                            .parent_id
                            .map_or((id.as_str(), key), |p| (p, site.property.unwrap_or(key)));
                        self.error(
                            source,
                            kp(),
                            ParsingError::new("graphDisallowed")
                                .primary(owner)
                                .property(prop),
                        );
                    }
                    _ if restricts_keywords => {
                        let (owner, prop) = site
                            .parent_id
                            .map_or((id.as_str(), key), |p| (p, site.property.unwrap_or(key)));
                        self.error(
                            source,
                            kp(),
                            ParsingError::new("keywordDisallowed")
                                .primary(owner)
                                .property(prop)
                                .value(key),
                        );
                    }
                    _ => {}
                }
                continue;
            }
            let kp = super::join(ptr, key);
            self.current_version = version;
            // Fast path: a core property named by a DTDL-context term or its DTMI, unless an
            // extension context in force redefines the term.
            let shadowed = version != 2
                && !scope.extensions.is_empty()
                && scope.extensions.iter().any(|c| {
                    mm.facts
                        .contexts
                        .get(*c)
                        .is_some_and(|m| m.contains_key(key))
                });
            let fast = if shadowed {
                None
            } else {
                core_properties.and_then(|t| t.get(key))
            };
            let term = match fast {
                Some(_) => Resolution::Undefined,
                None => scope.resolve(key),
            };
            let mut target: Option<(PropKind, Cow<'static, str>)> =
                fast.map(|cp| (PropKind::Core, Cow::Borrowed(cp.name)));
            let mut category = "irrelevantDtmiOrTerm";
            match &term {
                _ if target.is_some() => {}
                Resolution::Dtmi(d) => match mm.classify(d) {
                    TermTarget::Property(name, v)
                        if v == version
                            && class_facts
                                .and_then(|c| c.properties.get(name))
                                .and_then(|p| p.versions.get(vkey))
                                .is_some_and(|pv| pv.allowed) =>
                    {
                        target = Some((PropKind::Core, Cow::Borrowed(name)));
                    }
                    TermTarget::SupplementalProperty => {
                        // The property DTMI as a `'static` key of the metamodel.
                        if let Some((pid, owner)) = mm.supplemental_property_owner.get_key_value(*d)
                            && cotypes.iter().any(|t| {
                                t == owner || mm.supplemental_is(t, owner) || has_property(t, d)
                            })
                        {
                            target = Some((PropKind::Supplemental, Cow::Borrowed(pid.as_str())));
                        }
                    }
                    _ => {}
                },
                Resolution::Undefined => category = "undefinedTerm",
                Resolution::InvalidDtmi => category = "invalidDtmi",
                Resolution::NotDtmiNorTerm => category = "notDtmiNorTerm",
            }
            let Some((kind, name)) = target else {
                let tolerable = apocrypha_ok(version, &format!("{category}AsProperty"), scope);
                if !(tolerable && has_apocryphal_type) {
                    // A tolerable property still needs an undefined co-type to belong to.
                    let vid = match category {
                        // With no @type written, the inferred class is what does not allow it.
                        _ if tolerable && !obj.contains_key("@type") => "inferredTypeDoesNotAllow",
                        _ if tolerable => "noTypeThatAllows",
                        "undefinedTerm" => "propertyUndefinedTerm",
                        "invalidDtmi" => "propertyInvalidDtmi",
                        "notDtmiNorTerm" => "propertyNotDtmiNorTerm",
                        _ => "propertyIrrelevantDtmiOrTerm",
                    };
                    self.error(
                        source,
                        kp,
                        ParsingError::new(vid).primary(id.clone()).property(key),
                    );
                } else {
                    props.push(Prop {
                        name: Cow::Owned(key.to_owned()),
                        kind: PropKind::Undefined,
                        values: Vals::One(Val::Json(value.to_value())),
                        pointer: kp,
                        facts: None,
                    });
                }
                continue;
            };
            if props.iter().any(|p| p.kind == kind && p.name == name) {
                self.error(
                    source,
                    kp,
                    ParsingError::new("duplicatePropertyName")
                        .primary(id.clone())
                        .property(key),
                );
                continue;
            }
            let mut facts = None;
            let values = match kind {
                PropKind::Core => {
                    let (pf, pv) = match fast {
                        Some(cp) => (cp.facts, cp.version),
                        None => {
                            let Some(pf) =
                                class_facts.and_then(|c| c.properties.get(name.as_ref()))
                            else {
                                continue;
                            };
                            let Some(pv) = pf.versions.get(vkey) else {
                                continue;
                            };
                            (pf, pv)
                        }
                    };
                    facts = Some((pf, pv));
                    // Core property names are metamodel keys.
                    let Cow::Borrowed(static_name) = name else {
                        continue;
                    };
                    self.core_property(
                        source,
                        &kp,
                        &id,
                        class,
                        static_name,
                        pf,
                        pv,
                        value,
                        scope,
                        obj,
                    )
                }
                PropKind::Supplemental => {
                    self.supplemental_property(source, &kp, &id, class, &name, value, scope)
                }
                PropKind::Undefined => Vals::Empty,
            };
            props.push(Prop {
                name,
                kind,
                values,
                pointer: kp,
                facts,
            });
        }

        // Required properties.
        for (name, _min, literal) in mm.required_for(version, class) {
            if !props
                .iter()
                .any(|p| p.kind == PropKind::Core && &p.name == name)
            {
                let vid = if *literal {
                    "missingLiteralProperty"
                } else {
                    "missingObjectProperty"
                };
                self.error(
                    source,
                    ptr,
                    ParsingError::new(vid)
                        .primary(id.clone())
                        .property(name.clone()),
                );
            }
        }
        for t in &cotypes {
            let Some(st) = mm.facts.supplemental_types.get(t) else {
                continue;
            };
            let mut pids: Vec<&String> = st.properties.keys().collect();
            pids.sort();
            for pid in pids {
                let sp = &st.properties[pid];
                let min = sp.min_count.unwrap_or(if sp.optional { 0 } else { 1 });
                if min > 0
                    && !props
                        .iter()
                        .any(|p| p.kind == PropKind::Supplemental && &p.name == pid)
                {
                    self.error(
                        source,
                        ptr,
                        ParsingError::new("missingSupplementalLiteralProperty")
                            .primary(id.clone())
                            .property(sp.property_name.clone())
                            .type_name(t.clone()),
                    );
                }
            }
        }
        self.elements[el_index].props = props;
        Some(id)
    }

    /// DTDL version of the element whose properties are being read.
    pub(crate) fn version_of(&self, _source: usize) -> u8 {
        self.current_version
    }
}

/// Whether an `@type` value names (as a term or DTMI) a class that may stand at top level.
fn names_rootable_class(types: &Value<'_>, scope: &Scope) -> bool {
    let mm = Metamodel::get();
    let rootable = |t: &Value<'_>| {
        let Some(text) = t.as_str() else {
            return false;
        };
        match scope.resolve(text) {
            Resolution::Dtmi(d) => matches!(
                mm.classify(d),
                TermTarget::Class(c, v) if v == scope.version
                    && mm.class(c).is_some_and(|k| k.rootable)
            ),
            _ => false,
        }
    };
    match types {
        Value::Array(items) => items.iter().any(rootable),
        other => rootable(other),
    }
}

/// The first `@type` entry that is a bare term undefined in the scope but the name of a
/// material class that only later DTDL versions have.
fn later_class_term<'v>(types: &'v Value<'_>, scope: &Scope) -> Option<&'v str> {
    let mm = Metamodel::get();
    let later = |t: &'v Value<'_>| {
        let text = t.as_str()?;
        (scope.resolve(text) == Resolution::Undefined
            && mm
                .class(text)
                .is_some_and(|c| !c.dtdl_versions.contains(&scope.version)))
        .then_some(text)
    };
    match types {
        Value::Array(items) => items.iter().find_map(later),
        other => later(other),
    }
}

/// The distinct material classes of this DTDL version an `@type` value names.
fn material_classes(types: &Value<'_>, scope: &Scope) -> Vec<&'static str> {
    let mm = Metamodel::get();
    let one = |t: &Value<'_>| match scope.resolve(t.as_str()?) {
        Resolution::Dtmi(d) => match mm.classify(d) {
            TermTarget::Class(c, v) if v == scope.version => Some(c),
            _ => None,
        },
        _ => None,
    };
    let mut out: Vec<&'static str> = match types {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    };
    out.sort_unstable();
    out.dedup();
    out
}

//! Walking one DTDL element (a JSON object): its `@context`, `@type` (material class plus
//! supplemental co-types), `@id` (explicit or generated), and every property, dispatched on the
//! metamodel's (class, version) → property table. Literal values are checked in `values`;
//! references and inline children are recorded for the whole-model checks in `checks`.

use std::borrow::Cow;

use super::json::{Json as Value, Obj};

use super::scope::{Resolution, Scope, apply_context};
use super::values;
use super::{El, Prop, PropKind, Session, Val, Vals};
use crate::dtmi::Dtmi;
use crate::error::ParsingError;
use crate::metamodel::{Metamodel, PropertyFacts, PropertyVersion, TermTarget, vkey};

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

fn apocrypha_ok(version: u8, key: &str, scope: &Scope) -> bool {
    let mm = Metamodel::get();
    match mm
        .facts
        .apocrypha
        .get(vkey(version))
        .and_then(|m| m.get(key))
        .map(String::as_str)
    {
        Some("valid") => true,
        Some("tenable") => scope.undefined_extension,
        _ => false,
    }
}

/// Where an `@type` entry sits: the element pointer and, for arrays, the entry index. The
/// pointer text is only built when an error is reported.
#[derive(Clone, Copy)]
pub(crate) struct TypeAt<'a>(&'a str, Option<usize>);

impl TypeAt<'_> {
    fn render(self) -> String {
        match self.1 {
            Some(i) => super::join_index(&super::join(self.0, "@type"), i),
            None => super::join(self.0, "@type"),
        }
    }
}

/// Generates the identifier of an element without `@id` (see the format notes, §6.5).
pub(crate) fn generated_id(parent: &str, property: &str, segment: Option<&str>) -> String {
    let (before_frag, frag) = match parent.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (parent, None),
    };
    let (path, version) = match before_frag.split_once(';') {
        Some((p, v)) => (p, Some(v)),
        None => (before_frag, None),
    };
    let mut id = String::with_capacity(parent.len() + property.len() + 16);
    id.push_str(path);
    id.push_str(":_");
    id.push_str(property);
    if let Some(seg) = segment {
        id.push_str(":__");
        id.push_str(seg);
    }
    if let Some(v) = version {
        id.push(';');
        id.push_str(v);
    }
    if let Some(f) = frag {
        id.push('#');
        id.push_str(f);
    }
    id
}

fn is_valid_identifier(text: &str, version: u8) -> bool {
    let Some(d) = crate::dtmi::syntax(text) else {
        return false;
    };
    if d.has_fragment || d.reserved {
        return false;
    }
    match version {
        2 => d.major != 0 && d.minor == 0,
        _ => true,
    }
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
                    .primary(pid)
                    .value(class)
                    .type_name(class),
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
                let tolerate = self.tolerates_solecisms(source);
                if !is_valid_identifier(text, version) {
                    self.error(
                        source,
                        format!("{ptr}/@id"),
                        ParsingError::new("invalidId")
                            .value(text)
                            .restriction(format!("DTDL v{version} identifier")),
                    );
                    return None;
                }
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
                if !tolerate && self.is_reserved_id(text, scope) {
                    self.error(
                        source,
                        format!("{ptr}/@id"),
                        ParsingError::new("reservedId")
                            .value(text)
                            .restriction("reserved prefix"),
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
            } else if !self.tolerates_solecisms(source) {
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
            let shadowed = !scope.extensions.is_empty()
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

    fn tolerates_solecisms(&self, source: usize) -> bool {
        match self.sources[source].doc {
            crate::error::DocumentRef::Input(_) => self.options.quirks.tolerate_solecisms_in_parse,
            crate::error::DocumentRef::Resolved(_) => {
                self.options.quirks.tolerate_solecisms_in_resolve
            }
        }
    }

    fn is_reserved_id(&self, text: &str, scope: &Scope) -> bool {
        if self.building_standard {
            return false;
        }
        let mm = Metamodel::get();
        mm.facts.reserved_id_prefixes.iter().any(|(ctx, prefixes)| {
            (scope.has_context(ctx) || ctx.starts_with("dtmi:dtdl:context;"))
                && prefixes.iter().any(|p| text.starts_with(p.as_str()))
        })
    }

    /// Classifies one `@type` entry; returns false after recording an error.
    #[expect(
        clippy::too_many_arguments,
        reason = "the element context (source, pointer, owner, property, limits) travels with each value"
    )]
    fn classify_type(
        &mut self,
        source: usize,
        at: TypeAt<'_>,
        text: &str,
        scope: &Scope,
        pid: &str,
        class: &mut Option<&'static str>,
        cotypes: &mut Vec<String>,
        undefined: &mut Vec<String>,
    ) -> bool {
        let mm = Metamodel::get();
        let version = scope.version;
        let term = scope.resolve(text);
        let category = match &term {
            Resolution::Dtmi(d) => match mm.classify(d) {
                TermTarget::Class(name, v) if v == version => {
                    let concrete = mm.class(name).is_some_and(|c| !c.is_abstract);
                    if !concrete {
                        self.error(
                            source,
                            at.render(),
                            ParsingError::new("cotypeNotConcreteMaterial")
                                .primary(pid)
                                .type_name(name),
                        );
                        return false;
                    }
                    match class {
                        Some(existing) if *existing != name => {
                            self.error(
                                source,
                                at.render(),
                                ParsingError::new("multipleMaterialTypes")
                                    .primary(pid)
                                    .value(text),
                            );
                            return false;
                        }
                        _ => *class = Some(name),
                    }
                    return true;
                }
                TermTarget::Supplemental => {
                    let st = &mm.facts.supplemental_types[*d];
                    if scope.has_context(&st.extension_context) || self.building_standard {
                        if !cotypes.iter().any(|c| c == d) {
                            cotypes.push((*d).to_owned());
                        }
                        return true;
                    }
                    "irrelevantDtmiOrTerm"
                }
                _ => "irrelevantDtmiOrTerm",
            },
            Resolution::Undefined => "undefinedTerm",
            Resolution::InvalidDtmi => "invalidDtmi",
            Resolution::NotDtmiNorTerm => "notDtmiNorTerm",
        };
        if apocrypha_ok(version, &format!("{category}AsCotype"), scope) {
            undefined.push(text.to_owned());
            return true;
        }
        let vid = match category {
            "undefinedTerm" => "typeUndefinedTerm",
            "invalidDtmi" => "typeInvalidDtmi",
            "notDtmiNorTerm" => "typeNotDtmiNorTerm",
            _ => "typeIrrelevantDtmiOrTerm",
        };
        self.error(
            source,
            at.render(),
            ParsingError::new(vid).primary(pid).value(text),
        );
        false
    }

    /// Checks and records the values of one core-language property.
    #[expect(
        clippy::too_many_arguments,
        reason = "the element context (source, pointer, owner, property, limits) travels with each value"
    )]
    fn core_property(
        &mut self,
        source: usize,
        ptr: &str,
        id: &str,
        class: &str,
        name: &'static str,
        pf: &PropertyFacts,
        pv: &PropertyVersion,
        value: &Value,
        scope: &Scope,
        obj: &Obj<'_>,
    ) -> Vals {
        let range_class = pv.class.as_deref().or(pf.common.class.as_deref());
        let datatype = pf.common.datatype.as_deref();
        let mut out = Vals::Empty;
        // Every item is checked, so that one bad value does not hide errors in the others.
        let mut failed = false;
        if let Some(range_class) = range_class.filter(|_| !pf.common.literal) {
            let items = values::items(ptr, value);
            let segment_prop = pf.common.dtmi_segment.as_deref();
            for (i, (p, v)) in items.iter().enumerate() {
                match v {
                    Value::String(t) => match self.reference(source, p, id, name, t, scope) {
                        Some((target, standard)) => out.push(Val::Ref {
                            target,
                            pointer: item_index(value, i),
                            inline: false,
                            standard,
                            arena_index: None,
                        }),
                        None => {
                            failed = true;
                            continue;
                        }
                    },
                    Value::Object(child) => {
                        if self.tolerates_solecisms(source)
                            && child.len() == 1
                            && let Some(Value::String(t)) = child.get("@id")
                        {
                            out.push(Val::Ref {
                                target: t.to_string(),
                                pointer: item_index(value, i),
                                inline: false,
                                standard: false,
                                arena_index: None,
                            });
                            continue;
                        }
                        // The segment property (usually `name`) names the child in its
                        // generated identifier, so it must be present (unless the child has
                        // an @id) and be a string (or a number).
                        if let Some(sp) = segment_prop
                            && segment_member(child, sp, scope.version).is_none()
                            && !child.contains_key("@id")
                        {
                            self.error(
                                source,
                                p.clone(),
                                ParsingError::new("missingDtmiSegPropertyValue")
                                    .primary(id)
                                    .property(name)
                                    .value(sp),
                            );
                            failed = true;
                            continue;
                        }
                        let number_seg;
                        let segment = match segment_prop
                            .and_then(|sp| segment_member(child, sp, scope.version))
                            .map(segment_value)
                        {
                            None => None,
                            Some(Some(Value::String(s))) => Some(s.as_ref()),
                            Some(Some(Value::Number(n))) => {
                                number_seg = n.as_f64().map(|f| f.to_string()).unwrap_or_default();
                                Some(number_seg.as_str())
                            }
                            Some(other) => {
                                let other = other.map(ToString::to_string).unwrap_or_default();
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("dtmiSegPropertyNotStringOrNumber")
                                        .primary(id)
                                        .property(segment_prop.unwrap_or_default())
                                        .value(other),
                                );
                                failed = true;
                                continue;
                            }
                        };
                        let index_seg;
                        let segment = match segment {
                            Some(s) => Some(s),
                            None if pf.common.plural && items.len() > 1 => {
                                index_seg = i.to_string();
                                Some(index_seg.as_str())
                            }
                            None => None,
                        };
                        let site = Site {
                            parent_id: Some(id),
                            parent_class: Some(class),
                            property: Some(name),
                            segment,
                            range: Range {
                                class: range_class,
                                supplemental: None,
                                id_required: pv.id_required,
                                type_required: pv.type_required,
                            },
                            top_level: false,
                        };
                        // The child is pushed at the arena's current end when it is accepted.
                        let arena_index = u32::try_from(self.elements.len()).ok();
                        match self.walk_element(source, p, child, scope, &site) {
                            Some(cid) => out.push(Val::Ref {
                                target: cid,
                                pointer: item_index(value, i),
                                inline: true,
                                standard: false,
                                arena_index,
                            }),
                            None => {
                                failed = true;
                                continue;
                            }
                        }
                    }
                    _ => {
                        self.error(
                            source,
                            p.clone(),
                            ParsingError::new("refNotStringOrObject")
                                .primary(id)
                                .property(name)
                                .value(v.to_string()),
                        );
                        failed = true;
                        continue;
                    }
                }
            }
        } else if datatype == Some("langString") {
            match values::lang_string(self, source, ptr, id, name, value, pv, scope.limits) {
                Some(v) => out.push(v),
                None => failed = true,
            }
        } else if let Some(dt) = datatype {
            for (p, v) in values::items(ptr, value).iter() {
                match values::literal(self, source, p, id, name, v, dt) {
                    Some(val) => {
                        if !values::constraints(self, source, p, id, name, &val, pv, scope.limits) {
                            failed = true;
                            continue;
                        }
                        out.push(val);
                    }
                    None => {
                        failed = true;
                        continue;
                    }
                }
            }
        } else if pf.common.literal {
            // A literal whose datatype depends on another property (EnumValue.enumValue).
            for (p, v) in values::items(ptr, value).iter() {
                match v {
                    Value::String(t) => out.push(Val::Str(t.to_string())),
                    Value::Number(n) if n.is_i64() => {
                        out.push(Val::Int(n.as_i64().unwrap_or_default()))
                    }
                    Value::Object(o) => {
                        let datatype = if o.get("@value").is_some_and(Value::is_number) {
                            "integer"
                        } else {
                            "string"
                        };
                        match values::literal(self, source, p, id, name, v, datatype) {
                            Some(val) => out.push(val),
                            None => {
                                failed = true;
                                continue;
                            }
                        }
                    }
                    _ => {
                        self.error(
                            source,
                            p.as_ref(),
                            ParsingError::new("literalNotValid")
                                .primary(id)
                                .property(name)
                                .value(v.to_string()),
                        );
                        failed = true;
                        continue;
                    }
                }
            }
        } else {
            // An identifier-valued property (Relationship.target).
            for (p, v) in values::items(ptr, value).iter() {
                let Value::String(t) = v else {
                    self.error(
                        source,
                        p.as_ref(),
                        ParsingError::new("identifierNotString")
                            .primary(id)
                            .property(name),
                    );
                    failed = true;
                    continue;
                };
                let pattern_ok = pv
                    .pattern
                    .as_deref()
                    .is_none_or(|pat| values::matches(pat, t));
                if !pattern_ok || !Dtmi::is_valid(t) {
                    let vid = if Dtmi::is_valid(t) {
                        "identifierInvalid"
                    } else {
                        "identifierNotDtmi"
                    };
                    self.error(
                        source,
                        p.as_ref(),
                        ParsingError::new(vid)
                            .primary(id)
                            .property(name)
                            .value(t.clone()),
                    );
                    failed = true;
                    continue;
                }
                if let Some(max) = Metamodel::limit(&pv.max_length, scope.limits)
                    && t.chars().count() as u64 > max
                {
                    self.error(
                        source,
                        p.as_ref(),
                        ParsingError::new("identifierTooLong")
                            .primary(id)
                            .property(name)
                            .value(t.clone()),
                    );
                    failed = true;
                    continue;
                }
                out.push(Val::Str(t.to_string()));
            }
        }
        if failed {
            return Vals::Empty;
        }
        let _ = obj;
        let count = out
            .iter()
            .map(|v| {
                if let Val::Lang(l) = v {
                    l.len().min(1)
                } else {
                    1
                }
            })
            .sum::<usize>() as u64;
        let max = pv
            .max_count
            .or(if pf.common.plural { None } else { Some(1) });
        if let Some(max) = max
            && count > max
            && datatype != Some("langString")
        {
            let vid = if pf.common.literal {
                "literalMultipleValues"
            } else if max == 1 {
                "objectMultipleValues"
            } else {
                "objectCountAboveMax"
            };
            self.error(
                source,
                ptr,
                ParsingError::new(vid)
                    .primary(id)
                    .property(name)
                    .restriction(max.to_string()),
            );
            return Vals::Empty;
        }
        let min = pv
            .min_count
            .unwrap_or(if pf.common.optional { 0 } else { 1 });
        if count < min {
            let vid = if pf.common.literal {
                "literalCountBelowMin"
            } else {
                "objectCountBelowMin"
            };
            self.error(
                source,
                ptr,
                ParsingError::new(vid)
                    .primary(id)
                    .property(name)
                    .restriction(min.to_string()),
            );
            return Vals::Empty;
        }
        out
    }

    /// Resolves a string used as a reference to an element.
    fn reference(
        &mut self,
        source: usize,
        ptr: &str,
        id: &str,
        name: &str,
        text: &str,
        scope: &Scope,
    ) -> Option<(String, bool)> {
        match scope.resolve(text) {
            Resolution::Dtmi(d) => {
                let mm = Metamodel::get();
                let is_std = mm.standard_ids.contains_key(d);
                if !is_std && !self.building_standard && !is_valid_reference(d, scope.version) {
                    self.error(
                        source,
                        ptr,
                        ParsingError::new("idRefBadDtmiOrTerm")
                            .primary(id)
                            .property(name)
                            .value(text)
                            .restriction(format!("DTDL v{}", scope.version)),
                    );
                    return None;
                }
                Some((d.to_owned(), is_std))
            }
            _ => {
                self.error(
                    source,
                    ptr,
                    ParsingError::new("badDtmiOrTerm")
                        .primary(id)
                        .property(name)
                        .value(text)
                        .restriction(format!("DTDL v{}", scope.version)),
                );
                None
            }
        }
    }

    /// Checks and records the values of one supplemental (extension) property.
    #[expect(
        clippy::too_many_arguments,
        reason = "the element context (source, pointer, owner, property, limits) travels with each value"
    )]
    fn supplemental_property(
        &mut self,
        source: usize,
        ptr: &str,
        id: &str,
        class: &str,
        pid: &str,
        value: &Value,
        scope: &Scope,
    ) -> Vals {
        let mm = Metamodel::get();
        let Some(owner) = mm.supplemental_property_owner.get(pid) else {
            return Vals::Empty;
        };
        let Some(sp) = mm
            .facts
            .supplemental_types
            .get(owner)
            .and_then(|t| t.properties.get(pid))
        else {
            return Vals::Empty;
        };
        let name = sp.property_name.as_str();
        let mut out = Vals::Empty;
        let items = values::items(ptr, value);
        // Every item is checked, so that one bad value does not hide errors in the others.
        let mut failed = false;
        for (i, (p, v)) in items.iter().enumerate() {
            let dt = match sp.type_id.as_deref() {
                Some(t) if t.starts_with("http://www.w3.org/2001/XMLSchema#") => {
                    Some(t.trim_start_matches("http://www.w3.org/2001/XMLSchema#"))
                }
                None if sp.type_name == "IRI" => Some("IRI"),
                _ => None,
            };
            match dt {
                Some("IRI") => match v {
                    Value::String(t) => out.push(Val::Str(t.to_string())),
                    _ => {
                        self.error(
                            source,
                            p.clone(),
                            ParsingError::new("identifierNotString")
                                .primary(id)
                                .property(name),
                        );
                        failed = true;
                        continue;
                    }
                },
                Some(dt) => match values::literal(self, source, p, id, name, v, dt) {
                    Some(val) => {
                        if let Val::Str(t) = &val {
                            if let Some(pat) = &sp.pattern
                                && !values::matches(pat, t)
                            {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("stringInvalid")
                                        .primary(id)
                                        .property(name)
                                        .value(t.clone())
                                        .restriction(pat.clone()),
                                );
                                failed = true;
                                continue;
                            }
                            if let Some(max) = sp.max_length
                                && t.chars().count() as u64 > max
                            {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("stringTooLong")
                                        .primary(id)
                                        .property(name)
                                        .value(t.clone())
                                        .restriction(max.to_string()),
                                );
                                failed = true;
                                continue;
                            }
                        }
                        if let Some(min) = sp.min_inclusive {
                            let n = match &val {
                                Val::Int(n) => Some(*n as f64),
                                Val::Num(n) => Some(*n),
                                _ => None,
                            };
                            if n.is_some_and(|n| n < min) {
                                self.error(
                                    source,
                                    p.clone(),
                                    ParsingError::new("valueBelowMin")
                                        .primary(id)
                                        .property(name)
                                        .value(v.to_string())
                                        .restriction(min.to_string()),
                                );
                                failed = true;
                                continue;
                            }
                        }
                        out.push(val);
                    }
                    None => {
                        failed = true;
                        continue;
                    }
                },
                None => {
                    let Some(type_id) = sp.type_id.clone() else {
                        continue;
                    };
                    match v {
                        Value::String(t) => match self.reference(source, p, id, name, t, scope) {
                            Some((target, standard)) => out.push(Val::Ref {
                                target,
                                pointer: item_index(value, i),
                                inline: false,
                                standard,
                                arena_index: None,
                            }),
                            None => {
                                failed = true;
                                continue;
                            }
                        },
                        Value::Object(child) => {
                            let range_class = match mm.classify(&type_id) {
                                TermTarget::Class(c, _) => c,
                                _ => "Entity",
                            };
                            let seg_index;
                            let segment = if sp.plural && items.len() > 1 {
                                seg_index = i.to_string();
                                Some(seg_index.as_str())
                            } else {
                                None
                            };
                            let site = Site {
                                parent_id: Some(id),
                                parent_class: Some(class),
                                property: Some(name),
                                segment,
                                range: Range {
                                    class: range_class,
                                    supplemental: None,
                                    id_required: sp.id_required,
                                    type_required: sp.type_required,
                                },
                                top_level: false,
                            };
                            // The child is pushed at the arena's current end when it is accepted.
                            let arena_index = u32::try_from(self.elements.len()).ok();
                            match self.walk_element(source, p, child, scope, &site) {
                                Some(cid) => out.push(Val::Ref {
                                    target: cid,
                                    pointer: item_index(value, i),
                                    inline: true,
                                    standard: false,
                                    arena_index,
                                }),
                                None => {
                                    failed = true;
                                    continue;
                                }
                            }
                        }
                        _ => {
                            self.error(
                                source,
                                p.clone(),
                                ParsingError::new("refNotStringOrObject")
                                    .primary(id)
                                    .property(name),
                            );
                            failed = true;
                            continue;
                        }
                    }
                }
            }
        }
        if failed {
            return Vals::Empty;
        }
        let count = out.len() as u64;
        let max = sp.max_count.or(if sp.plural { None } else { Some(1) });
        if let Some(max) = max
            && count > max
        {
            self.error(
                source,
                ptr,
                ParsingError::new("objectCountAboveMax")
                    .primary(id)
                    .property(name)
                    .restriction(max.to_string()),
            );
            return Vals::Empty;
        }
        if let Some(min) = sp.min_count
            && count < min
        {
            self.error(
                source,
                ptr,
                ParsingError::new("objectCountBelowMin")
                    .primary(id)
                    .property(name)
                    .restriction(min.to_string()),
            );
            return Vals::Empty;
        }
        out
    }
}

/// The position of item `i` of a property value: its array index, or none for a single value.
fn item_index(value: &Value<'_>, i: usize) -> Option<u32> {
    matches!(value, Value::Array(_)).then(|| u32::try_from(i).unwrap_or(u32::MAX))
}

/// The segment property of a child object, written as a term or as its property DTMI.
fn segment_member<'v, 'a>(child: &'v Obj<'a>, prop: &str, version: u8) -> Option<&'v Value<'a>> {
    child.get(prop).or_else(|| {
        child.iter().find_map(|(k, v)| {
            let rest = k.strip_prefix("dtmi:dtdl:property:")?;
            let (name, ver) = rest.split_once(';')?;
            (name == prop && ver.parse::<u8>().ok() == Some(version)).then_some(v)
        })
    })
}

/// The scalar inside a segment property value: the value itself, the only item of an array,
/// or the `@value` of a value object.
fn segment_value<'v, 'a>(v: &'v Value<'a>) -> Option<&'v Value<'a>> {
    match v {
        Value::String(_) | Value::Number(_) => Some(v),
        Value::Array(items) if items.len() == 1 => segment_value(&items[0]),
        Value::Object(o) => o.get("@value").and_then(segment_value),
        _ => None,
    }
}

/// The extensible material class (e.g. `Unit`) an extension type derives from, if any.
fn extended_class(supplemental: &str, version: u8) -> Option<&'static str> {
    let mm = Metamodel::get();
    let mut t = mm
        .facts
        .supplemental_types
        .get(supplemental)?
        .parent
        .as_deref();
    for _ in 0..16 {
        let name = t?;
        if let TermTarget::Class(c, v) = mm.classify(name) {
            let extensible = mm
                .facts
                .extensible_material_classes
                .get(vkey(version))
                .is_some_and(|l| l.iter().any(|x| x == c));
            return (v == version && extensible).then_some(c);
        }
        t = mm.facts.supplemental_types.get(name)?.parent.as_deref();
    }
    None
}

fn has_property(supplemental: &str, pid: &str) -> bool {
    let mm = Metamodel::get();
    let mut t = Some(supplemental);
    let mut guard = 0;
    while let Some(name) = t {
        let Some(st) = mm.facts.supplemental_types.get(name) else {
            return false;
        };
        if st.properties.contains_key(pid) {
            return true;
        }
        guard += 1;
        if guard > 16 {
            return false;
        }
        t = st.parent.as_deref();
    }
    false
}

/// Whether a reference DTMI has the syntax the DTDL version requires of identifiers it refers to.
fn is_valid_reference(d: &str, version: u8) -> bool {
    let Some(dtmi) = crate::dtmi::syntax(d) else {
        return false;
    };
    if dtmi.has_fragment {
        return false;
    }
    match version {
        2 => dtmi.major != 0 && dtmi.minor == 0,
        _ => true,
    }
}

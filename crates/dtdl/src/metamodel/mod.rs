//! The DTDL metamodel as data: classes and their properties (ranges, counts, constraints) per
//! DTDL version, contexts (term → DTMI), extension (supplemental) types, descendant controls,
//! identifier rules, limits and reserved prefixes. The facts live in `facts.json`, generated
//! from the language digest by `tools/metamodel_gen.rs` and embedded in the crate, so the
//! parser needs nothing at run time. The parser is a generic engine over these tables.

use crate::fxhash::FxHashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

static FACTS_TEXT: &str = include_str!("facts.json");

/// Per-version value keyed by DTDL major version as a string ("2", "3", "4").
pub(crate) type PerVersion<T> = FxHashMap<String, T>;
/// Limit value keyed by limit spec ("" = core limits, "onvif_1", "aio_1").
pub(crate) type PerLimits = FxHashMap<String, u64>;

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Facts {
    pub contexts: FxHashMap<String, FxHashMap<String, String>>,
    pub material_classes: FxHashMap<String, Class>,
    pub elements: Vec<Value>,
    pub supplemental_types: FxHashMap<String, Supplemental>,
    pub descendant_controls: Vec<DescendantControl>,
    pub identifier_definition: Value,
    pub reserved_id_prefixes: FxHashMap<String, Vec<String>>,
    pub limit_contexts: FxHashMap<String, LimitContext>,
    pub partitions: PerVersion<Partition>,
    pub apocrypha: PerVersion<FxHashMap<String, String>>,
    pub affiliate_contexts_implicit_dtdl_versions: FxHashMap<String, u8>,
    pub dtdl_versions_restricting_keywords: Vec<u8>,
    pub dtdl_versions_allowing_custom_limits: Vec<u8>,
    pub rootable_classes: PerVersion<Vec<String>>,
    pub extensible_material_classes: PerVersion<Vec<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Class {
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    pub concrete_subclasses: PerVersion<Vec<String>>,
    pub dtdl_versions: Vec<u8>,
    pub id_required_versions: Vec<u8>,
    pub id_required_when: PerVersion<Vec<ClassProperty>>,
    pub type_optional_versions: Vec<u8>,
    pub parent_class: Option<String>,
    pub partition: bool,
    pub rootable: bool,
    pub properties: FxHashMap<String, PropertyFacts>,
    pub type_ids: Vec<String>,
    /// Instance conditions per DTDL version (`element`, `eachChild`) for instance validation.
    pub instance: FxHashMap<String, Value>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ClassProperty {
    pub class: String,
    pub property: String,
}

#[derive(Deserialize, Debug, Default)]
pub(crate) struct PropertyFacts {
    #[serde(rename = "_")]
    pub common: PropertyCommon,
    #[serde(flatten)]
    pub versions: FxHashMap<String, PropertyVersion>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PropertyCommon {
    pub datatype: Option<String>,
    pub class: Option<String>,
    pub literal: bool,
    pub optional: bool,
    pub plural: bool,
    pub dtmi_segment: Option<String>,
    pub dictionary_key: Option<String>,
    /// Object-model views of a plural property split by class (`contents` → `telemetries`).
    pub breakout: std::collections::BTreeMap<String, Vec<String>>,
    /// The name of the inverse relation on the referenced elements (`extends` → `extendedBy`).
    pub reverse_as: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct PropertyVersion {
    pub allowed: bool,
    pub class: Option<String>,
    pub id_required: bool,
    pub type_required: bool,
    pub min_count: Option<u64>,
    pub max_count: Option<u64>,
    pub max_length: PerLimits,
    pub pattern: Option<String>,
    pub value: Option<Value>,
    pub values: Vec<String>,
    pub value_uris: Vec<String>,
    pub min_inclusive: Option<i64>,
    pub max_inclusive: Option<i64>,
    pub unique_among: Vec<ClassProperty>,
    pub unique_properties: Vec<String>,
    pub versions: Vec<u8>,
    pub default_language: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Supplemental {
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    pub cotypes: Vec<String>,
    pub cotype_versions: Vec<u8>,
    pub extension_context: String,
    pub extension_kind: String,
    pub parent: Option<String>,
    pub properties: FxHashMap<String, SupplementalProperty>,
    pub cocotypes: Vec<String>,
    pub discotypes: Vec<String>,
    pub altcotypes: Vec<String>,
    pub constraints: Vec<Value>,
    pub siblings: Vec<Value>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SupplementalProperty {
    pub property_name: String,
    #[serde(rename = "type")]
    pub type_id: Option<String>,
    pub type_name: String,
    pub min_count: Option<u64>,
    pub max_count: Option<u64>,
    pub optional: bool,
    pub plural: bool,
    pub pattern: Option<String>,
    pub max_length: Option<u64>,
    pub min_inclusive: Option<f64>,
    pub child_of: Option<String>,
    pub id_required: bool,
    pub type_required: bool,
    pub unique_value: bool,
    pub instance_property: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct DescendantControl {
    pub allow_self: bool,
    pub defining_class: String,
    pub dtdl_version: u8,
    pub exclude_type: Option<String>,
    pub max_depth: PerLimits,
    pub max_count: PerLimits,
    pub narrow: bool,
    pub properties: Vec<String>,
    pub root_class: String,
    pub datatype_property: Option<String>,
    pub import_properties: Vec<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LimitContext {
    pub dtdl_version: u8,
    pub spec: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Partition {
    pub max_bytes: PerLimits,
}

/// Where a resolved term or DTMI lands in the metamodel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TermTarget {
    /// A material class of a DTDL version (`dtmi:dtdl:class:Telemetry;3`).
    Class(&'static str, u8),
    /// A property of the core language (`dtmi:dtdl:property:comment;3`).
    Property(&'static str, u8),
    /// A supplemental (extension) type.
    Supplemental,
    /// A supplemental property.
    SupplementalProperty,
    /// A standard element (`dtmi:dtdl:instance:Schema:double;3`, units, ...).
    Element,
    /// Something else the metamodel names (an abstract type, a context, ...).
    Other,
}

/// The loaded metamodel with lookup indexes.
pub(crate) struct Metamodel {
    pub facts: Facts,
    /// Supplemental property DTMI → owning supplemental type DTMI.
    pub supplemental_property_owner: FxHashMap<String, String>,
    /// Standard element ids.
    pub standard_ids: FxHashMap<String, ()>,
    /// Material class → itself and all its ancestors.
    ancestors: FxHashMap<String, Vec<String>>,
    /// Property names of every material class (for `'static` property names).
    property_names: FxHashMap<String, ()>,
    /// Per DTDL version (index) and class: the descendant controls rooted at that class.
    controls: [FxHashMap<String, Vec<usize>>; 5],
    /// Per DTDL version (index) and class: required properties (name, minimum count, literal).
    required: [FxHashMap<String, RequiredProperties>; 5],
}

/// Per DTDL version (index) and class: property key (term or DTMI) → allowed property.
type PropertyTables = [FxHashMap<String, FxHashMap<String, CoreProperty>>; 5];

/// A core property of a class in one DTDL version, ready for dispatch.
#[derive(Debug)]
pub(crate) struct CoreProperty {
    /// The property name (`contents`, `schema`, ...), as the key of the class's table.
    pub name: &'static str,
    /// Its facts and those for the version, so that dispatch needs no further lookups.
    pub facts: &'static PropertyFacts,
    pub version: &'static PropertyVersion,
}

/// Required properties of a class: (name, minimum count, literal?).
pub(crate) type RequiredProperties = Vec<(String, u64, bool)>;

/// The key of a per-version table (`"2"`, `"3"`, `"4"`).
pub(crate) fn vkey(version: u8) -> &'static str {
    match version {
        2 => "2",
        3 => "3",
        4 => "4",
        _ => "",
    }
}

impl Metamodel {
    /// The process-wide metamodel, loaded on first use.
    pub fn get() -> &'static Metamodel {
        static MM: OnceLock<Metamodel> = OnceLock::new();
        MM.get_or_init(Metamodel::load)
    }

    /// The per-class property dispatch tables. They borrow from the `'static` metamodel, so
    /// they live in their own once-initialised table.
    fn property_tables(&'static self) -> &'static PropertyTables {
        static TABLES: OnceLock<PropertyTables> = OnceLock::new();
        TABLES.get_or_init(|| self.index_properties())
    }

    fn load() -> Metamodel {
        // The embedded table is generated and checked by a test; a failure here is a build
        // defect, so fall back to an empty metamodel rather than panicking at run time.
        let facts: Facts = serde_json::from_str(FACTS_TEXT).unwrap_or_default();
        let mut supplemental_property_owner = FxHashMap::default();
        for (tid, t) in &facts.supplemental_types {
            for pid in t.properties.keys() {
                supplemental_property_owner.insert(pid.clone(), tid.clone());
            }
        }
        let mut standard_ids = FxHashMap::default();
        collect_standard_ids(&facts.elements, &mut standard_ids);
        let mut ancestors = FxHashMap::default();
        let mut property_names = FxHashMap::default();
        for (name, class) in &facts.material_classes {
            let mut chain = Vec::new();
            let mut cur = Some(name.as_str());
            while let Some(c) = cur {
                if chain.len() > 32 {
                    break;
                }
                chain.push(c.to_owned());
                cur = facts
                    .material_classes
                    .get(c)
                    .and_then(|k| k.parent_class.as_deref());
            }
            ancestors.insert(name.clone(), chain);
            for p in class.properties.keys() {
                property_names.insert(p.clone(), ());
            }
        }
        let mut controls: [FxHashMap<String, Vec<usize>>; 5] = Default::default();
        let mut required: [FxHashMap<String, RequiredProperties>; 5] = Default::default();
        for v in 2u8..=4 {
            let slot = usize::from(v);
            for (name, class) in &facts.material_classes {
                let chain = &ancestors[name];
                let list: Vec<usize> = facts
                    .descendant_controls
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        c.dtdl_version == v
                            && c.datatype_property.is_none()
                            // Wide ComplexSchema controls are listed per concrete class and for
                            // the abstract class; the abstract one covers them all.
                            && (c.narrow || c.root_class == c.defining_class)
                            && chain.contains(&c.root_class)
                    })
                    .map(|(i, _)| i)
                    .collect();
                controls[slot].insert(name.clone(), list);
                let mut req: Vec<(String, u64, bool)> = class
                    .properties
                    .iter()
                    .filter_map(|(pname, pf)| {
                        let pv = pf.versions.get(vkey(v))?;
                        if !pv.allowed {
                            return None;
                        }
                        let min = pv
                            .min_count
                            .unwrap_or(if pf.common.optional { 0 } else { 1 });
                        let literal = pf.common.literal || pf.common.datatype.is_some();
                        (min > 0).then(|| (pname.clone(), min, literal))
                    })
                    .collect();
                req.sort();
                required[slot].insert(name.clone(), req);
            }
        }
        Metamodel {
            facts,
            supplemental_property_owner,
            standard_ids,
            ancestors,
            property_names,
            controls,
            required,
        }
    }

    /// Builds the per-class property dispatch tables; they borrow from the `'static`
    /// metamodel, so they are filled in after it is in place.
    fn index_properties(&'static self) -> PropertyTables {
        let mut tables: PropertyTables = Default::default();
        for v in 2u8..=4 {
            let Some(ctx) = self.facts.contexts.get(crate::parser::dtdl_context_id(v)) else {
                continue;
            };
            for (cname, class) in &self.facts.material_classes {
                let mut table = FxHashMap::default();
                for (pname, pf) in &class.properties {
                    let Some(pv) = pf.versions.get(vkey(v)) else {
                        continue;
                    };
                    if !pv.allowed {
                        continue;
                    }
                    let dtmi = format!("dtmi:dtdl:property:{pname};{v}");
                    for (term, target) in ctx {
                        if *target == dtmi {
                            table.insert(
                                term.clone(),
                                CoreProperty {
                                    name: pname.as_str(),
                                    facts: pf,
                                    version: pv,
                                },
                            );
                        }
                    }
                    table.insert(
                        dtmi,
                        CoreProperty {
                            name: pname.as_str(),
                            facts: pf,
                            version: pv,
                        },
                    );
                }
                tables[usize::from(v)].insert(cname.clone(), table);
            }
        }
        tables
    }

    /// Descendant controls (indexes into `facts.descendant_controls`) rooted at `class`.
    pub fn controls_for(&self, version: u8, class: &str) -> &[usize] {
        self.controls
            .get(usize::from(version))
            .and_then(|m| m.get(class))
            .map_or(&[], Vec::as_slice)
    }

    /// Required properties of `class` in `version`: (name, minimum count, literal?).
    pub fn required_for(&self, version: u8, class: &str) -> &[(String, u64, bool)] {
        self.required
            .get(usize::from(version))
            .and_then(|m| m.get(class))
            .map_or(&[], Vec::as_slice)
    }

    pub fn class(&self, name: &str) -> Option<&Class> {
        self.facts.material_classes.get(name)
    }

    /// Classifies a DTMI the language itself defines.
    pub fn classify(&'static self, dtmi: &str) -> TermTarget {
        if let Some(rest) = dtmi.strip_prefix("dtmi:dtdl:class:")
            && let Some((name, v)) = rest.split_once(';')
            && let Ok(v) = v.parse::<u8>()
            && let Some((key, c)) = self.facts.material_classes.get_key_value(name)
            && c.dtdl_versions.contains(&v)
        {
            return TermTarget::Class(key.as_str(), v);
        }
        if self.facts.supplemental_types.contains_key(dtmi) {
            return TermTarget::Supplemental;
        }
        if self.supplemental_property_owner.contains_key(dtmi) {
            return TermTarget::SupplementalProperty;
        }
        if let Some(rest) = dtmi.strip_prefix("dtmi:dtdl:property:")
            && let Some((name, v)) = rest.split_once(';')
            && let Ok(v) = v.parse::<u8>()
        {
            return match self.property_names.get_key_value(name) {
                Some((key, ())) => TermTarget::Property(key.as_str(), v),
                None => TermTarget::Other,
            };
        }
        if self.standard_ids.contains_key(dtmi) {
            return TermTarget::Element;
        }
        TermTarget::Other
    }

    /// Whether `dtmi` names a term of the metamodel itself (a class, property or extension
    /// type) rather than an element.
    pub fn is_metamodel_term(&'static self, dtmi: &str) -> bool {
        !matches!(self.classify(dtmi), TermTarget::Element | TermTarget::Other)
    }

    /// The definition of supplemental property `pid` as seen from co-type `t` (declared on
    /// `t` or inherited from one of its parents).
    pub fn supplemental_property(&self, t: &str, pid: &str) -> Option<&SupplementalProperty> {
        let mut cur = Some(t);
        for _ in 0..16 {
            let st = self.facts.supplemental_types.get(cur?)?;
            if let Some(sp) = st.properties.get(pid) {
                return Some(sp);
            }
            cur = st.parent.as_deref();
        }
        None
    }

    /// Whether `class` is `ancestor` or a subclass of it.
    pub fn is_subclass(&self, class: &str, ancestor: &str) -> bool {
        class == ancestor
            || self
                .ancestors
                .get(class)
                .is_some_and(|chain| chain.iter().any(|a| a == ancestor))
    }

    /// Whether supplemental type `t` is `ancestor` or derives from it.
    pub fn supplemental_is(&self, t: &str, ancestor: &str) -> bool {
        let mut c = Some(t);
        let mut guard = 0;
        while let Some(name) = c {
            if name == ancestor {
                return true;
            }
            guard += 1;
            if guard > 32 {
                return false;
            }
            c = self
                .facts
                .supplemental_types
                .get(name)
                .and_then(|k| k.parent.as_deref());
        }
        false
    }

    /// The limit value for `spec`, falling back to the core limits.
    pub fn limit(values: &PerLimits, spec: &str) -> Option<u64> {
        // At most three entries: a scan beats hashing.
        let mut core = None;
        for (k, v) in values {
            if k == spec {
                return Some(*v);
            }
            if k.is_empty() {
                core = Some(*v);
            }
        }
        core
    }

    /// The core properties of `class` in `version`, keyed by the terms of the DTDL context
    /// and by property DTMIs (for use when no extension context redefines the term). Looked
    /// up once per element rather than once per property.
    pub fn core_properties(
        &'static self,
        version: u8,
        class: &str,
    ) -> Option<&'static FxHashMap<String, CoreProperty>> {
        self.property_tables().get(usize::from(version))?.get(class)
    }
}

/// Standard elements that are aliases of others (`dtmi:dtdl:instance:Schema:integer;4` for
/// `...;3`, itself an alias of `...;2`), mapped to the element they finally stand for: the
/// reference object model holds the aliased element.
pub(crate) fn unalias(id: &str) -> &str {
    static ALIASES: OnceLock<FxHashMap<String, String>> = OnceLock::new();
    let aliases = ALIASES.get_or_init(|| {
        let mut direct = FxHashMap::default();
        for e in &Metamodel::get().facts.elements {
            let is_alias = match e.get("@type") {
                Some(Value::Array(types)) => types.iter().any(|t| t == "Alias"),
                Some(t) => t == "Alias",
                None => false,
            };
            if let (true, Some(id), Some(target)) = (
                is_alias,
                e.get("@id").and_then(Value::as_str),
                e.get("aliasFor").and_then(Value::as_str),
            ) {
                direct.insert(id.to_owned(), target.to_owned());
            }
        }
        let mut resolved = FxHashMap::default();
        for id in direct.keys() {
            let mut target = id;
            for _ in 0..8 {
                match direct.get(target) {
                    Some(next) => target = next,
                    None => break,
                }
            }
            resolved.insert(id.clone(), target.clone());
        }
        resolved
    });
    aliases.get(id).map_or(id, String::as_str)
}

fn collect_standard_ids(values: &[Value], out: &mut FxHashMap<String, ()>) {
    for v in values {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(id)) = o.get("@id") {
                    out.insert(id.clone(), ());
                }
                for (k, child) in o {
                    if !k.starts_with('@') {
                        collect_standard_ids(std::slice::from_ref(child), out);
                    }
                }
            }
            Value::Array(a) => collect_standard_ids(a, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_facts_load() {
        let mm = Metamodel::get();
        assert!(mm.class("Interface").is_some());
        assert_eq!(
            mm.classify("dtmi:dtdl:class:Telemetry;3"),
            TermTarget::Class("Telemetry", 3)
        );
        assert_eq!(
            mm.classify("dtmi:dtdl:instance:Schema:double;2"),
            TermTarget::Element
        );
        assert!(mm.is_subclass("Telemetry", "Content"));
        assert!(mm.facts.contexts.contains_key("dtmi:dtdl:context;4"));
    }
}

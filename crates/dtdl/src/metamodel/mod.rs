//! The DTDL metamodel as data: classes and their properties (ranges, counts, constraints) per
//! DTDL version, contexts (term → DTMI), extension (supplemental) types, descendant controls,
//! identifier rules, limits and reserved prefixes. The facts live in `facts.json`, generated
//! from the language digest by `tools/metamodel_gen.rs` and embedded in the crate, so the
//! parser needs nothing at run time. The parser is a generic engine over these tables.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

static FACTS_TEXT: &str = include_str!("facts.json");

/// Per-version value keyed by DTDL major version as a string ("2", "3", "4").
pub(crate) type PerVersion<T> = HashMap<String, T>;
/// Limit value keyed by limit spec ("" = core limits, "onvif_1", "aio_1").
pub(crate) type PerLimits = HashMap<String, u64>;

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Facts {
    pub contexts: HashMap<String, HashMap<String, String>>,
    pub material_classes: HashMap<String, Class>,
    pub elements: Vec<Value>,
    pub supplemental_types: HashMap<String, Supplemental>,
    pub descendant_controls: Vec<DescendantControl>,
    pub identifier_definition: Value,
    pub reserved_id_prefixes: HashMap<String, Vec<String>>,
    pub limit_contexts: HashMap<String, LimitContext>,
    pub partitions: PerVersion<Partition>,
    pub apocrypha: PerVersion<HashMap<String, String>>,
    pub affiliate_contexts_implicit_dtdl_versions: HashMap<String, u8>,
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
    pub properties: HashMap<String, PropertyFacts>,
    pub type_ids: Vec<String>,
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
    pub versions: HashMap<String, PropertyVersion>,
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
    pub properties: HashMap<String, SupplementalProperty>,
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
    Class(String, u8),
    /// A property of the core language (`dtmi:dtdl:property:comment;3`).
    Property(String, u8),
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
    pub supplemental_property_owner: HashMap<String, String>,
    /// Standard element ids.
    pub standard_ids: HashMap<String, ()>,
}

impl Metamodel {
    /// The process-wide metamodel, loaded on first use.
    pub fn get() -> &'static Metamodel {
        static MM: OnceLock<Metamodel> = OnceLock::new();
        MM.get_or_init(Metamodel::load)
    }

    fn load() -> Metamodel {
        // The embedded table is generated and checked by a test; a failure here is a build
        // defect, so fall back to an empty metamodel rather than panicking at run time.
        let facts: Facts = serde_json::from_str(FACTS_TEXT).unwrap_or_default();
        let mut supplemental_property_owner = HashMap::new();
        for (tid, t) in &facts.supplemental_types {
            for pid in t.properties.keys() {
                supplemental_property_owner.insert(pid.clone(), tid.clone());
            }
        }
        let mut standard_ids = HashMap::new();
        collect_standard_ids(&facts.elements, &mut standard_ids);
        Metamodel {
            facts,
            supplemental_property_owner,
            standard_ids,
        }
    }

    pub fn class(&self, name: &str) -> Option<&Class> {
        self.facts.material_classes.get(name)
    }

    /// Classifies a DTMI the language itself defines.
    pub fn classify(&self, dtmi: &str) -> TermTarget {
        if let Some(rest) = dtmi.strip_prefix("dtmi:dtdl:class:")
            && let Some((name, v)) = rest.split_once(';')
            && let Ok(v) = v.parse::<u8>()
            && self
                .facts
                .material_classes
                .get(name)
                .is_some_and(|c| c.dtdl_versions.contains(&v))
        {
            return TermTarget::Class(name.to_owned(), v);
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
            return TermTarget::Property(name.to_owned(), v);
        }
        if self.standard_ids.contains_key(dtmi) {
            return TermTarget::Element;
        }
        TermTarget::Other
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
        let mut c = Some(class);
        let mut guard = 0;
        while let Some(name) = c {
            if name == ancestor {
                return true;
            }
            guard += 1;
            if guard > 32 {
                return false;
            }
            c = self.class(name).and_then(|k| k.parent_class.as_deref());
        }
        false
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
        values.get(spec).or_else(|| values.get("")).copied()
    }
}

fn collect_standard_ids(values: &[Value], out: &mut HashMap<String, ()>) {
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
            TermTarget::Class("Telemetry".into(), 3)
        );
        assert_eq!(
            mm.classify("dtmi:dtdl:instance:Schema:double;2"),
            TermTarget::Element
        );
        assert!(mm.is_subclass("Telemetry", "Content"));
        assert!(mm.facts.contexts.contains_key("dtmi:dtdl:context;4"));
    }
}

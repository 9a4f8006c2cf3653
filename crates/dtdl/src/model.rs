//! The parsed object model handed to backends. A [`Model`] owns the parsed elements (explicit
//! or generated identifiers) and per-document facts (roots, DTDL version, external references,
//! which the repository service uses as dependency edges). Elements are read through cheap
//! borrowed views ([`ElementRef`]) with typed accessors for interfaces, contents, schemas,
//! units, semantic types and extension properties, so building a model costs nothing beyond
//! parsing. Standard elements (e.g. `dtmi:dtdl:instance:Schema:double;3`) are reachable
//! through references. The whole model serialises with serde.

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::dtmi::Dtmi;
use crate::fxhash::FxHashMap;
use crate::parser::{El, PropKind, Val};

/// Facts about one input document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DocumentInfo {
    /// `@id`s of the document's top-level elements, in order.
    pub roots: Vec<Dtmi>,
    /// DTDL major version of the document's first top-level element (2, 3 or 4).
    pub dtdl_version: u8,
    /// Every DTMI an element of this document references that is defined outside this
    /// document (another input document or the resolver); standard elements excluded.
    pub external_references: BTreeSet<Dtmi>,
}

/// A successfully parsed model.
#[derive(Debug, Default)]
pub struct Model {
    pub(crate) documents: Vec<DocumentInfo>,
    pub(crate) elements: Vec<El>,
    pub(crate) index: FxHashMap<String, usize>,
    /// Elements that came from the submitted documents (not from the resolver).
    pub(crate) submitted: Vec<bool>,
}

impl Model {
    /// One entry per input document, in input order.
    pub fn documents(&self) -> &[DocumentInfo] {
        &self.documents
    }

    /// Looks an element up by identifier: parsed, resolved or standard.
    pub fn element(&self, id: &str) -> Option<ElementRef<'_>> {
        if let Some(i) = self.index.get(id) {
            return self
                .elements
                .get(*i)
                .map(|el| ElementRef { model: self, el });
        }
        crate::parser::standard_element(id).map(|el| ElementRef { model: self, el })
    }

    /// Every parsed element (submitted and resolved), in definition order.
    pub fn elements(&self) -> impl Iterator<Item = ElementRef<'_>> + '_ {
        self.elements
            .iter()
            .map(move |el| ElementRef { model: self, el })
    }

    /// Number of parsed elements (standard elements not counted).
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the model has no elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// Every Interface of the model, in definition order.
    pub fn interfaces(&self) -> impl Iterator<Item = ElementRef<'_>> + '_ {
        self.elements().filter(|e| e.class() == "Interface")
    }

    /// The top-level Interfaces of the submitted documents.
    pub fn roots(&self) -> impl Iterator<Item = ElementRef<'_>> + '_ {
        self.documents
            .iter()
            .flat_map(|d| d.roots.iter())
            .filter_map(|id| self.element(id.as_str()))
    }
}

/// A value of an element property.
#[derive(Clone, Copy, Debug)]
pub enum PropertyValue<'m> {
    String(&'m str),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    /// (language code, text) pairs.
    LangString(&'m [(String, String)]),
    /// Another element (inline or referenced).
    Element(ElementRef<'m>),
    /// A reference the model does not contain (e.g. a Relationship target).
    Identifier(&'m str),
    /// An undefined extension property, kept as written.
    Json(&'m serde_json::Value),
}

/// A borrowed view of one element.
#[derive(Clone, Copy)]
pub struct ElementRef<'m> {
    model: &'m Model,
    el: &'m El,
}

impl std::fmt::Debug for ElementRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.el.class, self.el.id)
    }
}

impl PartialEq for ElementRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.el.id == other.el.id
    }
}

impl<'m> ElementRef<'m> {
    /// The identifier (explicit or generated) as text.
    pub fn id(&self) -> &'m str {
        &self.el.id
    }

    /// The identifier as a [`Dtmi`].
    pub fn dtmi(&self) -> Option<Dtmi> {
        Dtmi::parse(&self.el.id).ok()
    }

    /// DTDL class name (`Interface`, `Telemetry`, `Object`, `Double`, ...).
    pub fn class(&self) -> &'m str {
        self.el.class
    }

    /// DTDL major version the element was written in.
    pub fn dtdl_version(&self) -> u8 {
        self.el.version
    }

    /// Extension co-types (DTMIs), e.g. semantic types or `Historized`.
    pub fn supplemental_types(&self) -> &'m [String] {
        &self.el.cotypes
    }

    /// Undefined co-types tolerated as written.
    pub fn undefined_types(&self) -> &'m [String] {
        &self.el.undefined_types
    }

    /// Whether the element carries co-type `t` (matched by full DTMI or by its last segment,
    /// e.g. `Historized` or `Temperature`).
    pub fn has_type(&self, t: &str) -> bool {
        self.el.class == t
            || self
                .el
                .cotypes
                .iter()
                .chain(self.el.undefined_types.iter())
                .any(|c| {
                    c == t
                        || c.rsplit(':')
                            .next()
                            .map(|s| s.split(';').next().unwrap_or(s))
                            == Some(t)
                })
    }

    /// Whether the element came from the submitted documents (not from the resolver or the
    /// standard elements).
    pub fn is_submitted(&self) -> bool {
        self.model
            .index
            .get(&self.el.id)
            .is_some_and(|i| self.model.submitted.get(*i).copied().unwrap_or(false))
    }

    /// Whether the element's identifier was written in the document (not generated).
    pub fn has_explicit_id(&self) -> bool {
        self.el.explicit_id
    }

    /// Whether this is one of the language's standard elements.
    pub fn is_standard(&self) -> bool {
        !self.model.index.contains_key(&self.el.id)
    }

    /// The element defining this one inline, and the property holding it.
    pub fn parent(&self) -> Option<(ElementRef<'m>, &'m str)> {
        let (_, prop) = self.el.parent?;
        let parent = crate::parser::parent_of(&self.model.elements, self.el)?;
        Some((
            ElementRef {
                model: self.model,
                el: parent,
            },
            prop,
        ))
    }

    /// The values of a property (core properties by term, extension properties by DTMI or
    /// by their short name).
    pub fn property(&self, name: &str) -> Vec<PropertyValue<'m>> {
        let model = self.model;
        self.el
            .props
            .iter()
            .filter(|p| {
                p.name == name || (p.kind == PropKind::Supplemental && short_name(&p.name) == name)
            })
            .flat_map(|p| p.values.iter())
            .map(|v| value(model, v))
            .collect()
    }

    /// Every property with its values, in document order.
    pub fn properties(&self) -> Vec<(&'m str, Vec<PropertyValue<'m>>)> {
        let model = self.model;
        self.el
            .props
            .iter()
            .map(|p| {
                (
                    p.name.as_ref(),
                    p.values.iter().map(|v| value(model, v)).collect(),
                )
            })
            .collect()
    }

    /// The parsed element behind this view.
    pub(crate) fn raw(&self) -> &'m El {
        self.el
    }

    pub(crate) fn string(&self, name: &str) -> Option<&'m str> {
        self.property(name).into_iter().find_map(|v| match v {
            PropertyValue::String(s) => Some(s),
            _ => None,
        })
    }

    fn lang(&self, name: &str) -> BTreeMap<&'m str, &'m str> {
        self.property(name)
            .into_iter()
            .flat_map(|v| match v {
                PropertyValue::LangString(pairs) => pairs
                    .iter()
                    .map(|(l, t)| (l.as_str(), t.as_str()))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Elements referenced or defined inline by a property.
    pub fn elements(&self, name: &str) -> Vec<ElementRef<'m>> {
        self.property(name)
            .into_iter()
            .filter_map(|v| match v {
                PropertyValue::Element(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// `name` (contents, fields, enum values, ...).
    pub fn name(&self) -> Option<&'m str> {
        self.string("name")
    }

    /// `displayName` by language code.
    pub fn display_name(&self) -> BTreeMap<&'m str, &'m str> {
        self.lang("displayName")
    }

    /// `description` by language code.
    pub fn description(&self) -> BTreeMap<&'m str, &'m str> {
        self.lang("description")
    }

    /// `comment`.
    pub fn comment(&self) -> Option<&'m str> {
        self.string("comment")
    }

    /// `schema` (Telemetry, Property, Field, MapValue, command payloads, Component, MapKey).
    pub fn schema(&self) -> Option<ElementRef<'m>> {
        self.elements("schema").into_iter().next()
    }

    /// The Interface's own contents (Telemetry, Property, Command, Component, Relationship).
    pub fn contents(&self) -> Vec<ElementRef<'m>> {
        self.elements("contents")
    }

    /// The Interfaces this Interface extends directly.
    pub fn extends(&self) -> Vec<ElementRef<'m>> {
        self.elements("extends")
    }

    /// Own and inherited contents of an Interface (own first, then each base in `extends`
    /// order, depth first; each element once).
    pub fn all_contents(&self) -> Vec<ElementRef<'m>> {
        let mut out: Vec<ElementRef<'m>> = Vec::new();
        let mut seen_ifaces: Vec<&'m str> = Vec::new();
        let mut stack = vec![*self];
        while let Some(iface) = stack.pop() {
            if seen_ifaces.contains(&iface.id()) || seen_ifaces.len() > 4096 {
                continue;
            }
            seen_ifaces.push(iface.id());
            for c in iface.contents() {
                if !out.iter().any(|o| o.id() == c.id()) {
                    out.push(c);
                }
            }
            let mut bases = iface.extends();
            bases.reverse();
            stack.extend(bases);
        }
        out
    }

    /// Contents (own and inherited) of one class, e.g. `Telemetry`.
    pub fn contents_of_class(&self, class: &str) -> Vec<ElementRef<'m>> {
        self.all_contents()
            .into_iter()
            .filter(|c| c.class() == class)
            .collect()
    }

    /// Telemetry of an Interface (own and inherited).
    pub fn telemetries(&self) -> Vec<ElementRef<'m>> {
        self.contents_of_class("Telemetry")
    }

    /// Properties of an Interface (own and inherited).
    pub fn twin_properties(&self) -> Vec<ElementRef<'m>> {
        self.contents_of_class("Property")
    }

    /// Commands of an Interface (own and inherited).
    pub fn commands(&self) -> Vec<ElementRef<'m>> {
        self.contents_of_class("Command")
    }

    /// Components of an Interface (own and inherited).
    pub fn components(&self) -> Vec<ElementRef<'m>> {
        self.contents_of_class("Component")
    }

    /// Relationships of an Interface (own and inherited).
    pub fn relationships(&self) -> Vec<ElementRef<'m>> {
        self.contents_of_class("Relationship")
    }

    /// A content (own or inherited) by name.
    pub fn content(&self, name: &str) -> Option<ElementRef<'m>> {
        self.all_contents()
            .into_iter()
            .find(|c| c.name() == Some(name))
    }

    /// `writable` of a Property (false when absent).
    pub fn writable(&self) -> bool {
        self.property("writable")
            .into_iter()
            .any(|v| matches!(v, PropertyValue::Boolean(true)))
    }

    /// Command `request` payload.
    pub fn request(&self) -> Option<ElementRef<'m>> {
        self.elements("request").into_iter().next()
    }

    /// Command `response` payload.
    pub fn response(&self) -> Option<ElementRef<'m>> {
        self.elements("response").into_iter().next()
    }

    /// Relationship `target` (an Interface DTMI), if given.
    pub fn target(&self) -> Option<&'m str> {
        self.string("target")
    }

    /// The `unit` of a semantically typed element (the unit element), if any.
    pub fn unit(&self) -> Option<ElementRef<'m>> {
        self.elements("unit").into_iter().next()
    }

    /// Array `elementSchema`.
    pub fn element_schema(&self) -> Option<ElementRef<'m>> {
        self.elements("elementSchema").into_iter().next()
    }

    /// Object `fields`.
    pub fn fields(&self) -> Vec<ElementRef<'m>> {
        self.elements("fields")
    }

    /// Enum `enumValues`.
    pub fn enum_values(&self) -> Vec<ElementRef<'m>> {
        self.elements("enumValues")
    }

    /// Enum `valueSchema`.
    pub fn value_schema(&self) -> Option<ElementRef<'m>> {
        self.elements("valueSchema").into_iter().next()
    }

    /// EnumValue `enumValue` (an integer or a string).
    pub fn enum_value(&self) -> Option<PropertyValue<'m>> {
        self.property("enumValue").into_iter().next()
    }

    /// Map `mapKey`.
    pub fn map_key(&self) -> Option<ElementRef<'m>> {
        self.elements("mapKey").into_iter().next()
    }

    /// Map `mapValue`.
    pub fn map_value(&self) -> Option<ElementRef<'m>> {
        self.elements("mapValue").into_iter().next()
    }

    /// Interface `schemas` (reusable complex schemas).
    pub fn schemas(&self) -> Vec<ElementRef<'m>> {
        self.elements("schemas")
    }

    /// Whether the element is a schema (primitive or complex).
    pub fn is_schema(&self) -> bool {
        crate::metamodel::Metamodel::get().is_subclass(self.el.class, "Schema")
    }
}

fn short_name(pid: &str) -> &str {
    let last = pid.rsplit(':').next().unwrap_or(pid);
    last.split(';').next().unwrap_or(last)
}

fn value<'m>(model: &'m Model, v: &'m Val) -> PropertyValue<'m> {
    match v {
        Val::Ref { target, .. } => match model.element(target) {
            Some(e) => PropertyValue::Element(e),
            None => PropertyValue::Identifier(target),
        },
        Val::Str(s) => PropertyValue::String(s),
        Val::Int(n) => PropertyValue::Integer(*n),
        Val::Num(n) => PropertyValue::Number(*n),
        Val::Bool(b) => PropertyValue::Boolean(*b),
        Val::Lang(l) => PropertyValue::LangString(l),
        Val::Json(j) => PropertyValue::Json(j),
    }
}

impl Serialize for PropertyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PropertyValue::String(v) | PropertyValue::Identifier(v) => s.serialize_str(v),
            PropertyValue::Integer(n) => s.serialize_i64(*n),
            PropertyValue::Number(n) => s.serialize_f64(*n),
            PropertyValue::Boolean(b) => s.serialize_bool(*b),
            PropertyValue::LangString(pairs) => {
                let mut m = s.serialize_map(Some(pairs.len()))?;
                for (l, t) in pairs.iter() {
                    m.serialize_entry(l, t)?;
                }
                m.end()
            }
            PropertyValue::Element(e) => s.serialize_str(e.id()),
            PropertyValue::Json(j) => j.serialize(s),
        }
    }
}

impl Serialize for ElementRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Element", 7)?;
        st.serialize_field("id", self.id())?;
        st.serialize_field("class", self.class())?;
        st.serialize_field("dtdlVersion", &self.dtdl_version())?;
        st.serialize_field("supplementalTypes", self.supplemental_types())?;
        st.serialize_field("undefinedTypes", self.undefined_types())?;
        st.serialize_field("parent", &self.parent().map(|(p, prop)| (p.id(), prop)))?;
        let props: BTreeMap<&str, Vec<PropertyValue<'_>>> = self.properties().into_iter().collect();
        st.serialize_field("properties", &props)?;
        st.end()
    }
}

impl Serialize for Model {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Model", 2)?;
        st.serialize_field("documents", &self.documents)?;
        let elements: Vec<ElementRef<'_>> = self.elements().collect();
        st.serialize_field("elements", &elements)?;
        st.end()
    }
}

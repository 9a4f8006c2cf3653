//! The parsed object model handed to backends: every element keyed by its identifier (explicit
//! or generated), plus per-document facts (roots, DTDL version, external references) that the
//! repository service uses as dependency edges.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::dtmi::Dtmi;

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

/// A property value in the object model.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PropertyValue {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    /// Language code → text.
    LangString(BTreeMap<String, String>),
    /// Another element of the model (inline or referenced).
    Reference(Dtmi),
    /// Several values of a plural property, in document order.
    List(Vec<PropertyValue>),
    /// An undefined (extension) property kept as written.
    Json(serde_json::Value),
}

/// One parsed element.
#[derive(Clone, Debug, Serialize)]
pub struct Element {
    pub id: Dtmi,
    /// DTDL class name (`Interface`, `Telemetry`, `Object`, ...).
    pub class: String,
    pub dtdl_version: u8,
    /// Extension (supplemental) co-types, e.g. `dtmi:dtdl:extension:historization:v1:Historized`.
    pub supplemental_types: Vec<String>,
    /// Undefined co-types tolerated as written (DTDL v2, or undefined extensions).
    pub undefined_types: Vec<String>,
    /// The element this one is defined inside, and the property holding it.
    pub parent: Option<(Dtmi, String)>,
    /// Properties by name (core properties by term, extension properties by DTMI).
    pub properties: BTreeMap<String, PropertyValue>,
    /// Whether the element is one of the language's standard elements.
    pub standard: bool,
}

/// A successfully parsed model.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Model {
    pub(crate) documents: Vec<DocumentInfo>,
    pub(crate) elements: BTreeMap<Dtmi, Element>,
}

impl Model {
    /// One entry per input document, in input order.
    pub fn documents(&self) -> &[DocumentInfo] {
        &self.documents
    }

    /// Every element of the model, including resolved and referenced standard elements.
    pub fn elements(&self) -> &BTreeMap<Dtmi, Element> {
        &self.elements
    }

    /// Looks an element up by identifier.
    pub fn element(&self, id: &Dtmi) -> Option<&Element> {
        self.elements.get(id)
    }
}

/// Converts the parser's elements into the public model.
pub(crate) fn build(documents: Vec<DocumentInfo>, session: &crate::parser::Session<'_>) -> Model {
    let mut elements = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for el in &session.elements {
        if let Some(e) = convert(el, false, &mut pending) {
            elements.insert(e.id.clone(), e);
        }
    }
    // Standard elements referenced by the model become part of it.
    while let Some(id) = pending.pop() {
        let Ok(dtmi) = Dtmi::parse(&id) else { continue };
        if elements.contains_key(&dtmi) {
            continue;
        }
        if let Some(el) = session.lookup(&id)
            && let Some(e) = convert(el, true, &mut pending)
        {
            elements.insert(dtmi, e);
        }
    }
    Model {
        documents,
        elements,
    }
}

fn convert(el: &crate::parser::El, standard: bool, pending: &mut Vec<String>) -> Option<Element> {
    use crate::parser::{PropKind, Val};
    let id = Dtmi::parse(&el.id).ok()?;
    let mut properties = BTreeMap::new();
    for p in &el.props {
        let mut values: Vec<PropertyValue> = Vec::new();
        for v in &p.values {
            values.push(match v {
                Val::Ref { target, .. } => {
                    pending.push(target.clone());
                    match Dtmi::parse(target) {
                        Ok(d) => PropertyValue::Reference(d),
                        Err(_) => PropertyValue::String(target.clone()),
                    }
                }
                Val::Str(s) => PropertyValue::String(s.clone()),
                Val::Int(n) => PropertyValue::Integer(*n),
                Val::Num(n) => PropertyValue::Number(*n),
                Val::Bool(b) => PropertyValue::Boolean(*b),
                Val::Lang(l) => PropertyValue::LangString(l.iter().cloned().collect()),
                Val::Json(j) => PropertyValue::Json(j.clone()),
            });
        }
        let plural = p.kind == PropKind::Core
            && crate::metamodel::Metamodel::get()
                .class(&el.class)
                .and_then(|c| c.properties.get(&p.name))
                .is_some_and(|f| {
                    f.common.plural && f.common.datatype.as_deref() != Some("langString")
                });
        let value = if plural || values.len() != 1 {
            PropertyValue::List(values)
        } else {
            values.pop()?
        };
        properties.insert(p.name.clone(), value);
    }
    Some(Element {
        id,
        class: el.class.clone(),
        dtdl_version: el.version,
        supplemental_types: el.cotypes.clone(),
        undefined_types: el.undefined_types.clone(),
        parent: el
            .parent
            .as_ref()
            .and_then(|(p, prop)| Some((Dtmi::parse(p).ok()?, prop.clone()))),
        properties,
        standard,
    })
}

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

/// One parsed element.
#[derive(Clone, Debug, Serialize)]
pub struct Element {
    pub id: Dtmi,
    /// DTDL class name (`Interface`, `Telemetry`, `Object`, ...).
    pub class: String,
    pub dtdl_version: u8,
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

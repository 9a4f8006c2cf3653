//! The DTDL parser: turns JSON texts into a [`Model`] or a list of [`ParsingError`]s.
//!
//! Flow: each text is read with serde_json (which bounds nesting depth), its top-level
//! elements are checked and walked, definitions and references are collected, missing
//! identifiers are requested from the resolver one batch per round, and finally whole-model
//! rules are checked. Errors are collected, never thrown, and sorted deterministically.

mod walk;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::dtmi::Dtmi;
use crate::error::{DocumentRef, ParseFailure, ParsingError, ResolutionError, SourceLocation};
use crate::location::locate;
use crate::model::{DocumentInfo, Element, Model};
use crate::options::ParsingOptions;
use crate::resolver::Resolver;

/// Parses the documents of one model together.
///
/// `documents` are JSON texts, each an object or an array of objects. References to
/// identifiers defined nowhere in them are requested from `resolver`, all missing identifiers
/// in one call per round. Without a resolver such references fail the parse with
/// [`ParseFailure::Unresolved`].
pub fn parse(
    documents: &[&str],
    mut resolver: Option<&mut dyn Resolver>,
    options: &ParsingOptions,
) -> Result<Model, ParseFailure> {
    let mut session = Session::new(options);
    for (i, text) in documents.iter().enumerate() {
        session.add_document(DocumentRef::Input(i), text);
    }
    loop {
        let missing = session.undefined_references();
        if missing.is_empty() {
            break;
        }
        let Some(r) = resolver.as_deref_mut() else {
            break;
        };
        let texts = r.resolve(&missing).map_err(ParseFailure::Resolver)?;
        if !session.add_resolved(&missing, &texts) {
            break;
        }
    }
    session.finish()
}

/// The async counterpart of [`parse`]: the same rounds, awaiting the resolver.
#[cfg(feature = "async")]
pub async fn parse_async<R: crate::resolver::AsyncResolver>(
    documents: &[&str],
    mut resolver: Option<&mut R>,
    options: &ParsingOptions,
) -> Result<Model, ParseFailure> {
    let mut session = Session::new(options);
    for (i, text) in documents.iter().enumerate() {
        session.add_document(DocumentRef::Input(i), text);
    }
    loop {
        let missing = session.undefined_references();
        if missing.is_empty() {
            break;
        }
        let Some(r) = resolver.as_deref_mut() else {
            break;
        };
        let texts = r.resolve(&missing).await.map_err(ParseFailure::Resolver)?;
        if !session.add_resolved(&missing, &texts) {
            break;
        }
    }
    session.finish()
}

/// One JSON text taking part in the parse.
pub(crate) struct SourceDoc {
    pub(crate) doc: DocumentRef,
    pub(crate) text: String,
}

/// A reference from an element property to an identifier.
#[derive(Clone, Debug)]
pub(crate) struct Reference {
    pub(crate) target: Dtmi,
    /// Index into `Session::sources`.
    pub(crate) source: usize,
    pub(crate) pointer: String,
}

/// An error whose location is still a (source index, pointer) pair; line and column are
/// computed only at the end, for the errors actually reported.
pub(crate) struct PendingError {
    pub(crate) error: ParsingError,
    pub(crate) source: usize,
    pub(crate) pointer: String,
}

/// State of one parse.
pub(crate) struct Session<'o> {
    pub(crate) options: &'o ParsingOptions,
    pub(crate) sources: Vec<SourceDoc>,
    pub(crate) elements: BTreeMap<Dtmi, Element>,
    /// Source index that defines each element.
    pub(crate) defined_in: HashMap<Dtmi, usize>,
    pub(crate) references: Vec<Reference>,
    pub(crate) errors: Vec<PendingError>,
    /// Per input document: roots and version.
    pub(crate) input_docs: Vec<(Vec<Dtmi>, u8)>,
}

impl<'o> Session<'o> {
    fn new(options: &'o ParsingOptions) -> Self {
        Session {
            options,
            sources: Vec::new(),
            elements: BTreeMap::new(),
            defined_in: HashMap::new(),
            references: Vec::new(),
            errors: Vec::new(),
            input_docs: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, source: usize, pointer: impl Into<String>, error: ParsingError) {
        self.errors.push(PendingError {
            error,
            source,
            pointer: pointer.into(),
        });
    }

    fn add_document(&mut self, doc: DocumentRef, text: &str) {
        let source = self.sources.len();
        let is_input = matches!(doc, DocumentRef::Input(_));
        self.sources.push(SourceDoc {
            doc,
            text: text.to_owned(),
        });
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (roots, version) = match serde_json::from_str::<Value>(text) {
            Ok(value) => walk::walk_document(self, source, &value),
            Err(e) => {
                let name = if e.is_syntax() || e.is_eof() {
                    "invalidJson"
                } else {
                    "notJsonObject"
                };
                self.error(source, "", ParsingError::new(name).value(e.to_string()));
                (Vec::new(), 0)
            }
        };
        if is_input {
            self.input_docs.push((roots, version));
        }
    }

    /// Adds resolver output; returns false when it defined none of the requested ids (so the
    /// loop stops instead of asking again).
    fn add_resolved(&mut self, requested: &[Dtmi], texts: &[String]) -> bool {
        let before = self.defined_in.len();
        for text in texts {
            let doc = first_id(text).unwrap_or_else(|| requested[0].clone());
            self.add_document(DocumentRef::Resolved(doc), text);
        }
        self.defined_in.len() > before && requested.iter().any(|d| self.defined_in.contains_key(d))
    }

    /// Referenced identifiers that no document defines and that are not standard elements.
    fn undefined_references(&self) -> Vec<Dtmi> {
        let set: BTreeSet<&Dtmi> = self
            .references
            .iter()
            .map(|r| &r.target)
            .filter(|t| !self.defined_in.contains_key(*t) && !walk::is_standard(t))
            .collect();
        set.into_iter().cloned().collect()
    }

    fn location(&self, source: usize, pointer: &str) -> SourceLocation {
        let src = &self.sources[source];
        let (line, column) = locate(&src.text, pointer);
        SourceLocation {
            document: src.doc.clone(),
            pointer: pointer.to_owned(),
            line,
            column,
        }
    }

    fn finish(mut self) -> Result<Model, ParseFailure> {
        if !self.errors.is_empty() {
            let mut pending = std::mem::take(&mut self.errors);
            pending.sort_by(|a, b| (a.source, &a.pointer).cmp(&(b.source, &b.pointer)));
            let errors = pending
                .into_iter()
                .map(|p| {
                    let mut e = p.error;
                    e.location = Some(self.location(p.source, &p.pointer));
                    e
                })
                .collect();
            return Err(ParseFailure::Invalid(errors));
        }
        let missing = self.undefined_references();
        if !missing.is_empty() {
            let wanted: BTreeSet<&Dtmi> = missing.iter().collect();
            let references = self
                .references
                .iter()
                .filter(|r| wanted.contains(&r.target))
                .map(|r| (r.target.clone(), self.location(r.source, &r.pointer)))
                .collect();
            return Err(ParseFailure::Unresolved(ResolutionError {
                unresolved: missing,
                references,
            }));
        }
        let mut documents: Vec<DocumentInfo> = self
            .input_docs
            .iter()
            .map(|(roots, v)| DocumentInfo {
                roots: roots.clone(),
                dtdl_version: *v,
                external_references: BTreeSet::new(),
            })
            .collect();
        for r in &self.references {
            if let DocumentRef::Input(i) = self.sources[r.source].doc
                && !walk::is_standard(&r.target)
                && self.defined_in.get(&r.target) != Some(&r.source)
                && let Some(d) = documents.get_mut(i)
            {
                d.external_references.insert(r.target.clone());
            }
        }
        Ok(Model {
            documents,
            elements: self.elements,
        })
    }
}

/// The `@id` of the first element of a JSON text, used to name resolved documents.
fn first_id(text: &str) -> Option<Dtmi> {
    let v: Value = serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text)).ok()?;
    let obj = match &v {
        Value::Array(a) => a.first()?,
        other => other,
    };
    obj.get("@id")?.as_str().and_then(|s| Dtmi::parse(s).ok())
}

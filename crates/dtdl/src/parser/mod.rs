//! The DTDL parser: turns JSON texts into a [`Model`] or a list of [`ParsingError`]s.
//!
//! Flow: each text is read with serde_json (which bounds nesting depth), its top-level
//! elements are checked and walked, definitions and references are collected, missing
//! identifiers are requested from the resolver one batch per round, and finally whole-model
//! rules are checked. Errors are collected, never thrown, and sorted deterministically.

mod checks;
mod core_property;
mod element;
mod identifiers;
mod json;
mod scope;
mod supplemental;
mod types;
mod values;

pub(crate) use scope::dtdl_context_id;
pub(crate) use values::is_duration;
pub(crate) use values::matches as values_matches;

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::fxhash::FxHashMap;
use std::sync::OnceLock;

use json::Json as Value;

use crate::dtmi::Dtmi;
use crate::error::{DocumentRef, ParseFailure, ParsingError, ResolutionError, SourceLocation};
use crate::location::locate;
use crate::metamodel::{PropertyFacts, PropertyVersion};
use crate::model::{DocumentInfo, Model};
use crate::options::ParsingOptions;
use crate::resolver::Resolver;
use element::{Range, Site};
use scope::Scope;

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
    // Load the language's standard elements up front (once per process).
    standard_base();
    let mut session = Session::new(options);
    for (i, text) in documents.iter().enumerate() {
        session.add_document(DocumentRef::Input(i), Cow::Borrowed(text));
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
        if !session.add_resolved(&missing, texts) {
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
        session.add_document(DocumentRef::Input(i), Cow::Borrowed(text));
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
        if !session.add_resolved(&missing, texts) {
            break;
        }
    }
    session.finish()
}

/// One JSON text taking part in the parse.
pub(crate) struct SourceDoc<'t> {
    pub(crate) doc: DocumentRef,
    pub(crate) text: Cow<'t, str>,
}

/// A reference from an element property to an identifier.
#[derive(Clone, Debug)]
pub(crate) struct Reference {
    pub(crate) target: String,
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

/// How a property of an element was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PropKind {
    /// A property of the element's class in the core language.
    Core,
    /// A property of one of its supplemental (extension) co-types; `name` is its DTMI.
    Supplemental,
    /// An undefined property tolerated next to an undefined co-type.
    Undefined,
}

/// One property value as parsed.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// `standard`: the target is one of the language's standard elements.
    Ref {
        target: String,
        /// Index within the property's array value (none for a single value); the JSON
        /// pointer is derived from the property's pointer when an error needs it.
        pointer: Option<u32>,
        inline: bool,
        standard: bool,
        /// For an inline child: its index in the arena of the element holding the
        /// reference, so that whole-model checks reach it without a lookup by identifier.
        arena_index: Option<u32>,
    },
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    Lang(Vec<(String, String)>),
    Json(serde_json::Value),
}

/// The values of one property. Most properties hold a single value, which is kept inline
/// rather than in a one-element vector.
#[derive(Clone, Debug, Default)]
pub(crate) enum Vals {
    #[default]
    Empty,
    One(Val),
    Many(Vec<Val>),
}

impl Vals {
    pub(crate) fn push(&mut self, v: Val) {
        // Only the single-to-many step moves the existing value out.
        match self {
            Vals::Many(all) => all.push(v),
            Vals::Empty => *self = Vals::One(v),
            Vals::One(_) => {
                if let Vals::One(first) = std::mem::take(self) {
                    *self = Vals::Many(vec![first, v]);
                }
            }
        }
    }
}

impl std::ops::Deref for Vals {
    type Target = [Val];

    fn deref(&self) -> &[Val] {
        match self {
            Vals::Empty => &[],
            Vals::One(v) => std::slice::from_ref(v),
            Vals::Many(all) => all,
        }
    }
}

impl<'a> IntoIterator for &'a Vals {
    type Item = &'a Val;
    type IntoIter = std::slice::Iter<'a, Val>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One property of a parsed element.
#[derive(Clone, Debug)]
pub(crate) struct Prop {
    /// Core properties by name, extension properties by DTMI (both `'static` metamodel
    /// keys), undefined properties as written.
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: PropKind,
    pub(crate) values: Vals,
    pub(crate) pointer: String,
    /// The metamodel definition of a core property (kept so checks need no lookups).
    pub(crate) facts: Option<(&'static PropertyFacts, &'static PropertyVersion)>,
}

/// A parsed element, before conversion to the public object model.
#[derive(Clone, Debug)]
pub(crate) struct El {
    pub(crate) id: String,
    pub(crate) class: &'static str,
    pub(crate) version: u8,
    /// Supplemental (extension) type DTMIs.
    pub(crate) cotypes: Vec<String>,
    /// Undefined co-types tolerated as written.
    pub(crate) undefined_types: Vec<String>,
    pub(crate) source: usize,
    pub(crate) pointer: String,
    pub(crate) explicit_id: bool,
    pub(crate) limits: &'static str,
    pub(crate) props: Vec<Prop>,
    /// (parent id, property) for elements defined inline.
    /// (index of the parent in the same element arena, property) for elements defined inline.
    pub(crate) parent: Option<(usize, &'static str)>,
    /// One of the language's standard elements (its parent index refers to their arena).
    pub(crate) standard: bool,
    /// Index of the partition (nearest enclosing Interface, or itself) in `Session::elements`.
    pub(crate) partition: Option<usize>,
    /// Defined inline (at any depth) inside a complex schema.
    pub(crate) in_schema: bool,
}

impl Prop {
    /// The JSON pointer of one value of this property.
    pub(crate) fn value_pointer(&self, index: Option<u32>) -> String {
        match index {
            Some(i) => join_index(&self.pointer, i as usize),
            None => self.pointer.clone(),
        }
    }
}

impl El {
    pub(crate) fn prop(&self, name: &str) -> Option<&Prop> {
        self.props
            .iter()
            .find(|p| p.kind == PropKind::Core && p.name == name)
    }

    /// Targets of the references held by a core property.
    pub(crate) fn refs<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.prop(name)
            .into_iter()
            .flat_map(|p| p.values.iter())
            .filter_map(|v| match v {
                Val::Ref { target, .. } => Some(target.as_str()),
                _ => None,
            })
    }

    /// The first string value of a core property.
    pub(crate) fn str_value(&self, name: &str) -> Option<&str> {
        self.prop(name)?.values.iter().find_map(|v| match v {
            Val::Str(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

/// The standard elements of the language (schemas, units, ...), parsed once.
pub(crate) struct StandardBase {
    pub(crate) elements: Vec<El>,
    pub(crate) index: FxHashMap<String, usize>,
}

/// The element an element is defined inside.
pub(crate) fn parent_of<'a>(arena: &'a [El], el: &El) -> Option<&'a El> {
    let (i, _) = el.parent?;
    if el.standard {
        standard_base().elements.get(i)
    } else {
        arena.get(i)
    }
}

/// A standard element by identifier.
pub(crate) fn standard_element(id: &str) -> Option<&'static El> {
    let base = standard_base();
    base.index.get(id).and_then(|i| base.elements.get(*i))
}

fn standard_base() -> &'static StandardBase {
    static BASE: OnceLock<StandardBase> = OnceLock::new();
    BASE.get_or_init(|| {
        let options = ParsingOptions {
            undefined_extensions: crate::options::UndefinedExtensions::Always,
            ..ParsingOptions::default()
        };
        let mut s = Session::new(&options);
        s.building_standard = true;
        let mm = crate::metamodel::Metamodel::get();
        for e in &mm.facts.elements {
            let text = e.to_string();
            s.add_document(DocumentRef::Input(0), Cow::Owned(text));
        }
        StandardBase {
            elements: s.elements,
            index: s.index,
        }
    })
}

/// State of one parse.
pub(crate) struct Session<'o> {
    pub(crate) options: &'o ParsingOptions,
    pub(crate) sources: Vec<SourceDoc<'o>>,
    pub(crate) elements: Vec<El>,
    pub(crate) index: FxHashMap<String, usize>,
    pub(crate) errors: Vec<PendingError>,
    /// Per input document: roots and version.
    pub(crate) input_docs: Vec<(Vec<String>, u8)>,
    /// True while parsing the language's own standard elements.
    pub(crate) building_standard: bool,
    /// DTDL version of the element whose properties are being read.
    pub(crate) current_version: u8,
    /// Referenced identifiers not yet defined, and how many elements have been scanned.
    pending: BTreeSet<String>,
    scanned: usize,
}

impl<'o> Session<'o> {
    fn new(options: &'o ParsingOptions) -> Self {
        Session {
            options,
            sources: Vec::new(),
            elements: Vec::new(),
            index: FxHashMap::default(),
            errors: Vec::new(),
            input_docs: Vec::new(),
            building_standard: false,
            current_version: 0,
            pending: BTreeSet::new(),
            scanned: 0,
        }
    }

    pub(crate) fn error(&mut self, source: usize, pointer: impl Into<String>, error: ParsingError) {
        if !self.building_standard {
            self.errors.push(PendingError {
                error,
                source,
                pointer: pointer.into(),
            });
        }
    }

    /// Looks an element up among parsed and standard elements.
    pub(crate) fn lookup(&self, id: &str) -> Option<&El> {
        if let Some(i) = self.index.get(id) {
            return self.elements.get(*i);
        }
        if self.building_standard {
            return None;
        }
        let base = standard_base();
        base.index.get(id).and_then(|i| base.elements.get(*i))
    }

    /// The element a reference held by `holder` designates, as [`Session::lookup`] finds
    /// it. An inline child of a parsed element is the arena entry recorded when it was
    /// registered (its identifier maps to that entry and is never rebound), so no hashing
    /// is needed; other references are looked up.
    pub(crate) fn ref_target(
        &self,
        holder: &El,
        target: &str,
        arena_index: Option<u32>,
    ) -> Option<&El> {
        if !holder.standard
            && let Some(i) = arena_index
        {
            return self.elements.get(i as usize);
        }
        self.lookup(target)
    }

    fn add_document(&mut self, doc: DocumentRef, text: Cow<'o, str>) {
        let source = self.sources.len();
        let is_input = matches!(doc, DocumentRef::Input(_)) && !self.building_standard;
        // The text is stored after the walk: the parsed tree borrows from it.
        self.sources.push(SourceDoc {
            doc,
            text: Cow::Borrowed(""),
        });
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let parsed = serde_json::from_str::<Value<'_>>(body);
        let (roots, version) = match parsed {
            Ok(value) => self.walk_document(source, &value),
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
        // Partition size limit (DTDL v3+): measured on the document of a single Interface.
        if let [root] = roots.as_slice() {
            self.check_partition_size(source, root, &text);
        }
        self.sources[source].text = text;
        if let DocumentRef::Resolved(_) = self.sources[source].doc
            && let Some(first) = roots.first().and_then(|r| Dtmi::parse(r).ok())
        {
            // Errors in resolved documents are located by the document's first identifier.
            self.sources[source].doc = DocumentRef::Resolved(first);
        }
        if is_input {
            self.input_docs.push((roots, version));
        }
    }

    /// Refuses an Interface whose document is larger than its version's partition limit.
    fn check_partition_size(&mut self, source: usize, root: &str, text: &str) {
        let mm = crate::metamodel::Metamodel::get();
        let Some(el) = self.index.get(root).and_then(|i| self.elements.get(*i)) else {
            return;
        };
        if !mm.class(el.class).is_some_and(|c| c.partition) {
            return;
        }
        let Some(max) = mm
            .facts
            .partitions
            .get(crate::metamodel::vkey(el.version))
            .and_then(|p| crate::metamodel::Metamodel::limit(&p.max_bytes, el.limits))
        else {
            return;
        };
        // Whitespace between tokens does not count: the size is that of the compact JSON.
        if text.len() as u64 > max && compact_len(text) as u64 > max {
            let bytes = compact_len(text);
            let (id, pointer) = (el.id.clone(), el.pointer.clone());
            self.error(
                source,
                pointer,
                ParsingError::new("partitionTooLarge")
                    .primary(id)
                    .value(bytes.to_string())
                    .restriction(max.to_string()),
            );
        }
    }

    /// Walks the top-level elements of one document; returns their ids and the version.
    fn walk_document(&mut self, source: usize, value: &Value) -> (Vec<String>, u8) {
        let mut roots = Vec::new();
        let mut version = 0;
        let tops: Vec<(String, &Value)> = match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("/{i}"), v))
                .collect(),
            other => vec![(String::new(), other)],
        };
        for (ptr, item) in tops {
            let Value::Object(o) = item else {
                self.error(source, ptr, ParsingError::new("notJsonObject"));
                continue;
            };
            let site = Site {
                parent_id: None,
                parent_class: None,
                property: None,
                segment: None,
                range: Range {
                    class: "Interface",
                    type_required: true,
                    ..Range::default()
                },
                top_level: true,
            };
            if self.building_standard {
                // Standard elements are of many classes and are trusted.
                let mut site = site;
                site.range.class = "Entity";
                site.top_level = false;
                let scope = o
                    .get("@context")
                    .and_then(|c| {
                        scope::apply_context(self, source, "/@context", c, &Scope::default(), true)
                    })
                    .unwrap_or_default();
                self.walk_element(source, &ptr, o, &scope, &site);
                continue;
            }
            if let Some(id) = self.walk_element(source, &ptr, o, &Scope::default(), &site) {
                if version == 0
                    && let Some(el) = self.lookup(&id)
                {
                    version = el.version;
                }
                roots.push(id);
            } else if version == 0 {
                version = top_level_version(o);
            }
        }
        (roots, version)
    }

    /// Adds resolver output; returns false when it defined none of the requested ids (so the
    /// loop stops instead of asking again).
    fn add_resolved(&mut self, requested: &[Dtmi], texts: Vec<String>) -> bool {
        let before = self.index.len();
        for text in texts {
            self.add_document(
                DocumentRef::Resolved(requested[0].clone()),
                Cow::Owned(text),
            );
        }
        self.index.len() > before
            && requested
                .iter()
                .any(|d| self.index.contains_key(d.as_str()))
    }

    /// Every reference held by parsed elements.
    fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        for el in &self.elements {
            for p in &el.props {
                for v in &p.values {
                    if let Val::Ref {
                        target,
                        pointer,
                        inline: false,
                        ..
                    } = v
                    {
                        out.push(Reference {
                            target: target.clone(),
                            source: el.source,
                            pointer: p.value_pointer(*pointer),
                        });
                    }
                }
            }
        }
        out
    }

    /// Referenced identifiers that no document defines and that are not standard elements.
    fn undefined_references(&mut self) -> Vec<Dtmi> {
        // Only elements added since the last round need scanning; earlier misses are
        // re-checked against the grown index.
        let mut pending = std::mem::take(&mut self.pending);
        for el in &self.elements[self.scanned..] {
            for p in &el.props {
                for v in &p.values {
                    if let Val::Ref {
                        target,
                        inline: false,
                        standard: false,
                        ..
                    } = v
                        && self.lookup(target).is_none()
                    {
                        pending.insert(target.clone());
                    }
                }
            }
        }
        self.scanned = self.elements.len();
        pending.retain(|t| self.lookup(t).is_none());
        let out = pending.iter().filter_map(|s| Dtmi::parse(s).ok()).collect();
        self.pending = pending;
        out
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

    fn take_errors(&mut self) -> Vec<ParsingError> {
        let mut pending = std::mem::take(&mut self.errors);
        pending.sort_by(|a, b| (a.source, &a.pointer).cmp(&(b.source, &b.pointer)));
        pending
            .dedup_by(|a, b| a.source == b.source && a.pointer == b.pointer && a.error == b.error);
        let mut located: Vec<(usize, ParsingError)> = pending
            .into_iter()
            .map(|p| {
                let mut e = p.error;
                e.location = Some(self.location(p.source, &p.pointer));
                (p.source, e)
            })
            .collect();
        // By document; within one, by phase (document structure, then contexts, then
        // elements: the order in which the reference parser judges, so the first error is
        // one it reports), then position (stable for equal positions).
        located.sort_by_key(|(source, e)| {
            (
                *source,
                phase(e.name()),
                e.location.as_ref().map(|l| (l.line, l.column)),
            )
        });
        located.into_iter().map(|(_, e)| e).collect()
    }

    fn finish(mut self) -> Result<Model, ParseFailure> {
        if !self.errors.is_empty() {
            return Err(ParseFailure::Invalid(self.take_errors()));
        }
        let missing = self.undefined_references();
        if !missing.is_empty() {
            let wanted: BTreeSet<&str> = missing.iter().map(Dtmi::as_str).collect();
            let references = self
                .references()
                .into_iter()
                .filter(|r| wanted.contains(r.target.as_str()))
                .filter_map(|r| {
                    Some((
                        Dtmi::parse(&r.target).ok()?,
                        self.location(r.source, &r.pointer),
                    ))
                })
                .collect();
            return Err(ParseFailure::Unresolved(ResolutionError {
                unresolved: missing,
                references,
            }));
        }
        self.check_model();
        if !self.errors.is_empty() {
            return Err(ParseFailure::Invalid(self.take_errors()));
        }
        let mut documents: Vec<DocumentInfo> = self
            .input_docs
            .iter()
            .map(|(roots, v)| DocumentInfo {
                roots: roots.iter().filter_map(|r| Dtmi::parse(r).ok()).collect(),
                dtdl_version: *v,
                external_references: BTreeSet::new(),
            })
            .collect();
        for el in &self.elements {
            let DocumentRef::Input(i) = self.sources[el.source].doc else {
                continue;
            };
            for p in &el.props {
                for v in &p.values {
                    let Val::Ref {
                        target,
                        inline: false,
                        ..
                    } = v
                    else {
                        continue;
                    };
                    let Some(t) = self.index.get(target).map(|t| &self.elements[*t]) else {
                        continue;
                    };
                    if t.source != el.source
                        && let Some(d) = documents.get_mut(i)
                        && let Ok(dtmi) = Dtmi::parse(target)
                    {
                        d.external_references.insert(dtmi);
                    }
                }
            }
        }
        let submitted = self
            .elements
            .iter()
            .map(|el| matches!(self.sources[el.source].doc, DocumentRef::Input(_)))
            .collect();
        Ok(Model {
            documents,
            elements: self.elements,
            index: self.index,
            submitted,
        })
    }
}

/// The phase of the reference parser in which an error of this kind is found: 0 for the
/// shape of the JSON-LD document, 1 for contexts, 2 for everything about elements.
fn phase(name: &str) -> u8 {
    match name {
        "invalidJson"
        | "notJsonObject"
        | "idNotString"
        | "invalidContextSpecifier"
        | "disallowedLocalContext"
        | "graphDisallowed"
        | "graphNotObject" => 0,
        "missingContext"
        | "emptyContext"
        | "missingDtdlContext"
        | "nonDtmiContextSpecifier"
        | "missingContextVersion"
        | "unrecognizedContextVersion"
        | "disallowedContextVersion"
        | "unresolvableContextVersion"
        | "unresolvableContextSpecifier"
        | "dtdlContextFollowsAffiliate"
        | "misplacedLimitContext"
        | "missingLimitContext"
        | "disallowedLimitContext"
        | "invalidContextFragment"
        | "disallowedContextFragment" => 1,
        _ => 2,
    }
}

/// The DTDL version named by a top-level `@context`, for documents that failed early.
fn top_level_version(o: &json::Obj<'_>) -> u8 {
    let one = |v: &Value| {
        v.as_str()
            .and_then(|s| s.strip_prefix("dtmi:dtdl:context;"))
            .and_then(|n| n.split('#').next())
            .and_then(|n| n.parse::<u8>().ok())
    };
    match o.get("@context") {
        Some(Value::Array(a)) => a.iter().rev().find_map(one).unwrap_or(0),
        Some(other) => one(other).unwrap_or(0),
        None => 0,
    }
}

/// `base` + `/` + the escaped token `seg` (RFC 6901), without the formatting machinery.
pub(crate) fn join(base: &str, seg: &str) -> String {
    let mut s = String::with_capacity(base.len() + seg.len() + 1);
    s.push_str(base);
    s.push('/');
    // A byte scan: `~` and `/` are ASCII, and a char-set pattern search costs more than
    // the whole join for the short keys seen here.
    if seg.bytes().any(|b| b == b'~' || b == b'/') {
        s.push_str(&escape(seg));
    } else {
        s.push_str(seg);
    }
    s
}

/// `base` + `/` + an array index.
pub(crate) fn join_index(base: &str, i: usize) -> String {
    let mut digits = [0u8; 20];
    let mut n = i;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut s = String::with_capacity(base.len() + len + 1);
    s.push_str(base);
    s.push('/');
    for d in digits[..len].iter().rev() {
        s.push(char::from(*d));
    }
    s
}

/// Length of a JSON text without insignificant whitespace.
fn compact_len(text: &str) -> usize {
    let mut in_string = false;
    let mut escaped = false;
    let mut n = 0;
    for b in text.bytes() {
        if in_string {
            n += 1;
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            n += 1;
            in_string = b == b'"';
        }
    }
    n
}

/// Escapes a key as a JSON pointer token (RFC 6901).
pub(crate) fn escape(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1").into()
    } else {
        key.into()
    }
}

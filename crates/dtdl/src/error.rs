//! Parse failures as data: every problem the parser finds becomes one [`ParsingError`] that
//! carries the validation ID of the conformance vocabulary (`dtmi:dtdl:parsingError:<name>`),
//! the element and property concerned, the offending value and where it sits in its input
//! document. All wording lives in the one `Display` implementation below.

use std::fmt;

use serde::Serialize;

use crate::dtmi::Dtmi;

/// Which document an error location points into.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DocumentRef {
    /// The n-th document passed to [`crate::parse`] (0-based).
    Input(usize),
    /// A document returned by the resolver for this DTMI.
    Resolved(Dtmi),
}

impl fmt::Display for DocumentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentRef::Input(i) => write!(f, "input document {i}"),
            DocumentRef::Resolved(d) => write!(f, "resolved document {d}"),
        }
    }
}

/// A position in an input or resolved document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SourceLocation {
    pub document: DocumentRef,
    /// RFC 6901 JSON pointer into that document.
    pub pointer: String,
    /// 1-based line of the value (or member) the pointer designates.
    pub line: usize,
    /// 1-based column (in characters) of that value.
    pub column: usize,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{} at {} (line {}, column {})",
            self.document, pointer, self.line, self.column
        )
    }
}

/// One problem in the submitted model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParsingError {
    /// `dtmi:dtdl:parsingError:<name>`, the conformance suite's vocabulary.
    pub validation_id: String,
    /// The element the error is about (explicit or generated identifier).
    pub primary_id: Option<String>,
    /// A second element involved (e.g. the referenced element).
    pub secondary_id: Option<String>,
    /// The property concerned (term as written or DTMI).
    pub property: Option<String>,
    /// The offending value, rendered as text.
    pub value: Option<String>,
    /// A type or class involved (e.g. the expected class).
    pub type_name: Option<String>,
    /// A restriction that was violated (a limit, pattern, version, ...).
    pub restriction: Option<String>,
    /// Where the problem is.
    pub location: Option<SourceLocation>,
}

impl ParsingError {
    pub(crate) fn new(name: &str) -> ParsingError {
        ParsingError {
            validation_id: format!("dtmi:dtdl:parsingError:{name}"),
            primary_id: None,
            secondary_id: None,
            property: None,
            value: None,
            type_name: None,
            restriction: None,
            location: None,
        }
    }

    /// The short name of the validation ID (`invalidId` for `dtmi:dtdl:parsingError:invalidId`).
    pub fn name(&self) -> &str {
        self.validation_id
            .strip_prefix("dtmi:dtdl:parsingError:")
            .unwrap_or(&self.validation_id)
    }

    pub(crate) fn primary(mut self, id: impl Into<String>) -> Self {
        self.primary_id = Some(id.into());
        self
    }
    pub(crate) fn secondary(mut self, id: impl Into<String>) -> Self {
        self.secondary_id = Some(id.into());
        self
    }
    pub(crate) fn property(mut self, p: impl Into<String>) -> Self {
        self.property = Some(p.into());
        self
    }
    pub(crate) fn value(mut self, v: impl Into<String>) -> Self {
        self.value = Some(v.into());
        self
    }
    pub(crate) fn type_name(mut self, t: impl Into<String>) -> Self {
        self.type_name = Some(t.into());
        self
    }
    pub(crate) fn restriction(mut self, r: impl Into<String>) -> Self {
        self.restriction = Some(r.into());
        self
    }
}

/// Renders `Some(x)` as `x` and `None` as a neutral placeholder inside messages.
struct Opt<'a>(&'a Option<String>, &'a str);

impl fmt::Display for Opt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "'{s}'"),
            None => f.write_str(self.1),
        }
    }
}

impl fmt::Display for ParsingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let el = Opt(&self.primary_id, "an element");
        let prop = Opt(&self.property, "a property");
        let val = Opt(&self.value, "the value");
        let ty = Opt(&self.type_name, "the required type");
        let lim = Opt(&self.restriction, "the limit");
        let other = Opt(&self.secondary_id, "another element");
        let name = self.name();
        match name {
            // Documents and contexts.
            "notJsonObject" => write!(
                f,
                "the document is not a JSON object or an array of objects; wrap each DTDL element in a JSON object"
            ),
            "invalidJson" => write!(
                f,
                "the document is not well-formed JSON ({val}); fix the syntax"
            ),
            "missingContext" => write!(
                f,
                "a top-level element has no @context; add \"@context\": \"dtmi:dtdl:context;3\" (or the DTDL version you target)"
            ),
            "emptyContext" => write!(
                f,
                "@context is empty; name a DTDL context such as dtmi:dtdl:context;3"
            ),
            "missingDtdlContext" => write!(
                f,
                "@context does not start with a DTDL context ({val} comes first); put dtmi:dtdl:context;N before any extension context"
            ),
            "dtdlContextFollowsAffiliate" => write!(
                f,
                "the DTDL context {val} follows an extension context; list the DTDL context first"
            ),
            "disallowedContextVersion" => write!(
                f,
                "@context {val} names a DTDL version above the accepted maximum {lim}; author the model in an accepted version"
            ),
            "unrecognizedContextVersion" => write!(
                f,
                "@context {val} names a DTDL version that does not exist; use dtmi:dtdl:context;2, ;3 or ;4"
            ),
            "unresolvableContextSpecifier" => write!(
                f,
                "@context {val} is not a context this parser knows, and undefined extensions are not allowed; remove it or allow undefined extensions"
            ),
            "unresolvableContextVersion" => write!(
                f,
                "@context {val} names a version of a known extension that does not exist; use a published version"
            ),
            "missingContextVersion" => write!(f, "@context {val} has no version; add one, e.g. ;1"),
            "nonDtmiContextSpecifier" | "invalidContextSpecifier" => write!(
                f,
                "@context entry {val} is not a context DTMI; each entry must be a string such as dtmi:dtdl:context;3"
            ),
            "disallowedLocalContext" => write!(
                f,
                "@context contains a local term definition, which DTDL does not allow; use only context identifiers"
            ),
            "invalidContextFragment" | "disallowedContextFragment" => write!(
                f,
                "@context {val} has a fragment that is not allowed there; only dtmi:dtdl:context;4#limitless and #limits exist"
            ),
            "misplacedLimitContext" => write!(
                f,
                "limits context {val} must directly follow dtmi:dtdl:context;4#limitless; reorder the @context"
            ),
            "missingLimitContext" => write!(
                f,
                "dtmi:dtdl:context;4#limitless must be followed by a limits context (dtmi:dtdl:context;4#limits or an accepted limit extension); add one"
            ),
            "disallowedLimitContext" => write!(
                f,
                "limit extension {val} is not among the acceptable limit contexts; use the core limits or configure the parser to accept it"
            ),
            // Identifiers.
            "idNotString" => write!(
                f,
                "an @id is not a string; write the identifier as a DTMI string"
            ),
            "invalidId" => write!(
                f,
                "@id {val} is not a valid identifier for this DTDL version ({lim}); use a DTMI like dtmi:com:example:Thing;1 without fragment or system segments"
            ),
            "idTooLong" | "idTooLongForType" => write!(
                f,
                "@id {val} is longer than the {lim} characters allowed; shorten it"
            ),
            "reservedId" => write!(
                f,
                "@id {val} uses a prefix reserved for the language (dtmi:dtdl:, dtmi:standard:, ...); choose an identifier in your own namespace"
            ),
            "duplicateDefinition" => write!(
                f,
                "{el} is defined more than once; give each element a distinct @id or remove the duplicate"
            ),
            "missingRequiredId" | "missingTopLevelId" => {
                write!(f, "the element in {prop} of {el} needs an @id; add one")
            }
            "idRefBadDtmiOrTerm" => write!(
                f,
                "{el} property {prop} refers to {val}, which is not a valid identifier for DTDL {lim}; correct the reference"
            ),
            "badDtmiOrTerm" => write!(
                f,
                "{el} property {prop} has value {val}, which is neither a defined term nor a DTMI; use a term such as \"double\" or a DTMI"
            ),
            "identifierNotString" => write!(
                f,
                "{el} property {prop} must be an identifier string; write a DTMI"
            ),
            "identifierNotDtmi" | "identifierInvalid" => write!(
                f,
                "{el} property {prop} value {val} is not a valid DTMI; write a DTMI such as dtmi:com:example:Thing;1"
            ),
            "identifierTooLong" => write!(
                f,
                "{el} property {prop} value {val} is too long; shorten it"
            ),
            // Types.
            "typeUndefinedTerm" => write!(
                f,
                "{el} has @type {val}, which no context in force defines; use a DTDL class term or add the extension context that defines it"
            ),
            "typeInvalidDtmi" => write!(
                f,
                "{el} has @type {val}, which looks like a DTMI but is not valid; correct it"
            ),
            "typeNotDtmiNorTerm" => write!(
                f,
                "{el} has @type {val}, which is neither a term nor a DTMI; use a class term such as \"Telemetry\""
            ),
            "typeIrrelevantDtmiOrTerm" => write!(
                f,
                "{el} has @type {val}, which is not a class or co-type usable here; remove it or use a fitting co-type"
            ),
            "typeNotRootable" => write!(
                f,
                "a top-level element has @type {val}; only an Interface may be top-level, so wrap it in an Interface"
            ),
            "multipleMaterialTypes" => write!(
                f,
                "{el} has more than one class in @type ({val}); keep exactly one class"
            ),
            "cotypeNotConcreteMaterial" => write!(
                f,
                "{el} has abstract class {ty} in @type; use a concrete class"
            ),
            "abstractSupplementalType" => write!(
                f,
                "{el} has abstract co-type {ty}; use one of its concrete co-types"
            ),
            "invalidCotype" => write!(
                f,
                "{el} has co-type {ty}, which cannot be combined with {lim} in this DTDL version; remove it or change the class"
            ),
            "missingCocotype" => write!(
                f,
                "{el} has co-type {ty}, which requires co-type {lim} as well; add it"
            ),
            "disallowedCocotype" => write!(
                f,
                "{el} has co-type {ty}, which cannot be combined with {lim}; remove one of them"
            ),
            "noTypeThatAllows" | "missingTypeInfo" => {
                write!(f, "{el} has no class in @type; add a class such as {ty}")
            }
            "badType" => write!(
                f,
                "{el} property {prop} holds {other}, which is not a {ty}; give it an element of that class"
            ),
            // Properties.
            "propertyUndefinedTerm"
            | "propertyNotDtmiNorTerm"
            | "propertyInvalidDtmi"
            | "propertyIrrelevantDtmiOrTerm" => write!(
                f,
                "{el} has property {prop}, which its class and co-types do not define; remove it, fix its name, or add the co-type (and extension context) that defines it"
            ),
            "duplicatePropertyName" => write!(
                f,
                "{el} gives property {prop} twice (as a term and as a DTMI); keep one"
            ),
            "keywordDisallowed" => write!(
                f,
                "{el} property {prop} uses JSON-LD keyword {val}, which DTDL does not allow there; remove it"
            ),
            "graphDisallowed" => write!(
                f,
                "{el} property {prop} uses @graph, which DTDL does not allow; remove it"
            ),
            "missingLiteralProperty" | "missingObjectProperty" => {
                write!(f, "{el} lacks required property {prop}; add it")
            }
            "missingSupplementalLiteralProperty" => write!(
                f,
                "{el} lacks property {prop}, required by its co-type {ty}; add it"
            ),
            "objectCountBelowMin" | "literalCountBelowMin" => write!(
                f,
                "{el} property {prop} has fewer values than the {lim} required; add values"
            ),
            "objectCountAboveMax" | "objectMultipleValues" | "literalMultipleValues" => write!(
                f,
                "{el} property {prop} has more values than the {lim} allowed; remove some"
            ),
            "refNotStringOrObject" => write!(
                f,
                "{el} property {prop} has value {val}; write a DTMI (or term) string or an inline element object"
            ),
            "missingDtmiSegPropertyValue" => write!(
                f,
                "an element in {el} property {prop} has no {val}; give it one (it names the element)"
            ),
            "dtmiSegPropertyNotStringOrNumber" => write!(
                f,
                "an element in {el} property {prop} has a {prop} value {val} that is not a string; write the name as a string"
            ),
            "nonUniquePropertyValue" => write!(
                f,
                "{el} property {prop} contains two elements with the same {ty} {val}; rename one"
            ),
            "nonUniqueImportedPropertyValue" => write!(
                f,
                "{el} has a content named {val} that is also defined in extended Interface {other}; rename one of them"
            ),
            "stringTooLong" | "langStringValueTooLong" => write!(
                f,
                "{el} property {prop} value {val} is longer than the {lim} characters allowed; shorten it"
            ),
            "stringInvalid" => write!(
                f,
                "{el} property {prop} value {val} does not have the required form ({lim}); rewrite it"
            ),
            "valueBelowMin" => write!(
                f,
                "{el} property {prop} value {val} is below the minimum {lim}; raise it"
            ),
            "valueAboveMax" => write!(
                f,
                "{el} property {prop} value {val} is above the maximum {lim}; lower it"
            ),
            "incorrectPropertyValue" => write!(
                f,
                "{el} property {prop} refers to {other}, which is not one of the allowed values ({lim}); use one of them"
            ),
            "literalNotValid" => write!(
                f,
                "{el} property {prop} value {val} must be an integer or a string; change it"
            ),
            "nonConformantDatatype" => write!(
                f,
                "{el} has {prop} of a different kind than its Enum's valueSchema {ty}; make all enum values match the valueSchema"
            ),
            // Whole-model rules.
            "crossPartitionReference" => write!(
                f,
                "{el} property {prop} refers to {other}, which is defined inside another Interface; only Interfaces and elements of the same Interface can be referenced, so define it here or reference its Interface"
            ),
            "disallowedVersionReference" | "disallowedVersionDefinition" => write!(
                f,
                "{el} property {prop} uses {other}, written in a DTDL version not allowed there (allowed: {lim}); use a compatible version"
            ),
            "excludedType" => write!(
                f,
                "{el} contains {other} of class {ty} through property {prop}, which the language forbids there; remove or restructure it"
            ),
            "excessiveDepthWide" | "excessiveDepthNarrow" => write!(
                f,
                "{el} nests {other} through {prop} deeper than the {lim} levels allowed; flatten the structure"
            ),
            "recursiveStructureWide" | "recursiveStructureNarrow" => write!(
                f,
                "{el} contains itself through property {prop}; remove the cycle"
            ),
            "partitionTooLarge" => write!(
                f,
                "{el} is {val} bytes long, more than the {lim} bytes an Interface may take; split it into several Interfaces"
            ),
            "excessiveCount" => write!(
                f,
                "{el} has {val} descendants, more than the {lim} allowed; split the model"
            ),
            "notRequiredType" => write!(
                f,
                "{el} property {prop} holds {other}, which does not have the class its co-type {ty} requires; change the value or the co-type"
            ),
            "notSiblingRequiredType" => write!(
                f,
                "{el} property {prop} names {val}, which is not a sibling of the kind its co-type {ty} requires; name an existing sibling Property or Telemetry"
            ),
            _ if name.starts_with("langString")
                || name.starts_with("langMap")
                || name == "langTagValueInLangMap" =>
            {
                write!(
                    f,
                    "{el} property {prop} is not a valid localizable string ({name}, {val}); write a string, a map from language codes to strings, or an array of {{\"@value\", \"@language\"}} objects with distinct valid codes"
                )
            }
            _ if name.starts_with("valueObject") => write!(
                f,
                "{el} property {prop} has a value object with {val}, which is not allowed; a value object may only hold @value and @type"
            ),
            _ if name.ends_with("ObjectNoValue") => write!(
                f,
                "{el} property {prop} has a value object without @value; add @value"
            ),
            _ if name.contains("TypeNot") => write!(
                f,
                "{el} property {prop} has a value object whose @type does not match the property's datatype; fix or remove @type"
            ),
            _ if name.contains("NotString")
                || name.contains("NotInteger")
                || name.contains("NotBoolean")
                || name.contains("NotNumeric")
                || name.contains("NotDuration") =>
            {
                write!(
                    f,
                    "{el} property {prop} has value {val} of the wrong kind ({name}); write a value of the property's datatype"
                )
            }
            _ => {
                write!(f, "{el} breaks the DTDL rule {name}")?;
                if self.property.is_some() {
                    write!(f, " in property {prop}")?;
                }
                if self.value.is_some() {
                    write!(f, " with value {val}")?;
                }
                if self.secondary_id.is_some() {
                    write!(f, " involving {other}")?;
                }
                if self.restriction.is_some() {
                    write!(f, " (limit {lim})")?;
                }
                write!(f, "; see the DTDL specification for the rule")
            }
        }
    }
}

impl std::error::Error for ParsingError {}

/// Identifiers the model references but neither defines nor the resolver could supply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResolutionError {
    /// The undefined identifiers, sorted.
    pub unresolved: Vec<Dtmi>,
    /// Each place one of them is referenced.
    pub references: Vec<(Dtmi, SourceLocation)>,
}

impl fmt::Display for ResolutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the model references identifiers that are defined nowhere: "
        )?;
        for (i, d) in self.unresolved.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(
            f,
            "; submit their definitions together with the model or publish them to the repository first"
        )
    }
}

impl std::error::Error for ResolutionError {}

/// A failure reported by a [`crate::Resolver`] implementation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the resolver failed: {message}")]
pub struct ResolverError {
    pub message: String,
}

impl ResolverError {
    pub fn new(message: impl Into<String>) -> Self {
        ResolverError {
            message: message.into(),
        }
    }
}

/// Why [`crate::parse`] did not produce a model.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ParseFailure {
    /// The model breaks language rules; every problem found, in document order.
    #[error("{}", DisplayErrors(.0))]
    Invalid(Vec<ParsingError>),
    /// References could not be resolved.
    #[error(transparent)]
    Unresolved(ResolutionError),
    /// The resolver itself failed.
    #[error(transparent)]
    Resolver(ResolverError),
}

struct DisplayErrors<'a>(&'a [ParsingError]);

impl fmt::Display for DisplayErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the model is invalid ({} error(s))", self.0.len())?;
        for e in self.0 {
            write!(f, "\n- {e}")?;
        }
        Ok(())
    }
}

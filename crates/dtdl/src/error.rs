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
        match self.name() {
            "notJsonObject" | "notJsonObjectOrArray" => write!(
                f,
                "the document is not a JSON object or an array of objects; wrap each DTDL element in a JSON object"
            ),
            "missingContext" => write!(
                f,
                "{el} has no @context; add \"@context\": \"dtmi:dtdl:context;3\" (or the DTDL version you target) to every top-level element"
            ),
            "missingDtdlContext"
            | "unresolvableContextSpecifier"
            | "unresolvableContextVersion" => write!(
                f,
                "@context value {val} is not a context this parser knows; use a DTDL context such as dtmi:dtdl:context;3 and only the defined extension contexts, or enable undefined extensions"
            ),
            "disallowedContextVersion" => write!(
                f,
                "@context names DTDL version {val}, which is above the maximum version {lim} this parser is configured to accept; author the model in an accepted version or raise the limit"
            ),
            "disallowedLocalContext" | "localContextNotObject" => write!(
                f,
                "@context contains a local definition; DTDL allows only context identifiers (strings), so remove the inline definitions"
            ),
            "dtdlContextNotFirst" | "dtdlContextFollowsAffiliate" => write!(
                f,
                "in @context the DTDL context must come before any extension context; move {val} after it"
            ),
            "invalidId" | "idNotDtmi" | "idTooLong" => write!(
                f,
                "{el} has @id {val} that is not a valid identifier for this DTDL version (a DTMI like dtmi:com:example:Thing;1, within {lim} characters); correct the @id"
            ),
            "idReserved" | "reservedId" => write!(
                f,
                "@id {val} uses a prefix reserved for the language itself; choose an identifier in your own namespace"
            ),
            "duplicateDefinition" => write!(
                f,
                "identifier {el} is defined more than once; give each element a distinct @id or drop the duplicate"
            ),
            "missingType" | "typeNotAllowed" => write!(
                f,
                "{el} has no @type; add the element's class (for example \"@type\": \"Telemetry\")"
            ),
            "badType" => write!(
                f,
                "{el} property {prop} refers to {other}, which is not of type {ty}; point it at an element of that type"
            ),
            "typeUndefinedTerm"
            | "typeNotDtmiOrTerm"
            | "typeInvalidDtmi"
            | "typeIrrelevantDtmiOrTerm" => write!(
                f,
                "{el} has @type {val} that is not defined by its contexts; use a class term of the DTDL version or a defined extension co-type"
            ),
            "invalidCotype" | "noTypeThatAllows" => write!(
                f,
                "{el} combines @type {val} with a class it cannot co-type; remove that co-type or change the element's class"
            ),
            "propertyUndefinedTerm"
            | "propertyNotDtmiOrTerm"
            | "propertyInvalidDtmi"
            | "propertyIrrelevantDtmiOrTerm" => write!(
                f,
                "{el} has property {prop} that its type does not define; remove it or add the co-type that defines it"
            ),
            "objectCountBelowMin"
            | "missingRequiredProperty"
            | "valueCountBelowMin"
            | "stringCountBelowMin" => write!(
                f,
                "{el} is missing required property {prop} (at least {lim} value(s)); add it"
            ),
            "objectCountAboveMax"
            | "valueCountAboveMax"
            | "stringCountAboveMax"
            | "integerCountAboveMax"
            | "booleanCountAboveMax" => write!(
                f,
                "{el} property {prop} has more values than the allowed {lim}; remove the extra values"
            ),
            "stringTooLong" | "valueTooLong" => write!(
                f,
                "{el} property {prop} value {val} is longer than {lim} characters; shorten it"
            ),
            "stringPatternMismatch" | "valuePatternMismatch" => write!(
                f,
                "{el} property {prop} value {val} does not have the required form ({lim}); rewrite it accordingly"
            ),
            "duplicateName" | "nonUniquePropertyValue" | "duplicateContentName" => write!(
                f,
                "{el} property {prop} contains value {val} more than once; names must be unique among siblings, so rename one of them"
            ),
            "excessiveDepth"
            | "recursiveStructureNarrow"
            | "recursiveStructureWide"
            | "excludedType" => write!(
                f,
                "{el} nests {other} in a way the language forbids ({lim}); flatten the structure or remove the nested element"
            ),
            "extendsCycle" | "interfaceExtendsItself" => write!(
                f,
                "{el} extends itself through its 'extends' chain; remove the cycle"
            ),
            "limitExceeded" | "documentTooLarge" => write!(
                f,
                "{el} exceeds the limit {lim} on {prop}; reduce the model below that limit"
            ),
            "notDtmiValue" | "refNotDtmi" | "refInvalidDtmi" => write!(
                f,
                "{el} property {prop} value {val} must be a DTMI or an element; write a valid DTMI reference or an inline element"
            ),
            "valueNotString" | "valueNotBoolean" | "valueNotInteger" | "valueNotNumber"
            | "valueNotLangString" | "valueNotDateTime" | "valueNotDuration" | "literalType" => {
                write!(
                    f,
                    "{el} property {prop} has value {val} of the wrong kind (expected {ty}); write a value of that kind"
                )
            }
            "valueOutOfRange" | "integerBelowMin" | "integerAboveMax" => write!(
                f,
                "{el} property {prop} value {val} is outside the allowed range {lim}; choose a value inside it"
            ),
            "valueNotInEnumeration" | "valueNotAllowed" => write!(
                f,
                "{el} property {prop} value {val} is not one of the allowed values ({lim}); use one of them"
            ),
            _ => {
                write!(f, "{} problem with {el}", self.name())?;
                if self.property.is_some() {
                    write!(f, ", property {prop}")?;
                }
                if self.value.is_some() {
                    write!(f, ", value {val}")?;
                }
                if self.secondary_id.is_some() {
                    write!(f, ", involving {other}")?;
                }
                if self.type_name.is_some() {
                    write!(f, ", type {ty}")?;
                }
                if self.restriction.is_some() {
                    write!(f, " (restriction {lim})")?;
                }
                write!(
                    f,
                    "; correct the element so it follows the DTDL rule named by this error's validation ID"
                )
            }
        }?;
        if let Some(loc) = &self.location {
            write!(f, " [{loc}]")?;
        }
        Ok(())
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

//! `@context` handling: which DTDL version, limit set and extension contexts are in force for
//! an element, and term → DTMI lookup through them. Contexts are identifiers only (DTDL does not
//! allow local term definitions); a nested `@context` adds to the enclosing one.

use super::json::Json as Value;

use super::Session;
use crate::dtmi::Dtmi;
use crate::error::ParsingError;
use crate::metamodel::Metamodel;

/// The contexts in force for one element.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    /// DTDL major version (0 until a DTDL context is seen).
    pub version: u8,
    /// Limit spec in force: "" (core limits), "onvif_1", "aio_1".
    pub limits: &'static str,
    /// Known extension and affiliate contexts in force, in order.
    pub extensions: Vec<&'static str>,
    /// An undefined extension context is in force (and tolerated).
    pub undefined_extension: bool,
}

/// How a term or DTMI written in a document resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolution<'a> {
    /// A syntactically valid DTMI (written directly or through a term).
    Dtmi(&'a str),
    /// A bare term no context in force defines.
    Undefined,
    /// Starts with `dtmi:` but is not a valid DTMI.
    InvalidDtmi,
    /// Neither a DTMI nor a term (e.g. an http IRI).
    NotDtmiNorTerm,
}

impl Scope {
    /// Resolves a term (or full DTMI) through the contexts in force.
    pub fn resolve<'a>(&self, text: &'a str) -> Resolution<'a> {
        let mm = Metamodel::get();
        if text.contains(':') {
            if Dtmi::is_valid(text) {
                return Resolution::Dtmi(text);
            }
            return if text.starts_with("dtmi:") {
                Resolution::InvalidDtmi
            } else {
                Resolution::NotDtmiNorTerm
            };
        }
        let dtdl = dtdl_context_id(self.version);
        // DTDL v2 terms (its standard semantic types and units) are not redefined by
        // extension contexts; in later versions the extension's definition wins.
        if self.version == 2
            && let Some(d) = mm.facts.contexts.get(dtdl).and_then(|m| m.get(text))
        {
            return Resolution::Dtmi(d.as_str());
        }
        for ctx in self.extensions.iter().rev() {
            if let Some(d) = mm.facts.contexts.get(*ctx).and_then(|m| m.get(text)) {
                return Resolution::Dtmi(d.as_str());
            }
        }
        if let Some(d) = mm.facts.contexts.get(dtdl).and_then(|m| m.get(text)) {
            return Resolution::Dtmi(d.as_str());
        }
        Resolution::Undefined
    }

    /// Whether the extension context `ctx` (or the DTDL context of this version) is in force.
    pub fn has_context(&self, ctx: &str) -> bool {
        ctx == dtdl_context_id(self.version) || self.extensions.contains(&ctx)
    }
}

pub(crate) fn dtdl_context_id(version: u8) -> &'static str {
    match version {
        2 => "dtmi:dtdl:context;2",
        3 => "dtmi:dtdl:context;3",
        4 => "dtmi:dtdl:context;4",
        _ => "",
    }
}

/// Interns a context id as a `'static` key of the metamodel's context table.
fn known_context(id: &str) -> Option<&'static str> {
    Metamodel::get()
        .facts
        .contexts
        .get_key_value(id)
        .map(|(k, _)| k.as_str())
}

fn limit_spec(id: &str) -> Option<&'static str> {
    Metamodel::get()
        .facts
        .limit_contexts
        .get(id)
        .map(|l| l.spec.as_str())
}

/// Processes an `@context` value; `top_level` contexts must start with a DTDL context.
/// Returns the resulting scope (errors are recorded in the session).
pub(crate) fn apply_context(
    s: &mut Session<'_>,
    source: usize,
    ptr: &str,
    value: &Value,
    parent: &Scope,
    top_level: bool,
) -> Option<Scope> {
    let errors_before = s.errors.len();
    let mut scope = parent.clone();
    let items: Vec<(String, &Value)> = match value {
        Value::String(_) => vec![(ptr.to_owned(), value)],
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (super::join_index(ptr, i), v))
            .collect(),
        Value::Object(_) => {
            s.error(
                source,
                ptr,
                ParsingError::new("disallowedLocalContext").restriction("local term definitions"),
            );
            return None;
        }
        other => {
            s.error(
                source,
                ptr,
                ParsingError::new("invalidContextSpecifier").value(other.to_string()),
            );
            return None;
        }
    };
    if top_level && items.is_empty() {
        s.error(source, ptr, ParsingError::new("emptyContext"));
        return None;
    }
    // What the previous entry was, for ordering rules around `#limitless`.
    let mut after_limitless = false;
    let mut seen_dtdl = false;
    let mut seen_undefined = false;
    for (p, item) in items.iter() {
        let text = match item {
            Value::String(t) => t.as_ref(),
            Value::Object(_) => {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("disallowedLocalContext")
                        .restriction("local term definitions"),
                );
                return None;
            }
            other => {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("invalidContextSpecifier").value(other.to_string()),
                );
                return None;
            }
        };
        let was_after_limitless = after_limitless;
        after_limitless = false;
        // At top level the first entry must be the DTDL context; anything else there is
        // a missing DTDL context before it is a malformed one.
        if top_level && !seen_dtdl && scope.extensions.is_empty() && !seen_undefined {
            let dtdl_or_affiliate = text.starts_with("dtmi:dtdl:context;")
                || Metamodel::get()
                    .facts
                    .affiliate_contexts_implicit_dtdl_versions
                    .contains_key(text);
            if Dtmi::parse(text).is_err() && !dtdl_or_affiliate {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("missingDtdlContext").value(text),
                );
                return None;
            }
        }
        let Ok(dtmi) = Dtmi::parse(text) else {
            s.error(
                source,
                p.clone(),
                ParsingError::new("nonDtmiContextSpecifier").value(text),
            );
            return None;
        };
        let Some(major) = dtmi.major_version() else {
            s.error(
                source,
                p.clone(),
                ParsingError::new("missingContextVersion").value(text),
            );
            return None;
        };
        let base = dtmi
            .without_fragment()
            .split(';')
            .next()
            .unwrap_or_default();
        if base == "dtmi:dtdl:context" {
            let Ok(v) = u8::try_from(major) else {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("unrecognizedContextVersion").value(text),
                );
                return None;
            };
            if !(2..=4).contains(&v) || dtmi.minor_version().is_some() {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("unrecognizedContextVersion")
                        .value(text)
                        .restriction("2, 3 or 4"),
                );
                return None;
            }
            if v > s.options.max_dtdl_version {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("disallowedContextVersion")
                        .value(text)
                        .restriction(s.options.max_dtdl_version.to_string()),
                );
                return None;
            }
            match dtmi.fragment() {
                None => {
                    scope.limits = "";
                }
                Some("limitless") if v >= 4 => {
                    after_limitless = true;
                    scope.limits = "";
                }
                Some("limits") if v >= 4 && was_after_limitless => {
                    scope.limits = "";
                }
                Some("limits") if v >= 4 => {
                    s.error(
                        source,
                        p.clone(),
                        ParsingError::new("misplacedLimitContext").value(text),
                    );
                    return None;
                }
                Some(_) => {
                    s.error(
                        source,
                        p.clone(),
                        ParsingError::new("invalidContextFragment").value(text),
                    );
                    return None;
                }
            }
            let only_affiliates = scope.extensions.iter().all(|e| {
                Metamodel::get()
                    .facts
                    .affiliate_contexts_implicit_dtdl_versions
                    .contains_key(*e)
            });
            // Affiliate contexts (IoT Central) may precede the DTDL context, which may then
            // be repeated in the affiliate's own DTDL version; no other extension context may.
            let extension_seen = !scope.extensions.is_empty() || seen_undefined;
            let affiliate_version = scope.extensions.iter().all(|e| {
                Metamodel::get()
                    .facts
                    .affiliate_contexts_implicit_dtdl_versions
                    .get(*e)
                    == Some(&v)
            });
            let after_affiliates_only = only_affiliates && !seen_undefined;
            if top_level
                && extension_seen
                && !(after_affiliates_only && (!seen_dtdl || affiliate_version))
            {
                // A DTDL context may not follow extension contexts at top level.
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("dtdlContextFollowsAffiliate").value(text),
                );
                return None;
            }
            scope.version = v;
            seen_dtdl = true;
            continue;
        }
        let affiliate = Metamodel::get()
            .facts
            .affiliate_contexts_implicit_dtdl_versions
            .contains_key(dtmi.as_str());
        if top_level && !seen_dtdl && !affiliate {
            s.error(
                source,
                p.clone(),
                ParsingError::new("missingDtdlContext").value(text),
            );
            return None;
        }
        if dtmi.fragment().is_some() {
            s.error(
                source,
                p.clone(),
                ParsingError::new("disallowedContextFragment").value(text),
            );
            return None;
        }
        if let Some(spec) = limit_spec(dtmi.as_str()) {
            if !was_after_limitless {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("misplacedLimitContext").value(text),
                );
                return None;
            }
            if !s.options.accepts_limit_context(&dtmi) {
                s.error(
                    source,
                    p.clone(),
                    ParsingError::new("disallowedLimitContext")
                        .value(text)
                        .restriction("acceptable limit contexts"),
                );
                return None;
            }
            scope.limits = spec;
            continue;
        }
        if was_after_limitless {
            s.error(
                source,
                p.clone(),
                ParsingError::new("missingLimitContext")
                    .value(text)
                    .restriction("a limits context"),
            );
            return None;
        }
        if let Some(ctx) = known_context(dtmi.as_str()) {
            if !scope.extensions.contains(&ctx) {
                scope.extensions.push(ctx);
            }
            continue;
        }
        // Unknown context: a known extension in an unknown version, or undefined entirely.
        let known_base = Metamodel::get()
            .facts
            .contexts
            .keys()
            .any(|k| k.split(';').next() == Some(base));
        let version = if scope.version == 0 { 2 } else { scope.version };
        // An unknown version of a known extension, like an unknown extension, is tolerated
        // where undefined extensions are; otherwise the error says which of the two it is.
        if s.options.allows_undefined_extensions(version) {
            scope.undefined_extension = true;
            seen_undefined = true;
        } else {
            let vid = if known_base {
                "unresolvableContextVersion"
            } else {
                "unresolvableContextSpecifier"
            };
            s.error(source, p.clone(), ParsingError::new(vid).value(text));
            return None;
        }
    }
    if after_limitless {
        s.error(
            source,
            ptr,
            ParsingError::new("missingLimitContext")
                .value("#limitless")
                .restriction("a limits context"),
        );
    }
    if top_level && scope.version == 0 {
        s.error(source, ptr, ParsingError::new("missingDtdlContext"));
    }
    // An element whose contexts are wrong is not read further: its terms are unknowable.
    (s.errors.len() == errors_before).then_some(scope)
}

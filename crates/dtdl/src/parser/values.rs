//! Literal property values: plain JSON scalars or JSON-LD value objects (`{"@value": ..,
//! "@type": ..}`), language-tagged strings in their three shapes (string, language map, array
//! of strings and `{"@value", "@language"}` objects), and the value constraints of the
//! metamodel (length, pattern, range, fixed and enumerated values).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::json::Json as Value;
use regex::Regex;

use super::{Session, Val};
use crate::error::ParsingError;
use crate::metamodel::{Metamodel, PropertyVersion};

/// One item of a property value and its JSON pointer.
pub(crate) type Item<'p, 'v, 'a> = (Cow<'p, str>, &'v Value<'a>);

/// The items of a property value: most values are single, and are kept without a vector.
pub(crate) enum Items<'p, 'v, 'a> {
    One([Item<'p, 'v, 'a>; 1]),
    Many(Vec<Item<'p, 'v, 'a>>),
}

impl<'p, 'v, 'a> std::ops::Deref for Items<'p, 'v, 'a> {
    type Target = [Item<'p, 'v, 'a>];

    fn deref(&self) -> &Self::Target {
        match self {
            Items::One(one) => one,
            Items::Many(all) => all,
        }
    }
}

/// Expands a property value into its items (an array gives each element; anything else one).
/// A single value keeps the property's pointer (no allocation, the common case).
pub(crate) fn items<'p, 'v, 'a>(ptr: &'p str, value: &'v Value<'a>) -> Items<'p, 'v, 'a> {
    match value {
        Value::Array(a) => {
            // Nested arrays flatten (JSON-LD expansion): `[[x], y]` holds x and y.
            let mut out = Vec::with_capacity(a.len());
            flatten(ptr, a, &mut out);
            Items::Many(out)
        }
        other => Items::One([(Cow::Borrowed(ptr), other)]),
    }
}

fn flatten<'p, 'v, 'a>(ptr: &str, items: &'v [Value<'a>], out: &mut Vec<Item<'p, 'v, 'a>>) {
    for (i, v) in items.iter().enumerate() {
        let p = super::join_index(ptr, i);
        match v {
            Value::Array(inner) => flatten(&p, inner, out),
            other => out.push((Cow::Owned(p), other)),
        }
    }
}

/// Whether `text` matches the metamodel pattern `pattern` (compiled once per pattern).
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    if pattern == NAME_PATTERN {
        return is_name(text);
    }
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let Ok(mut guard) = cache.lock() else {
        return true;
    };
    let re = guard
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).ok());
    re.as_ref().is_none_or(|r| r.is_match(text))
}

const NAME_PATTERN: &str = "^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$";

/// The element-name rule, hand-coded because it is checked for nearly every element.
fn is_name(text: &str) -> bool {
    let b = text.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphabetic()
                && *l != b'_'
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        _ => false,
    }
}

fn xsd_matches(t: &str, datatype: &str) -> bool {
    t.strip_prefix("xsd:")
        .or_else(|| t.strip_prefix("http://www.w3.org/2001/XMLSchema#"))
        == Some(datatype)
}

/// Reads one literal of `datatype` (string, integer, boolean, duration, decimal, double, ...).
pub(crate) fn literal(
    s: &mut Session<'_>,
    source: usize,
    ptr: &str,
    id: &str,
    prop: &str,
    value: &Value,
    datatype: &str,
) -> Option<Val> {
    let fam = family(datatype);
    let raw = match value {
        Value::Object(o) => {
            for (k, _) in o {
                let vid = match k {
                    "@value" | "@type" => continue,
                    // DTDL v2 tolerates other keywords in value objects.
                    k if k != "@id"
                        && k != "@context"
                        && k != "@graph"
                        && k.starts_with('@')
                        && s.version_of(source) == 2 =>
                    {
                        continue;
                    }
                    "@id" => "valueObjectId",
                    "@context" => "valueObjectContext",
                    "@graph" => "valueObjectGraph",
                    "@language" => "valueObjectLanguage",
                    k if k.starts_with('@') => "valueObjectKeyword",
                    _ => "valueObjectInvalidProp",
                };
                s.error(
                    source,
                    ptr,
                    ParsingError::new(vid).primary(id).property(prop).value(k),
                );
                return None;
            }
            if let Some(t) = o.get("@type") {
                let ok = match t {
                    Value::String(t) => xsd_matches(t, datatype),
                    Value::Array(a) => {
                        a.len() == 1 && a[0].as_str().is_some_and(|t| xsd_matches(t, datatype))
                    }
                    _ => false,
                };
                if !ok {
                    s.error(
                        source,
                        ptr,
                        ParsingError::new(format!("{fam}TypeNot{}", cap(fam)).as_str())
                            .primary(id)
                            .property(prop),
                    );
                    return None;
                }
            }
            match o.get("@value") {
                Some(v) => v,
                None => {
                    s.error(
                        source,
                        ptr,
                        ParsingError::new(&format!("{fam}ObjectNoValue"))
                            .primary(id)
                            .property(prop),
                    );
                    return None;
                }
            }
        }
        other => other,
    };
    let val = match (datatype, raw) {
        ("string", Value::String(t)) => Some(Val::Str(t.to_string())),
        ("duration", Value::String(t)) if is_duration(t) => Some(Val::Str(t.to_string())),
        ("date" | "dateTime" | "time" | "anyURI" | "IRI", Value::String(t)) => {
            Some(Val::Str(t.to_string()))
        }
        // DTDL integers are 32-bit (XSD int).
        ("integer" | "int", Value::Number(n)) => n
            .as_i64()
            .filter(|i| i32::try_from(*i).is_ok())
            .map(Val::Int),
        ("long" | "nonNegativeInteger" | "positiveInteger", Value::Number(n))
            if n.is_i64() || n.is_u64() =>
        {
            n.as_i64().map(Val::Int)
        }
        ("decimal" | "double" | "float", Value::Number(n)) => n.as_f64().map(Val::Num),
        ("boolean", Value::Bool(b)) => Some(Val::Bool(*b)),
        _ => None,
    };
    if val.is_none() {
        let vid = if matches!(value, Value::Object(_)) {
            format!("{fam}ValueNot{}", cap(fam))
        } else {
            format!("{fam}Not{}", cap(fam))
        };
        s.error(
            source,
            ptr,
            ParsingError::new(&vid)
                .primary(id)
                .property(prop)
                .value(raw.to_string()),
        );
    }
    val
}

fn family(datatype: &str) -> &'static str {
    match datatype {
        "string" | "date" | "dateTime" | "time" | "anyURI" => "string",
        "integer" | "int" | "long" | "nonNegativeInteger" | "positiveInteger" => "integer",
        "boolean" => "boolean",
        "duration" => "duration",
        "decimal" | "double" | "float" => "numeric",
        _ => "literal",
    }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// ISO 8601 duration (`P1DT2H`, `PT0.5S`, `P2W`).
pub(crate) fn is_duration(t: &str) -> bool {
    let Some(rest) = t.strip_prefix('P') else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    fn units(part: &str, allowed: &[u8], fraction_ok: bool) -> Option<usize> {
        let mut count = 0;
        let mut num = String::new();
        let mut idx = 0;
        for c in part.bytes() {
            if c.is_ascii_digit() || (fraction_ok && (c == b'.' || c == b',')) {
                num.push(c as char);
            } else {
                let pos = allowed[idx..].iter().position(|a| *a == c)?;
                idx += pos + 1;
                if num.is_empty() {
                    return None;
                }
                num.clear();
                count += 1;
            }
        }
        num.is_empty().then_some(count)
    }
    let Some(dc) = units(date, b"YMWD", false) else {
        return false;
    };
    match time {
        Some(t) => matches!(units(t, b"HMS", true), Some(n) if n > 0),
        None => dc > 0,
    }
}

/// Language tags (BCP 47 shape).
fn is_language_tag(t: &str) -> bool {
    let mut parts = t.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    (2..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Reads a language-tagged string property.
#[expect(
    clippy::too_many_arguments,
    reason = "the element context (source, pointer, owner, property, limits) travels with each value"
)]
pub(crate) fn lang_string(
    s: &mut Session<'_>,
    source: usize,
    ptr: &str,
    id: &str,
    prop: &str,
    value: &Value,
    pv: &PropertyVersion,
    limits: &str,
) -> Option<Val> {
    // Built only for values that use it: most language maps name their languages.
    let default = || {
        pv.default_language
            .clone()
            .unwrap_or_else(|| "en".to_owned())
    };
    let max = Metamodel::limit(&pv.max_length, limits);
    let mut out: Vec<(String, String)> = Vec::with_capacity(match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 1,
    });
    let too_long = |t: &str| max.is_some_and(|m| t.chars().count() as u64 > m);
    match value {
        Value::String(t) => out.push((default(), t.to_string())),
        Value::Object(map) => {
            for (lang, v) in map {
                // Pointers are built only for errors.
                let p = || super::join(ptr, lang);
                if lang.starts_with('@') {
                    // `@value`/`@language` suggest a value object written where a language map is.
                    let vid = if lang == "@value" || lang == "@language" {
                        "langTagValueInLangMap"
                    } else {
                        "langMapObjKeyword"
                    };
                    s.error(
                        source,
                        p(),
                        ParsingError::new(vid)
                            .primary(id)
                            .property(prop)
                            .value(lang),
                    );
                    return None;
                }
                if !is_language_tag(lang) {
                    s.error(
                        source,
                        p(),
                        ParsingError::new("langStringInvalidCode")
                            .primary(id)
                            .property(prop)
                            .value(lang),
                    );
                    return None;
                }
                let Value::String(t) = v else {
                    s.error(
                        source,
                        p(),
                        ParsingError::new("langStringValueNotString")
                            .primary(id)
                            .property(prop)
                            .value(v.to_string()),
                    );
                    return None;
                };
                out.push((lang.to_owned(), t.to_string()));
            }
        }
        Value::Array(_) => {
            // Nested arrays flatten, as for every other property value.
            for (item_ptr, item) in items(ptr, value).iter() {
                let p = || item_ptr.to_string();
                let item = *item;
                match item {
                    Value::String(t) => out.push((default(), t.to_string())),
                    Value::Object(o) => {
                        for k in o.keys() {
                            let vid = match k {
                                "@value" | "@language" => continue,
                                k if k != "@id"
                                    && k != "@context"
                                    && k != "@graph"
                                    && k.starts_with('@')
                                    && s.version_of(source) == 2 =>
                                {
                                    continue;
                                }
                                "@id" => "langStringElementId",
                                "@context" => "langStringElementContext",
                                "@graph" => "langStringElementGraph",
                                "@type" => "langStringElementType",
                                k if k.starts_with('@') => "langStringElementKeyword",
                                _ => "langStringElementInvalidProp",
                            };
                            s.error(
                                source,
                                p(),
                                ParsingError::new(vid).primary(id).property(prop).value(k),
                            );
                            return None;
                        }
                        let Some(v) = o.get("@value") else {
                            s.error(
                                source,
                                p(),
                                ParsingError::new("langStringElementNoValue")
                                    .primary(id)
                                    .property(prop),
                            );
                            return None;
                        };
                        let Value::String(t) = v else {
                            s.error(
                                source,
                                p(),
                                ParsingError::new("langStringElementValueNotString")
                                    .primary(id)
                                    .property(prop),
                            );
                            return None;
                        };
                        let lang = match o.get("@language") {
                            None => default(),
                            Some(Value::String(l)) if is_language_tag(l) => l.to_string(),
                            Some(Value::String(l)) => {
                                s.error(
                                    source,
                                    p(),
                                    ParsingError::new("langStringElementInvalidCode")
                                        .primary(id)
                                        .property(prop)
                                        .value(l.to_string()),
                                );
                                return None;
                            }
                            Some(_) => {
                                s.error(
                                    source,
                                    p(),
                                    ParsingError::new("langStringElementCodeNotString")
                                        .primary(id)
                                        .property(prop),
                                );
                                return None;
                            }
                        };
                        out.push((lang, t.to_string()));
                    }
                    _ => {
                        s.error(
                            source,
                            p(),
                            ParsingError::new("langStringElementNotStringOrObject")
                                .primary(id)
                                .property(prop),
                        );
                        return None;
                    }
                }
            }
        }
        _ => {
            s.error(
                source,
                ptr,
                ParsingError::new("langStringElementNotStringOrObject")
                    .primary(id)
                    .property(prop)
                    .value(value.to_string()),
            );
            return None;
        }
    }
    for (i, (lang, text)) in out.iter().enumerate() {
        if out[..i].iter().any(|(l, _)| l.eq_ignore_ascii_case(lang)) {
            s.error(
                source,
                ptr,
                ParsingError::new("langStringElementCodeNotUnique")
                    .primary(id)
                    .property(prop)
                    .value(lang),
            );
            return None;
        }
        if too_long(text) {
            s.error(
                source,
                ptr,
                ParsingError::new("langStringValueTooLong")
                    .primary(id)
                    .property(prop)
                    .value(text.clone())
                    .restriction(max.unwrap_or_default().to_string()),
            );
            return None;
        }
    }
    Some(Val::Lang(out))
}

/// Applies length, pattern, range and fixed-value constraints to one literal.
#[expect(
    clippy::too_many_arguments,
    reason = "the element context (source, pointer, owner, property, limits) travels with each value"
)]
pub(crate) fn constraints(
    s: &mut Session<'_>,
    source: usize,
    ptr: &str,
    id: &str,
    prop: &str,
    val: &Val,
    pv: &PropertyVersion,
    limits: &str,
) -> bool {
    match val {
        Val::Str(t) => {
            if let Some(max) = Metamodel::limit(&pv.max_length, limits)
                && t.chars().count() as u64 > max
            {
                s.error(
                    source,
                    ptr,
                    ParsingError::new("stringTooLong")
                        .primary(id)
                        .property(prop)
                        .value(t.clone())
                        .restriction(max.to_string()),
                );
                return false;
            }
            if let Some(pat) = &pv.pattern
                && !matches(pat, t)
            {
                s.error(
                    source,
                    ptr,
                    ParsingError::new("stringInvalid")
                        .primary(id)
                        .property(prop)
                        .value(t.clone())
                        .restriction(pat.clone()),
                );
                return false;
            }
        }
        Val::Int(n) => {
            if let Some(min) = pv.min_inclusive
                && *n < min
            {
                s.error(
                    source,
                    ptr,
                    ParsingError::new("valueBelowMin")
                        .primary(id)
                        .property(prop)
                        .value(n.to_string())
                        .restriction(min.to_string()),
                );
                return false;
            }
            if let Some(max) = pv.max_inclusive
                && *n > max
            {
                s.error(
                    source,
                    ptr,
                    ParsingError::new("valueAboveMax")
                        .primary(id)
                        .property(prop)
                        .value(n.to_string())
                        .restriction(max.to_string()),
                );
                return false;
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_language_tags() {
        for ok in ["P1D", "PT1H", "P1Y2M3DT4H5M6.5S", "P2W", "PT0S"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["P", "PT", "1D", "P1H", "PT1D", "P1M1Y"] {
            assert!(!is_duration(bad), "{bad}");
        }
        assert!(
            is_language_tag("en-US")
                && is_language_tag("de")
                && !is_language_tag("en_US")
                && !is_language_tag("")
        );
        assert!(is_name("a_b1") && !is_name("a_") && !is_name("1a") && !is_name(""));
    }
}

//! The comparison of our parser with the reference parser shared by the `differential`
//! example and the differential smoke test: one record of `tools/differential/reference.mjs`
//! (an input with the reference's verdict, errors and object model) is parsed with default
//! options and no resolver and judged: verdict, unresolved identifiers, error identity (the
//! suite's matching rule) and object model. Known limitations of the reference build are
//! counted in classes of their own, never as agreement.

use std::collections::{BTreeMap, BTreeSet};

use dtdl::{ParseFailure, ParsingOptions};
use serde_json::{Map, Value};

/// Disagreements by class, counts by kind, and the first few of each class as text.
#[derive(Default)]
pub struct Tally {
    pub compared: usize,
    pub classes: BTreeMap<&'static str, usize>,
    pub by_kind: BTreeMap<String, usize>,
    pub shown: Vec<String>,
}

impl Tally {
    /// Inputs one parser accepts and the other rejects (or where ours panicked).
    pub fn verdict_differences(&self) -> usize {
        ["verdict-accepted", "verdict-rejected", "panic"]
            .iter()
            .map(|c| self.classes.get(c).copied().unwrap_or(0))
            .sum()
    }
}

/// Judges one reference record, adding to `tally` (at most `show` texts per class).
pub fn compare(r: &Value, options: &ParsingOptions, show: usize, tally: &mut Tally) {
    let name = r["name"].as_str().unwrap_or_default();
    let Some(inputs) = r["input"].as_array() else {
        return;
    };
    let texts: Vec<String> = inputs
        .iter()
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    tally.compared += 1;
    let ours = std::panic::catch_unwind(|| dtdl::parse(&refs, None, options));
    let mut report = |class: &'static str, text: String| {
        let n = tally.classes.entry(class).or_default();
        *n += 1;
        if *n <= show {
            tally.shown.push(format!("{class} {name}: {text}"));
        }
    };
    let Ok(ours) = ours else {
        report("panic", String::new());
        return;
    };
    let ref_valid = r["valid"].as_bool().unwrap_or(false);
    let input_text = r["input"].to_string();
    let newer = NEWER_CONTEXTS.iter().find(|c| input_text.contains(*c));
    let refused_newer = newer.is_some_and(|ctx| {
        r["errors"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["Value"].as_str() == Some(ctx)))
    });
    if let Some(ctx) = newer
        && (ours.is_ok() != ref_valid || refused_newer)
    {
        report(
            "reference-lacks-context",
            format!("{ctx}; reference valid={ref_valid}"),
        );
        return;
    }
    match (&ours, ref_valid) {
        (Ok(_), false) => {
            let first = r["errors"]
                .get(0)
                .map(|e| format!("{} on {}", e["ValidationID"], e["PrimaryID"]))
                .unwrap_or_else(|| format!("unresolved {}", r["unresolved"]));
            *tally
                .by_kind
                .entry(format!("accepted: {first}"))
                .or_default() += 1;
            report("verdict-accepted", format!("reference rejects: {first}"));
        }
        (Err(ParseFailure::Invalid(errors)), true)
            if errors.iter().all(|e| {
                matches!(
                    e.name(),
                    "langStringInvalidCode" | "langStringElementInvalidCode"
                ) && e.value.as_deref().is_some_and(|v| {
                    let primary = v.split('-').next().unwrap_or(v);
                    (4..=8).contains(&primary.len())
                        && primary.bytes().all(|b| b.is_ascii_alphabetic())
                })
            }) =>
        {
            // DTDLParser 1.1.3 accepts primary language subtags of 4 to 8 letters; the
            // specification cases of the newer parser reject them (`English`).
            report(
                "reference-older-language-tags",
                errors[0].value.clone().unwrap_or_default(),
            );
        }
        (Err(ParseFailure::Invalid(errors)), true)
            if errors.iter().all(|e| e.name() == "notSiblingRequiredType") =>
        {
            // DTDLParser 1.1.3 accepts an `annotates` (or similar sibling key) naming no
            // sibling at all; the extension specifications require an existing sibling of the
            // right kind, and the newer parser's cases reject it.
            report(
                "reference-skips-missing-sibling",
                errors[0].value.clone().unwrap_or_default(),
            );
        }
        (Err(e), true) => {
            let first = match e {
                ParseFailure::Invalid(errors) => errors
                    .first()
                    .map(|x| format!("{}: {x}", x.name()))
                    .unwrap_or_default(),
                other => other.to_string(),
            };
            *tally
                .by_kind
                .entry(format!(
                    "rejected: {}",
                    first.split(':').next().unwrap_or("")
                ))
                .or_default() += 1;
            report(
                "verdict-rejected",
                format!("reference accepts; ours: {first}"),
            );
        }
        (Ok(model), true) => {
            let (theirs, _) = normalise(&r["model"]);
            let their_std: BTreeSet<String> = r["standard"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let (mine, my_std) = normalise(&model.to_reference_json());
            if let Some(diff) = model_difference(&mine, &theirs) {
                // Human-readable texts of standard elements are not embedded in the
                // crate's metamodel table (only facts are).
                let class =
                    if diff.starts_with("dtmi:iotcentral:") && diff.contains(" description:") {
                        "standard-element-text"
                    } else {
                        "object-model"
                    };
                report(class, diff);
            } else if my_std != their_std {
                let missing: Vec<_> = their_std.difference(&my_std).collect();
                let extra: Vec<_> = my_std.difference(&their_std).collect();
                report(
                    "object-model",
                    format!("standard elements missing {missing:?}, extra {extra:?}"),
                );
            }
        }
        (Err(ParseFailure::Unresolved(u)), false) => {
            let want: BTreeSet<&str> = r["unresolved"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let got: BTreeSet<&str> = u.unresolved.iter().map(|d| d.as_str()).collect();
            if want != got {
                report(
                    "unresolved",
                    format!("ours {got:?}, reference {want:?} {}", r["errors"]),
                );
            }
        }
        (Err(ParseFailure::Invalid(errors)), false) => {
            let allowed: BTreeSet<(String, Option<String>)> = r["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| {
                            (
                                renamed(e["ValidationID"].as_str().unwrap_or_default()),
                                e["PrimaryID"].as_str().map(str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if allowed.iter().any(|(id, _)| id == "exception") {
                // The reference parser threw instead of reporting (e.g. a
                // NullReferenceException on a malformed @type); nothing to compare.
                report(
                    "reference-exception",
                    r["errors"][0]["PrimaryID"].to_string(),
                );
            } else if allowed.is_empty() && errors.iter().any(|e| e.name() == "duplicateDefinition")
            {
                // The reference registers an element only after its children, so a
                // nested element that reuses an ancestor's @id is never reported as a
                // duplicate; it then fails on resolution instead.
                report(
                    "reference-misses-nested-duplicate",
                    format!("reference unresolved {}", r["unresolved"]),
                );
            } else if allowed.is_empty() {
                report(
                    "unresolved",
                    format!(
                        "reference unresolved {}, ours parsing errors",
                        r["unresolved"]
                    ),
                );
            } else if let Some((i, e)) = errors
                .iter()
                .enumerate()
                .find(|(_, e)| !allowed.contains(&(e.validation_id.clone(), e.primary_id.clone())))
            {
                let class = if i == 0 {
                    "error-identity-first"
                } else {
                    "error-identity-later"
                };
                *tally
                    .by_kind
                    .entry(format!("{class}: {}", e.name()))
                    .or_default() += 1;
                report(
                    class,
                    format!(
                        "ours {} on {:?}; reference {:?}",
                        e.name(),
                        e.primary_id,
                        allowed
                    ),
                );
            }
        }
        (Err(other), false) => report("other-failure", other.to_string()),
    }
}

/// Extension contexts of the digest that the reference build (DTDLParser 1.1.3) predates: it
/// refuses them in every DTDL version (`unresolvableContextVersion`, or
/// `unresolvableContextSpecifier` for a base it does not know), and in DTDL v2 tolerates them
/// as undefined extensions. Verdicts on inputs naming them are counted apart, not as
/// disagreements.
const NEWER_CONTEXTS: &[&str] = &[
    "dtmi:dtdl:extension:mqtt;3",
    "dtmi:dtdl:extension:mqtt;4",
    "dtmi:dtdl:extension:quantitativeTypes;3",
    "dtmi:dtdl:extension:requirement;2",
    "dtmi:iotoperations:context;4",
];

/// A reference validation ID in the newer parser's vocabulary (the one the specification
/// cases and `validation-ids.json` use): 1.1.3's `invalidContext` is `invalidContextSpecifier`.
fn renamed(id: &str) -> String {
    match id {
        "dtmi:dtdl:parsingError:invalidContext" => {
            "dtmi:dtdl:parsingError:invalidContextSpecifier".to_owned()
        }
        other => other.to_owned(),
    }
}

/// Drops members at the object model's defaults, as `reference.mjs` does, and the standard
/// elements (compared by id only).
fn normalise(model: &Value) -> (Map<String, Value>, BTreeSet<String>) {
    let mut kept = Map::new();
    let mut standard = BTreeSet::new();
    let Some(all) = model.as_object() else {
        return (kept, standard);
    };
    for (id, el) in all {
        let standard_id = id.starts_with("dtmi:dtdl:instance:")
            || id.starts_with("dtmi:standard:")
            || (id.starts_with("dtmi:dtdl:extension:quantitativeTypes:v") && id.contains(":unit:"));
        if standard_id && el.get("DefinedIn").is_none_or(Value::is_null) {
            standard.insert(id.clone());
            continue;
        }
        let Some(members) = el.as_object() else {
            continue;
        };
        let members: Map<String, Value> = members
            .iter()
            .filter(|(_, v)| !is_default(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        kept.insert(id.clone(), Value::Object(members));
    }
    (kept, standard)
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Values equal, lists compared as unordered (the reference's order of `extends`, `schemas`
/// and similar lists is document order, as is ours, but sets are what the model means).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && {
                let mut xs: Vec<String> = x.iter().map(Value::to_string).collect();
                let mut ys: Vec<String> = y.iter().map(Value::to_string).collect();
                xs.sort();
                ys.sort();
                xs == ys
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The first difference between two normalised models, as text.
fn model_difference(ours: &Map<String, Value>, theirs: &Map<String, Value>) -> Option<String> {
    for id in theirs.keys() {
        if !ours.contains_key(id) {
            return Some(format!("missing element {id}"));
        }
    }
    for (id, el) in ours {
        let Some(other) = theirs.get(id) else {
            return Some(format!("extra element {id}"));
        };
        let (Some(a), Some(b)) = (el.as_object(), other.as_object()) else {
            continue;
        };
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let (x, y) = (
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null),
            );
            if !same(x, y) {
                return Some(format!("{id} {k}: ours {x}, reference {y}"));
            }
        }
    }
    None
}

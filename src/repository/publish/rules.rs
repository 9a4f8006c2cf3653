//! The repository rules of each pushed document, before any parsing: one root Interface
//! with a DTMI, no DTMI twice in a push, and the repository's conventions (nested `@id`s
//! under the root DTMI), which [`Conventions`] enforces, records as warnings, or skips. Pure.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Candidate, PushError};
use crate::domain::batch::Batch;
use crate::domain::issue::Issue;

/// How the repository's conventions apply: the rules the public repository checks on new
/// models that DTDL itself does not require (today: nested `@id`s lie under the root DTMI).
/// The DTDL rules and "each document is an Interface with a DTMI" always apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conventions {
    /// Breaking a convention refuses the push (every push, by default).
    Enforce,
    /// Breaking a convention is stored with the model as a warning: for an admin importing
    /// models published before the conventions were checked (legacy public content).
    Warn,
    /// Not checked (`twinhub validate` without `--strict`).
    Skip,
}

/// Which repository rules apply to a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub conventions: Conventions,
}

impl Rules {
    /// The rules every push must meet.
    pub const PUSH: Rules = Rules {
        conventions: Conventions::Enforce,
    };

    /// A legacy import: conventions become warnings stored with each model.
    pub const LEGACY: Rules = Rules {
        conventions: Conventions::Warn,
    };
}

/// The rules of `dmr-client validate --strict`: each document is one Interface object with a
/// valid `@id`, and (as `rules.conventions` says) every nested `@id` lies under the root DTMI
/// (segment-aware).
pub(super) fn check_repository_rules<'a>(
    batch: &'a Batch<'_>,
    rules: Rules,
) -> Result<Vec<Candidate<'a>>, PushError> {
    let mut issues = Vec::new();
    let mut candidates = Vec::new();
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    for item in &batch.items {
        let mut local = Vec::new();
        let value = &item.value;
        let Some(object) = value.as_object() else {
            local.push(
                Issue::repository(
                    "notAnObject",
                    "each model must be a single JSON object (a DTDL Interface); nested arrays are not accepted",
                )
                .at(""),
            );
            issues.extend(local.into_iter().map(|i| batch.locate(item.index, i)));
            continue;
        };
        let dtmi = match object.get("@id") {
            Some(Value::String(id)) => match dtdl::Dtmi::parse(id) {
                Ok(dtmi) if dtmi.fragment().is_none() => Some(dtmi),
                Ok(_) => {
                    local.push(
                        Issue::repository(
                            "invalidRootId",
                            format!("the root @id {id:?} has a fragment; a model's DTMI must not"),
                        )
                        .at("/@id"),
                    );
                    None
                }
                Err(error) => {
                    local.push(
                        Issue::repository(
                            "invalidRootId",
                            format!("the root @id {id:?} is not a valid DTMI: {error}"),
                        )
                        .at("/@id"),
                    );
                    None
                }
            },
            Some(_) => {
                local.push(Issue::repository("invalidRootId", "the root @id must be a string holding the model's DTMI, such as \"dtmi:com:example:Thermostat;1\"").at("/@id"));
                None
            }
            None => {
                local.push(Issue::repository("missingRootId", "the model has no @id; give the root Interface its DTMI, such as \"dtmi:com:example:Thermostat;1\"").at(""));
                None
            }
        };
        if !is_interface(object.get("@type")) {
            local.push(
                Issue::repository(
                    "rootNotInterface",
                    "the root element must have \"@type\": \"Interface\"; only interfaces can be stored as models",
                )
                .at("/@type"),
            );
        }
        let mut warnings = Vec::new();
        if let Some(dtmi) = &dtmi {
            match rules.conventions {
                Conventions::Enforce => check_sub_ids(dtmi, value, &mut local),
                Conventions::Warn => {
                    check_sub_ids(dtmi, value, &mut warnings);
                    // Stored with the model, so located in the model, not in the push.
                    for warning in &mut warnings {
                        warning.element = Some(dtmi.to_string());
                    }
                }
                Conventions::Skip => {}
            }
            let lower = dtmi.as_str().to_lowercase();
            if let Some((first, first_dtmi)) = seen.get(&lower) {
                let message = if first_dtmi == dtmi.as_str() {
                    format!(
                        "{dtmi} appears twice in the push (models {first} and {}); send each model once",
                        item.index
                    )
                } else {
                    format!(
                        "{dtmi} and {first_dtmi} (model {first}) differ only in letter case; they would share one DMR path, so only one can be stored"
                    )
                };
                local.push(Issue::repository("duplicateInPush", message).at("/@id"));
            } else {
                seen.insert(lower, (item.index, dtmi.to_string()));
            }
        }
        let clean = local.is_empty();
        issues.extend(local.into_iter().map(|issue| {
            let issue = match &dtmi {
                Some(dtmi) => issue.about(dtmi.as_str()),
                None => issue,
            };
            batch.locate(item.index, issue)
        }));
        if let (true, Some(dtmi)) = (clean, dtmi) {
            candidates.push(Candidate {
                index: item.index,
                dtmi,
                text: item.text,
                sha256: hex::encode(Sha256::digest(item.text.as_bytes())),
                canonical_sha256: canonical_sha256(value),
                value,
                warnings,
            });
        }
    }
    if issues.is_empty() {
        Ok(candidates)
    } else {
        Err(PushError::Invalid(issues))
    }
}

pub(super) fn is_interface(types: Option<&Value>) -> bool {
    match types {
        Some(Value::String(t)) => t == "Interface",
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some("Interface")),
        _ => false,
    }
}

/// Every nested `@id` must name the root or something under it: its labels (without version
/// and fragment) must start with all of the root's labels.
pub(super) fn check_sub_ids(root: &dtdl::Dtmi, value: &Value, issues: &mut Vec<Issue>) {
    let root_labels = root.labels();
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), value)];
    while let Some((path, node)) = stack.pop() {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = format!("{path}/{}", escape_pointer(key));
                    if key == "@id"
                        && !path.is_empty()
                        && let Some(Ok(id)) = child.as_str().map(dtdl::Dtmi::parse)
                        && !id.labels().starts_with(&root_labels)
                    {
                        issues.push(
                            Issue::repository(
                                "idOutsideRoot",
                                format!(
                                    "@id {id} is not under the model's DTMI {root}; nested ids must start with {}: so that the model owns them",
                                    root.versionless()
                                ),
                            )
                            .at(child_path.clone()),
                        );
                    }
                    if key != "@context" {
                        stack.push((child_path, child));
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    stack.push((format!("{path}/{i}"), child));
                }
            }
            _ => {}
        }
    }
    issues.sort_by(|a, b| a.pointer.cmp(&b.pointer));
}

pub(super) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// SHA-256 of the value written compactly with object keys sorted, so that re-pushing the same
/// model with other whitespace or key order counts as identical.
pub(super) fn canonical_sha256(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    if let Some(child) = map.get(key) {
                        write(child, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut text = String::new();
    write(value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_ids_must_lie_under_the_root_segment_by_segment() {
        let root = dtdl::Dtmi::parse("dtmi:com:ex:Thermo;1").expect("valid");
        let value = serde_json::json!({
            "@id": "dtmi:com:ex:Thermo;1",
            "contents": [
                {"@id": "dtmi:com:ex:Thermo:temp;1"},
                {"@id": "dtmi:com:ex:Thermostat:temp;1"},
                {"schema": {"@id": "dtmi:com:other:thing;1"}}
            ]
        });
        let mut issues = Vec::new();
        check_sub_ids(&root, &value, &mut issues);
        let pointers: Vec<_> = issues.iter().filter_map(|i| i.pointer.clone()).collect();
        assert_eq!(pointers, ["/contents/1/@id", "/contents/2/schema/@id"]);
    }
}

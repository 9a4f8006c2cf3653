//! Derives the crate's metamodel fact table (`src/metamodel/facts.json`) from the DTDL
//! metamodel digest: element classes, properties, ranges, counts, value constraints, contexts,
//! extensions, units, limits and identifier rules. Only facts are kept; every text meant for
//! humans (descriptions, message templates, pattern explanations) is dropped, so no wording of
//! another project enters ours. Shared by the `gen_metamodel` example and the freshness test.

use serde_json::{Map, Value};

/// Top-level digest keys that carry no facts the parser uses.
const DROPPED_TOP_LEVEL: &[&str] = &["extensionDocumentation"];

/// Keys holding human-readable text anywhere in the digest. The same names also label
/// property definitions (`description`, `displayName`, `comment` are DTDL properties); those
/// are objects with a `_` member and are kept, as are context entries (term → DTMI).
fn is_text(key: &str, value: &Value) -> bool {
    let named = matches!(
        key,
        "description" | "patternDesc" | "criteriaText" | "displayName" | "comment"
    );
    let fact = match value {
        Value::Object(o) => o.contains_key("_"),
        Value::String(s) => s.starts_with("dtmi:"),
        _ => false,
    };
    // Message templates end in `Format`; a property named so (mqtt `payloadFormat`, as a
    // context term or a property DTMI) is a fact.
    let template = key.ends_with("Format") && !key.starts_with("dtmi:");
    (named || template) && !fact
}

fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                if is_text(k, &map[k]) {
                    continue;
                }
                out.insert(k.clone(), strip(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

/// Builds the facts text from the digest text (which may start with a BOM).
pub fn generate(digest_text: &str) -> Result<String, String> {
    let text = digest_text.strip_prefix('\u{feff}').unwrap_or(digest_text);
    let digest: Value =
        serde_json::from_str(text).map_err(|e| format!("digest is not JSON: {e}"))?;
    let Value::Object(top) = digest else {
        return Err("digest is not a JSON object".into());
    };
    let mut out = Map::new();
    let mut keys: Vec<&String> = top.keys().collect();
    keys.sort();
    for k in keys {
        if DROPPED_TOP_LEVEL.contains(&k.as_str()) {
            continue;
        }
        out.insert(k.clone(), strip(&top[k]));
    }
    // One top-level key per line keeps diffs of regenerated tables readable.
    let mut s = String::from("{\n");
    let n = out.len();
    for (i, (k, v)) in out.iter().enumerate() {
        let key = serde_json::to_string(k).map_err(|e| e.to_string())?;
        let val = serde_json::to_string(v).map_err(|e| e.to_string())?;
        s.push_str(&key);
        s.push(':');
        s.push_str(&val);
        s.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    s.push_str("}\n");
    Ok(s)
}

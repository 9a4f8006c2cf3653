//! The parser must never panic or overflow the stack, whatever it is fed: documents are
//! mutated deterministically (structural and lexical edits on valid models) and parsed, with
//! and without a resolver that answers with more mutated documents.

use dtdl::{Dtmi, ParsingOptions, Resolver, ResolverError, UndefinedExtensions, parse};
use serde_json::Value;

const SEEDS: &[&str] = &[
    r#"{"@context":["dtmi:dtdl:context;2","dtmi:iotcentral:context;2"],"@id":"dtmi:com:example:A;1","@type":"Interface",
      "extends":"dtmi:com:example:B;1","contents":[{"@type":["Telemetry","Temperature"],"name":"t","schema":"double","unit":"degreeCelsius"},
      {"@type":"Property","name":"p","writable":true,"schema":{"@type":"Object","fields":[{"name":"f","schema":{"@type":"Enum","valueSchema":"integer","enumValues":[{"name":"a","enumValue":1}]}}]}},
      {"@type":"Component","name":"c","schema":"dtmi:com:example:B;1"},{"@type":"Relationship","name":"r","target":"dtmi:com:example:B;1","properties":[{"@type":"Property","name":"q","schema":"string"}]},
      {"@type":"Command","name":"k","request":{"name":"x","schema":{"@type":"Map","mapKey":{"name":"k","schema":"string"},"mapValue":{"name":"v","schema":{"@type":"Array","elementSchema":"long"}}}}}]}"#,
    r#"{"@context":["dtmi:dtdl:context;3","dtmi:dtdl:extension:quantitativeTypes;1","dtmi:dtdl:extension:historization;1","dtmi:dtdl:extension:annotation;1"],
      "@id":"dtmi:com:example:B;1","@type":"Interface","displayName":{"en":"B","de":"B"},"description":[{"@value":"d","@language":"en"}],
      "contents":[{"@type":["Telemetry","Historized","Temperature"],"name":"t","schema":"double","unit":"degreeCelsius"},
      {"@type":["Property","ValueAnnotation"],"name":"a","annotates":"t","schema":"string"}],"schemas":[{"@id":"dtmi:com:example:S;1","@type":"Array","elementSchema":"dtmi:com:example:S;1"}]}"#,
    r#"[{"@context":["dtmi:dtdl:context;4#limitless","dtmi:dtdl:limits:onvif;1","dtmi:dtdl:extension:mqtt;2","dtmi:dtdl:extension:requirement;1"],
      "@id":"dtmi:com:example:C;1","@type":["Interface","Mqtt"],"payloadFormat":"Json/ecma/404","telemetryTopic":"a/{senderId}",
      "contents":[{"@type":"Command","name":"c","request":{"@type":"CommandRequest","name":"r","nullable":true,"schema":{"@type":"Object","fields":[{"@type":["Field","Required"],"name":"u","schema":"uuid"}]}}}]}, 626, null]"#,
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
}

const REPLACEMENTS: &[&str] = &[
    "null",
    "626",
    "-1",
    "1.5",
    "true",
    "\"\"",
    "\"x\"",
    "[]",
    "{}",
    "[null]",
    "{\"@id\":\"dtmi:x:y;1\"}",
    "\"dtmi:dtdl:context;3\"",
    "\"dtmi:com:example:A;1\"",
    "\"Interface\"",
    "[\"Telemetry\",\"Foo\"]",
    "{\"@value\":1,\"@type\":\"xsd:integer\"}",
    "\"dtmi:com:example:B\"",
    "\"dtmi:\"",
    "{\"@context\":[]}",
];

/// Replaces a random JSON value somewhere in the tree.
fn mutate_value(v: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.below(3) != 0;
    match v {
        Value::Object(map) if descend && !map.is_empty() => {
            let i = rng.below(map.len());
            if let Some((_, child)) = map.iter_mut().nth(i) {
                mutate_value(child, rng, depth + 1);
            }
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate_value(&mut items[i], rng, depth + 1);
        }
        _ => {
            let r = REPLACEMENTS[rng.below(REPLACEMENTS.len())];
            *v = serde_json::from_str(r).unwrap_or(Value::Null);
        }
    }
}

/// Lexical damage: delete, duplicate or swap byte ranges (kept valid UTF-8 by working on chars).
fn mutate_text(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let (a, b) = (rng.below(n), rng.below(n));
    let (lo, hi) = (a.min(b), a.max(b).min(lo_bound(a.min(b), n)));
    match rng.below(3) {
        0 => {
            chars.drain(lo..hi);
        }
        1 => {
            let slice: Vec<char> = chars[lo..hi].to_vec();
            let at = rng.below(chars.len());
            chars.splice(at..at, slice);
        }
        _ => chars.swap(lo, hi.saturating_sub(1).max(lo)),
    }
    chars.into_iter().collect()
}

fn lo_bound(lo: usize, n: usize) -> usize {
    (lo + 40).min(n)
}

struct Echo {
    rng: Rng,
}

impl Resolver for Echo {
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        let mut out = Vec::new();
        for d in dtmis {
            let seed = SEEDS[self.rng.below(SEEDS.len())];
            let mut v: Value = serde_json::from_str(seed).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("@id".into(), Value::String(d.as_str().into()));
            }
            if self.rng.below(2) == 0 {
                mutate_value(&mut v, &mut self.rng, 0);
            }
            out.push(v.to_string());
        }
        Ok(out)
    }
}

#[test]
fn mutated_documents_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let options = [
        ParsingOptions::default(),
        ParsingOptions {
            undefined_extensions: UndefinedExtensions::Always,
            ..ParsingOptions::default()
        },
    ];
    // More rounds on demand, e.g. TWINHUB_DTDL_MUTATION_ROUNDS=200000 with --release.
    let rounds: usize = std::env::var("TWINHUB_DTDL_MUTATION_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1500);
    for round in 0..rounds {
        let seed = SEEDS[rng.below(SEEDS.len())];
        let text = if round % 3 == 0 {
            mutate_text(seed, &mut rng)
        } else {
            let mut v: Value = serde_json::from_str(seed).expect("seed is JSON");
            for _ in 0..=rng.below(3) {
                mutate_value(&mut v, &mut rng, 0);
            }
            if rng.below(2) == 0 {
                serde_json::to_string_pretty(&v).expect("serialises")
            } else {
                v.to_string()
            }
        };
        let opts = &options[round % 2];
        let mut resolver = Echo {
            rng: Rng(rng.next() | 1),
        };
        let result = if round % 4 == 0 {
            parse(&[&text], Some(&mut resolver), opts)
        } else {
            parse(&[&text, SEEDS[1]], None, opts)
        };
        // Errors must render and carry locations inside the documents.
        if let Err(dtdl::ParseFailure::Invalid(errors)) = &result {
            for e in errors {
                assert!(!e.to_string().is_empty());
                if let Some(loc) = &e.location {
                    assert!(loc.line >= 1 && loc.column >= 1);
                }
            }
        }
    }
}

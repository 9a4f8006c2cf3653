//! Compares our parser with the reference parser's results (a JSON-lines file written by
//! `tools/differential/reference.mjs`, default options) on the same conformance-format case
//! files: verdict, unresolved identifiers, and whether every error we report has a reference
//! error with the same validation ID and primary element (the suite's matching rule).
//!
//! `cargo run --release -p twinhub-dtdl --example differential -- reference.jsonl DIR...`

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dtdl::{ParseFailure, ParsingOptions};
use serde_json::Value;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((reference, dirs)) = args.split_first() else {
        eprintln!("usage: differential REFERENCE.jsonl DIR...");
        return ExitCode::from(2);
    };
    let Ok(text) = std::fs::read_to_string(reference) else {
        eprintln!("cannot read {reference}");
        return ExitCode::from(2);
    };
    let mut expected: HashMap<(String, usize), Value> = HashMap::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            let file = v["file"].as_str().unwrap_or_default().to_owned();
            let index = v["index"].as_u64().unwrap_or_default() as usize;
            expected.insert((file, index), v);
        }
    }
    let options = ParsingOptions::default();
    let (mut compared, mut verdict_diff, mut id_diff) = (0usize, 0usize, 0usize);
    let mut mismatched_ids: BTreeMap<String, usize> = BTreeMap::new();
    for dir in dirs {
        let root = PathBuf::from(dir);
        let base = root.parent().unwrap_or(&root).to_path_buf();
        let mut files = Vec::new();
        collect(&root, &mut files);
        files.sort();
        for path in files {
            let rel = path
                .strip_prefix(&base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let Ok(body) = std::fs::read_to_string(&path) else {
                continue;
            };
            let cases = match serde_json::from_str::<Value>(body.trim_start_matches('\u{feff}')) {
                Ok(Value::Array(a)) => a,
                Ok(v @ Value::Object(_)) => vec![v],
                _ => continue,
            };
            for (index, case) in cases.iter().enumerate() {
                let Some(reference) = expected.get(&(rel.clone(), index)) else {
                    continue;
                };
                let Some(inputs) = case["input"].as_array() else {
                    continue;
                };
                let texts: Vec<String> = inputs
                    .iter()
                    .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                    .collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                compared += 1;
                let ours = dtdl::parse(&refs, None, &options);
                let ref_valid = reference["valid"].as_bool().unwrap_or(false);
                if ours.is_ok() != ref_valid {
                    verdict_diff += 1;
                    println!(
                        "VERDICT {rel}#{index}: reference {ref_valid}, ours {}",
                        ours.is_ok()
                    );
                    continue;
                }
                if let Err(ParseFailure::Invalid(errors)) = &ours {
                    let allowed: BTreeSet<(String, Option<String>)> = reference["errors"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|e| {
                                    (
                                        e[0].as_str().unwrap_or_default().to_owned(),
                                        e[1].as_str().map(str::to_owned),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    for e in errors {
                        let key = (e.validation_id.clone(), e.primary_id.clone());
                        let by_id = allowed.iter().any(|(v, _)| *v == e.validation_id);
                        if !allowed.contains(&key) {
                            id_diff += 1;
                            *mismatched_ids
                                .entry(format!(
                                    "{} ({})",
                                    e.name(),
                                    if by_id {
                                        "primary id differs"
                                    } else {
                                        "id not reported"
                                    }
                                ))
                                .or_default() += 1;
                            println!(
                                "ERROR {rel}#{index}: ours {} on {:?}; reference {:?}",
                                e.validation_id, e.primary_id, allowed
                            );
                            break;
                        }
                    }
                }
            }
        }
    }
    println!("-- mismatches by our validation ID --");
    for (k, n) in &mismatched_ids {
        println!("{n:6} {k}");
    }
    println!(
        "{compared} compared, {verdict_diff} verdict differences, {id_diff} cases with errors the reference does not report"
    );
    if verdict_diff == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

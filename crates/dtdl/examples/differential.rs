//! Compares our parser with the reference parser on the same inputs: the JSON-lines file
//! written by `tools/differential/reference.mjs` (reference results with their inputs, default
//! options, no resolver). For each input: the verdict; for inputs both reject, the unresolved
//! identifiers, or whether every error we report has a reference error with the same
//! validation ID and primary element (the suite's matching rule); for inputs both accept, the
//! object model (every element and property value, see `Model::to_reference_json`). The
//! judging lives in `tests/support/differential.rs`, shared with the smoke test.
//!
//! `cargo run --release -p twinhub-dtdl --example differential -- reference.jsonl [--show N]`
//!
//! Prints each disagreement (up to N per class, default 20), counts per class, and exits
//! non-zero when a verdict differs.

#[path = "../tests/support/differential.rs"]
mod differential;

use std::io::BufRead;
use std::process::ExitCode;

use dtdl::ParsingOptions;
use serde_json::Value;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(reference) = args.first() else {
        eprintln!("usage: differential REFERENCE.jsonl [--show N]");
        return ExitCode::from(2);
    };
    let show: usize = args
        .iter()
        .position(|a| a == "--show")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let Ok(file) = std::fs::File::open(reference) else {
        eprintln!("cannot read {reference}");
        return ExitCode::from(2);
    };
    let options = ParsingOptions::default();
    let mut tally = differential::Tally::default();
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        if let Ok(r) = serde_json::from_str::<Value>(&line) {
            differential::compare(&r, &options, show, &mut tally);
        }
    }
    for text in &tally.shown {
        println!("{text}");
    }
    println!("-- disagreements by kind --");
    for (k, n) in &tally.by_kind {
        println!("{n:6} {k}");
    }
    let summary: Vec<String> = tally
        .classes
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "{} compared, {} verdict differences; by class: {}",
        tally.compared,
        tally.verdict_differences(),
        if summary.is_empty() {
            "none".to_owned()
        } else {
            summary.join(", ")
        }
    );
    if tally.verdict_differences() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! Parses and validates every model file in a DMR folder tree (`dtmi/com/example/x-1.json`),
//! resolving dependencies from the same tree, and prints `N valid, M invalid` and the
//! throughput. Files are read into memory first so that the timing measures the parser.
//!
//! `cargo run --release -p twinhub-dtdl --example validate_tree -- ../shared/models-sample`

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use dtdl::{Dtmi, ParseFailure, ParsingOptions, Resolver, ResolverError};

/// Answers resolver requests from the in-memory tree.
struct TreeResolver<'a> {
    files: &'a HashMap<String, String>,
}

impl Resolver for TreeResolver<'_> {
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        Ok(dtmis
            .iter()
            .filter_map(|d| self.files.get(&d.to_dmr_path()).cloned())
            .collect())
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json")
            && !path.to_string_lossy().ends_with(".expanded.json")
        {
            out.push(path);
        }
    }
}

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: validate_tree DIR [PASSES]");
        return ExitCode::from(2);
    };
    // Optional number of passes over the tree, for steadier throughput figures.
    let passes: usize = std::env::args()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut paths = Vec::new();
    collect(&root, &mut paths);
    paths.sort();
    let mut files = HashMap::new();
    for p in &paths {
        let Ok(rel) = p.strip_prefix(&root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        // Only files whose path is a DMR model path take part.
        if dtdl::dmr_path_to_lowercase_dtmi(&rel).is_none() {
            continue;
        }
        match std::fs::read_to_string(p) {
            Ok(t) => {
                files.insert(rel, t);
            }
            Err(e) => eprintln!("cannot read {}: {e}", p.display()),
        }
    }
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    let options = ParsingOptions::default();
    // The metamodel and standard elements load once per process; keep that out of the timing.
    let warm = Instant::now();
    let _ = dtdl::parse(
        &[r#"{"@context":"dtmi:dtdl:context;2","@id":"dtmi:x:y;1","@type":"Interface"}"#],
        None,
        &options,
    );
    eprintln!(
        "one-time metamodel load: {:.1} ms",
        warm.elapsed().as_secs_f64() * 1000.0
    );
    let start = Instant::now();
    let (mut valid, mut invalid) = (0usize, 0usize);
    for pass in 0..passes {
        for name in &names {
            let mut resolver = TreeResolver { files: &files };
            match dtdl::parse(&[files[*name].as_str()], Some(&mut resolver), &options) {
                Ok(_) => valid += 1,
                Err(e) => {
                    invalid += 1;
                    let first = match &e {
                        ParseFailure::Invalid(errors) => {
                            errors.first().map(ToString::to_string).unwrap_or_default()
                        }
                        other => other.to_string(),
                    };
                    if pass == 0 {
                        println!("INVALID {name}: {first}");
                    }
                }
            }
        }
    }
    valid /= passes;
    invalid /= passes;
    let secs = start.elapsed().as_secs_f64();
    println!("{valid} valid, {invalid} invalid");
    let parsed = (valid + invalid) * passes;
    println!(
        "{:.0} models/s ({parsed} models in {secs:.3} s)",
        parsed as f64 / secs.max(1e-9)
    );
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! Parses the given DTDL files together as one model and prints the outcome: the roots and
//! external references of each document, or every error with its location.
//!
//! `cargo run -p twinhub-dtdl --example check -- model.json [more.json ...]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let mut texts = Vec::new();
    for p in &paths {
        match std::fs::read_to_string(p) {
            Ok(t) => texts.push(t),
            Err(e) => {
                eprintln!("cannot read {p}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    match dtdl::parse(&refs, None, &dtdl::ParsingOptions::default()) {
        Ok(model) => {
            for (p, d) in paths.iter().zip(model.documents()) {
                println!(
                    "{p}: DTDL v{}, roots {:?}, external {:?}",
                    d.dtdl_version, d.roots, d.external_references
                );
            }
            println!("{} elements", model.len());
            if std::env::var_os("DTDL_CHECK_VERBOSE").is_some() {
                for e in model.elements() {
                    println!(
                        "{} {} v{} {:?}",
                        e.id(),
                        e.class(),
                        e.dtdl_version(),
                        e.properties()
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(dtdl::ParseFailure::Invalid(errors)) => {
            for e in errors {
                match &e.location {
                    Some(loc) => println!("{}: {e}\n    at {loc}", e.validation_id),
                    None => println!("{}: {e}", e.validation_id),
                }
            }
            ExitCode::FAILURE
        }
        Err(other) => {
            println!("{other}");
            ExitCode::FAILURE
        }
    }
}

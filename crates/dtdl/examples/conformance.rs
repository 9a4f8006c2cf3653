//! Runs the DTDL conformance cases in the given folders and prints agreement per folder, per
//! DTDL version and per file prefix, every failure, and `N passed, N failed, N skipped`.
//!
//! `cargo run --release -p twinhub-dtdl --example conformance -- ../shared/dtdl-conformance/specification`

#[path = "../tests/support/conformance.rs"]
mod conformance;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: conformance DIR...");
        return ExitCode::from(2);
    }
    let start = std::time::Instant::now();
    let mut results = Vec::new();
    for dir in &dirs {
        if !dir.is_dir() {
            eprintln!("not a folder: {}", dir.display());
            return ExitCode::from(2);
        }
        results.extend(conformance::run_folder(dir));
    }
    print!("{}", conformance::report(&results));
    eprintln!("{} cases in {:.2?}", results.len(), start.elapsed());
    if results
        .iter()
        .any(|r| matches!(r.outcome, conformance::Outcome::Fail { .. }))
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

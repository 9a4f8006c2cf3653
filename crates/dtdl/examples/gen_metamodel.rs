//! Regenerates `src/metamodel/facts.json` from the DTDL metamodel digest.
//!
//! `cargo run -p twinhub-dtdl --example gen_metamodel -- ../shared/dtdl-metamodel/dtdl_digest.json`

#[path = "../tools/metamodel_gen.rs"]
mod metamodel_gen;

use std::process::ExitCode;

fn main() -> ExitCode {
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/dtdl-metamodel/dtdl_digest.json"
    );
    let input = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default.to_owned());
    let digest = match std::fs::read_to_string(&input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/src/metamodel/facts.json");
    match metamodel_gen::generate(&digest).map(|facts| std::fs::write(out, facts)) {
        Ok(Ok(())) => {
            println!("wrote {out}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("cannot write {out}: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

//! A small differential run against the reference parser (npm `@digicatapult/dtdl-parser`, the
//! .NET DTDLParser in WebAssembly): our own conformance cases plus a few hundred mutated
//! inputs from `tools/differential/mutate.mjs`, judged by the same rules as the
//! `differential` example. The npm package is installed on first use (`npm ci` from the
//! committed lock file). Without Node.js and npm the run is skipped with a notice; set
//! `TWINHUB_REQUIRE_DIFFERENTIAL=1` to make that a failure instead.

#[path = "support/differential.rs"]
mod differential;

use std::path::{Path, PathBuf};
use std::process::Command;

use dtdl::ParsingOptions;
use serde_json::Value;

fn tool_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/differential")
}

/// Installs the reference parser if needed; returns false (after a notice) when Node.js or
/// npm is not available.
fn reference_installed(dir: &Path) -> bool {
    let has = |cmd: &str| Command::new(cmd).arg("--version").output().is_ok();
    if !has("node") || !has("npm") {
        let required = std::env::var_os("TWINHUB_REQUIRE_DIFFERENTIAL").is_some();
        assert!(
            !required,
            "node and npm are required for the differential run"
        );
        eprintln!("NOTICE: node or npm not found; skipping the differential run");
        return false;
    }
    if !dir.join("node_modules/@digicatapult/dtdl-parser").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm ci runs");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    true
}

fn node(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("node")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn the_reference_parser_agrees_on_verdicts_for_own_and_mutated_inputs() {
    let dir = tool_dir();
    if !reference_installed(&dir) {
        return;
    }
    let scratch = std::env::temp_dir().join(format!("twinhub-dtdl-diff-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let inputs = scratch.join("inputs.jsonl");
    let mutated = node(
        &dir,
        &[
            "mutate.mjs",
            "--count",
            "300",
            "--seed",
            "3",
            "--cases",
            "../../tests/fixtures/conformance",
        ],
    );
    std::fs::write(&inputs, mutated).expect("inputs written");
    let mut records = node(&dir, &["reference.mjs", "../../tests/fixtures/conformance"]);
    records.push_str(&node(
        &dir,
        &[
            "reference.mjs",
            "--inputs",
            inputs.to_str().expect("utf-8 path"),
        ],
    ));
    let _ = std::fs::remove_dir_all(&scratch);

    let options = ParsingOptions::default();
    let mut tally = differential::Tally::default();
    for line in records.lines() {
        let record: Value = serde_json::from_str(line).expect("reference record");
        differential::compare(&record, &options, 20, &mut tally);
    }
    eprintln!("{} compared; classes {:?}", tally.compared, tally.classes);
    assert!(
        tally.compared >= 300,
        "only {} inputs compared",
        tally.compared
    );
    assert_eq!(
        tally.verdict_differences(),
        0,
        "verdicts differ:\n{}",
        tally.shown.join("\n")
    );
    let models = tally.classes.get("object-model").copied().unwrap_or(0);
    assert_eq!(
        models,
        0,
        "object models differ:\n{}",
        tally.shown.join("\n")
    );
}

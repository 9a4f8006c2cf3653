//! Runs the DTDL conformance suite (`../shared/dtdl-conformance`, or the folder named by
//! `TWINHUB_DTDL_CONFORMANCE`) and the real-model sample (`../shared/models-sample`) against
//! the parser. The recorded floor is `conformance-xfail.txt` (one `folder/file.json#index` per
//! line): a listed case that now passes must be removed from the list, and an unlisted failure
//! fails the test. Absent folders are reported with a notice and that part is skipped.

#[path = "support/conformance.rs"]
mod conformance;
#[path = "support/dmr_tree.rs"]
mod dmr_tree;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dtdl::ParsingOptions;

fn workspace_shared(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(dir)
}

fn suite_root() -> PathBuf {
    std::env::var_os("TWINHUB_DTDL_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_shared("dtdl-conformance"))
}

fn xfail_list() -> BTreeSet<String> {
    include_str!("conformance-xfail.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn conformance_suite_meets_the_recorded_floor() {
    let root = suite_root();
    let mut folders: Vec<PathBuf> = ["specification", "dtmis"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    // Other folders of the full suite (generated, doc-examples, solecisms), when pointed at.
    if let Some(extra) = std::env::var_os("DTDL_CONFORMANCE_EXTRA") {
        folders.extend(std::env::split_paths(&extra));
    }
    let mut results = Vec::new();
    for dir in folders {
        if dir.is_dir() {
            results.extend(conformance::run_folder(&dir));
        } else {
            eprintln!(
                "NOTICE: conformance folder {} not found; skipping it",
                dir.display()
            );
        }
    }
    if results.is_empty() {
        eprintln!(
            "NOTICE: no conformance cases found under {}; nothing checked",
            root.display()
        );
        return;
    }
    let xfail = xfail_list();
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    for r in &results {
        let key = r.key();
        match (&r.outcome, xfail.contains(&key)) {
            (
                conformance::Outcome::Fail {
                    expected,
                    got,
                    detail,
                },
                false,
            ) => {
                unexpected.push(format!("{key}: expected {expected}, got {got}: {detail}"));
            }
            (conformance::Outcome::Pass, true) => now_passing.push(key),
            _ => {}
        }
    }
    let report = conformance::report(&results);
    // Per-folder agreement, skip reasons and the totals (failures are listed below).
    for line in report.lines().filter(|l| !l.starts_with("FAIL ")) {
        eprintln!("{line}");
    }
    assert!(
        now_passing.is_empty(),
        "these cases now pass; remove them from tests/conformance-xfail.txt:\n{}",
        now_passing.join("\n")
    );
    assert!(
        unexpected.is_empty(),
        "{} case(s) fail that are not in tests/conformance-xfail.txt:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

/// The runner itself honours the keys of the full suite's other folders (scripted resolution,
/// instances, expected parsing errors, unresolved identifiers, maxDtdlVersion, BOM and
/// single-object files) and skips what it cannot honour.
#[test]
fn the_runner_honours_every_case_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runner/generated");
    let results = conformance::run_folder(&dir);
    assert_eq!(results.len(), 5);
    let skipped: Vec<_> = results
        .iter()
        .filter(|r| matches!(r.outcome, conformance::Outcome::Skip(_)))
        .collect();
    assert_eq!(skipped.len(), 1, "only the layering case is skipped");
    for r in &results {
        assert!(
            !matches!(r.outcome, conformance::Outcome::Fail { .. }),
            "{}: {:?}",
            r.key(),
            r.outcome
        );
    }
    assert!(conformance::report(&results).ends_with("4 passed, 0 failed, 1 skipped\n"));
}

/// Our own cases, one folder per class of the suite's other folders (object model, instance
/// validation, solecism quirks, extension rules, error identity), in the suite's format:
/// every one must pass, none may be skipped.
#[test]
fn own_cases_of_every_class_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance");
    let results = conformance::run_folder(&dir);
    assert!(results.len() >= 50, "only {} own cases", results.len());
    let report = conformance::report(&results);
    eprintln!("{}", report.lines().last().unwrap_or_default());
    let bad: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r.outcome, conformance::Outcome::Pass))
        .map(|r| format!("{}: {:?}", r.key(), r.outcome))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_sample_model_is_accepted() {
    let root = workspace_shared("models-sample");
    if !root.is_dir() {
        eprintln!(
            "NOTICE: {} not found; skipping the real-model check",
            root.display()
        );
        return;
    }
    let files = dmr_tree::load(&root);
    assert!(
        !files.is_empty(),
        "no models found under {}",
        root.display()
    );
    let options = ParsingOptions::default();
    let mut rejected = Vec::new();
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    for name in names {
        let mut resolver = dmr_tree::Tree(&files);
        if let Err(e) = dtdl::parse(&[files[name].as_str()], Some(&mut resolver), &options) {
            rejected.push(format!("{name}: {e}"));
        }
    }
    assert!(
        rejected.is_empty(),
        "{} sample model(s) rejected:\n{}",
        rejected.len(),
        rejected.join("\n")
    );
}

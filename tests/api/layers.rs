//! The module layering of `src/` that ARCHITECTURE.md states: each top-level module may import
//! only the modules listed for it, the layers below HTTP import no web framework, and the
//! allowed imports form no cycle. Imports are read from the source text (`crate::…` paths and
//! `use crate::{…}` groups, comments left out), so a new edge fails here before review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the modules it may import.
const LAYERS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("config", &["domain"]),
    ("store", &["domain"]),
    ("repository", &["domain", "store"]),
    ("auth", &["domain", "config", "store"]),
    ("authz", &["domain", "store", "auth"]),
    ("changes", &["domain", "store", "repository", "authz"]),
    ("telemetry", &[]),
    (
        "http",
        &["domain", "config", "store", "repository", "auth", "authz"],
    ),
    (
        "routes",
        &[
            "domain",
            "config",
            "store",
            "repository",
            "auth",
            "authz",
            "changes",
            "telemetry",
            "http",
        ],
    ),
    ("openapi", &["domain", "http", "routes"]),
    (
        "startup",
        &[
            "domain",
            "config",
            "store",
            "repository",
            "auth",
            "authz",
            "changes",
            "telemetry",
            "http",
            "routes",
            "openapi",
        ],
    ),
    (
        "cli",
        &[
            "domain",
            "config",
            "store",
            "repository",
            "auth",
            "authz",
            "changes",
            "telemetry",
            "http",
            "routes",
            "openapi",
            "startup",
        ],
    ),
];

/// The layers the hub and other crates reuse: no HTTP framework, no templates.
const BELOW_HTTP: &[&str] = &[
    "domain",
    "config",
    "store",
    "repository",
    "auth",
    "authz",
    "changes",
];
const HTTP_CRATES: &[&str] = &[
    "actix_web",
    "actix_cors",
    "actix_multipart",
    "askama",
    "askama_web",
    "utoipa_actix_web",
    "utoipa_swagger_ui",
];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/routes/api/models.rs` → `routes`).
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(source_root()).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a source text names through `crate::`.
fn imported_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(is_ident) {
            continue; // e.g. `twinhub_crate::`, not a path into this crate
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && is_ident(c) => {
                        let name: String =
                            group[i..].chars().take_while(|c| is_ident(*c)).collect();
                        found.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Whether the text uses `krate` (`use krate::…`, `krate::path`, or `#[derive(krate::…)]`).
fn uses_crate(text: &str, krate: &str) -> bool {
    let pattern = format!("{krate}::");
    text.match_indices(&pattern).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident(c) || c == ':')
    })
}

/// Module → the modules it imports, with one file that shows each edge.
fn import_graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
    let modules: BTreeSet<String> = LAYERS.iter().map(|(m, _)| (*m).to_owned()).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" || module == "main" {
            continue;
        }
        assert!(
            modules.contains(&module),
            "src/{module} is not in the layer table of tests/api/layers.rs; add it there and to ARCHITECTURE.md"
        );
        let text = without_comments(&std::fs::read_to_string(&file).expect("read file"));
        let edges = graph.entry(module.clone()).or_default();
        for imported in imported_modules(&text) {
            if imported != module && modules.contains(&imported) {
                edges.entry(imported).or_insert_with(|| file.clone());
            }
        }
    }
    graph
}

#[test]
fn each_module_imports_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    for (module, edges) in import_graph() {
        for (imported, file) in edges {
            if !allowed[module.as_str()].contains(&imported.as_str()) {
                violations.push(format!(
                    "{module} imports {imported} ({})",
                    file.strip_prefix(source_root()).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering of ARCHITECTURE.md:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_allowed_imports_form_no_cycle() {
    // Kahn's algorithm over the table itself, so a loosened table cannot hide a cycle.
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = LAYERS
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    while let Some(ready) = remaining
        .iter()
        .find(|(_, deps)| deps.is_empty())
        .map(|(m, _)| *m)
    {
        remaining.remove(ready);
        for deps in remaining.values_mut() {
            deps.remove(ready);
        }
    }
    assert!(
        remaining.is_empty(),
        "the layer table has a cycle among {:?}",
        remaining.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_layers_below_http_use_no_web_framework() {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
    let mut violations = Vec::new();
    for file in files {
        if !BELOW_HTTP.contains(&module_of(&file).as_str()) {
            continue;
        }
        let text = without_comments(&std::fs::read_to_string(&file).expect("read file"));
        for krate in HTTP_CRATES {
            if uses_crate(&text, krate) {
                violations.push(format!(
                    "{} uses {krate}",
                    file.strip_prefix(source_root()).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "HTTP belongs in src/http, src/routes and src/startup:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_import_reader_sees_paths_and_groups() {
    let text = "use crate::{auth::Caller, domain::{access, model}};\nlet x = crate::store::open();\n$crate::http::error::ApiError";
    let found: Vec<String> = imported_modules(text).into_iter().collect();
    assert_eq!(found, ["auth", "domain", "http", "store"]);
    assert!(uses_crate("use actix_web::web;", "actix_web"));
    assert!(!uses_crate("use my_actix_web::web;", "actix_web"));
}

//! The module layering of `src/` that ARCHITECTURE.md states: each top-level module may import
//! only the modules listed for it, the layers below HTTP import no web framework, and the
//! allowed imports form no cycle. Imports are read from the source text (`crate::…` paths and
//! `use crate::{…}` groups, comments left out), so a new edge fails here before review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a layer may import.
enum May {
    /// Exactly these modules.
    Import(&'static [&'static str]),
    /// Every module above it in [`LAYERS`].
    ImportAllBelow,
}

/// The top-level modules of `src/`, lowest first, and what each may import.
const LAYERS: &[(&str, May)] = &[
    ("domain", May::Import(&[])),
    ("store", May::Import(&["domain"])),
    ("routing", May::Import(&["domain", "store"])),
    ("config", May::Import(&["domain", "routing"])),
    ("cluster", May::Import(&["config"])),
    ("repository", May::Import(&["domain", "store"])),
    ("auth", May::Import(&["domain", "config", "store"])),
    ("authz", May::Import(&["domain", "store", "auth"])),
    (
        "changes",
        May::Import(&["domain", "store", "repository", "authz"]),
    ),
    ("telemetry", May::Import(&[])),
    (
        "http",
        May::Import(&["domain", "config", "store", "repository", "auth", "authz"]),
    ),
    (
        "service",
        May::Import(&["domain", "config", "store", "repository", "http"]),
    ),
    ("routes", May::ImportAllBelow),
    ("openapi", May::Import(&["domain", "http", "routes"])),
    ("startup", May::ImportAllBelow),
    ("cli", May::ImportAllBelow),
];

/// Module → the modules it may import.
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    LAYERS
        .iter()
        .enumerate()
        .map(|(position, (module, may))| {
            let modules = match may {
                May::Import(modules) => modules.to_vec(),
                May::ImportAllBelow => LAYERS[..position].iter().map(|(m, _)| *m).collect(),
            };
            (*module, modules)
        })
        .collect()
}

/// The layers the hub and other crates reuse: no HTTP framework, no templates.
const BELOW_HTTP: &[&str] = &[
    "domain",
    "store",
    "routing",
    "config",
    "cluster",
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

/// One source file: its top-level module, its path under `src/`, its text without comments.
struct Source {
    module: String,
    name: String,
    text: String,
}

/// Every source file of the modules in [`LAYERS`] (`lib.rs` and `main.rs` only declare them).
fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&source_root(), &mut files);
    let modules: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|file| {
            let module = module_of(&file);
            if module == "lib" || module == "main" {
                return None;
            }
            assert!(
                modules.contains(module.as_str()),
                "src/{module} is not in the layer table of tests/api/layers.rs; add it there and to ARCHITECTURE.md"
            );
            let text = std::fs::read_to_string(&file).expect("read file");
            Some(Source {
                name: file
                    .strip_prefix(source_root())
                    .unwrap_or(&file)
                    .display()
                    .to_string(),
                text: without_comments(&text),
                module,
            })
        })
        .collect()
}

fn assert_none(violations: &[String], rule: &str) {
    assert!(violations.is_empty(), "{rule}:\n{}", violations.join("\n"));
}

#[test]
fn each_module_imports_only_the_layers_below_it() {
    let allowed = allowed();
    let mut violations = Vec::new();
    for source in sources() {
        for imported in imported_modules(&source.text) {
            let known = allowed.contains_key(imported.as_str());
            if known
                && imported != source.module
                && !allowed[source.module.as_str()].contains(&imported.as_str())
            {
                violations.push(format!(
                    "{} imports {imported} ({})",
                    source.module, source.name
                ));
            }
        }
    }
    assert_none(
        &violations,
        "imports against the layering of ARCHITECTURE.md",
    );
}

#[test]
fn the_allowed_imports_form_no_cycle() {
    // Each layer may import only layers listed before it, which rules out every cycle.
    let position: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (*m, i))
        .collect();
    for (module, imports) in allowed() {
        for imported in imports {
            assert!(
                position[imported] < position[module],
                "{module} may import {imported}, which is not below it in the layer table"
            );
        }
    }
}

#[test]
fn the_layers_below_http_use_no_web_framework() {
    let mut violations = Vec::new();
    for source in sources() {
        if !BELOW_HTTP.contains(&source.module.as_str()) {
            continue;
        }
        for krate in HTTP_CRATES {
            if uses_crate(&source.text, krate) {
                violations.push(format!("{} uses {krate}", source.name));
            }
        }
    }
    assert_none(
        &violations,
        "HTTP belongs in src/http, src/routes and src/startup",
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

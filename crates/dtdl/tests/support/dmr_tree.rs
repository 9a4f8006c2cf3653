//! A DMR folder tree held in memory, and a resolver that answers from it: shared by the
//! conformance test (every sample model must parse) and the criterion bench.

use std::collections::HashMap;
use std::path::Path;

use dtdl::{Dtmi, Resolver, ResolverError};

/// Model files by their DMR path (`dtmi/com/example/thermostat-1.json`).
pub type Files = HashMap<String, String>;

/// Reads every model file under `root` whose path is a DMR model path.
pub fn load(root: &Path) -> Files {
    let mut files = Files::new();
    walk(root, root, &mut files);
    files
}

fn walk(dir: &Path, root: &Path, out: &mut Files) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            if dtdl::dmr_path_to_lowercase_dtmi(&rel).is_some()
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.insert(rel, text);
            }
        }
    }
}

/// Resolves DTMIs from the loaded files by their DMR path.
pub struct Tree<'a>(pub &'a Files);

impl Resolver for Tree<'_> {
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        Ok(dtmis
            .iter()
            .filter_map(|d| self.0.get(&d.to_dmr_path()).cloned())
            .collect())
    }
}

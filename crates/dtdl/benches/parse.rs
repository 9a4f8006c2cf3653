//! Parser throughput: a small v3 interface, a v2 interface with components and complex
//! schemas, and (when `../shared/models-sample` is present) every sample model with its
//! dependencies resolved from the same tree.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dtdl::{Dtmi, ParsingOptions, Resolver, ResolverError, parse};

const SMALL: &str = r#"{
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:Thermostat;1",
  "@type": "Interface",
  "displayName": "Thermostat",
  "contents": [
    { "@type": "Telemetry", "name": "temperature", "schema": "double" },
    { "@type": "Property", "name": "targetTemperature", "schema": "double", "writable": true },
    { "@type": "Command", "name": "reboot", "request": { "name": "delay", "schema": "duration" } }
  ]
}"#;

const COMPLEX: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:com:example:Device;1",
  "@type": "Interface",
  "contents": [
    { "@type": ["Telemetry", "Temperature"], "name": "t1", "schema": "double", "unit": "degreeCelsius" },
    { "@type": "Property", "name": "config", "writable": true, "schema": {
      "@type": "Object", "fields": [
        { "name": "mode", "schema": { "@type": "Enum", "valueSchema": "integer", "enumValues": [
          { "name": "off", "enumValue": 0 }, { "name": "on", "enumValue": 1 } ] } },
        { "name": "limits", "schema": { "@type": "Map",
          "mapKey": { "name": "k", "schema": "string" },
          "mapValue": { "name": "v", "schema": "double" } } }
      ] } },
    { "@type": "Telemetry", "name": "samples", "schema": { "@type": "Array", "elementSchema": "double" } },
    { "@type": "Component", "name": "sub", "schema": {
      "@id": "dtmi:com:example:Sub;1", "@type": "Interface",
      "contents": [ { "@type": "Telemetry", "name": "x", "schema": "long" } ] } }
  ]
}"#;

struct Tree<'a>(&'a HashMap<String, String>);

impl Resolver for Tree<'_> {
    fn resolve(&mut self, dtmis: &[Dtmi]) -> Result<Vec<String>, ResolverError> {
        Ok(dtmis
            .iter()
            .filter_map(|d| self.0.get(&d.to_dmr_path()).cloned())
            .collect())
    }
}

fn load(dir: &Path, root: &Path, out: &mut HashMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            load(&path, root, out);
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

fn benches(c: &mut Criterion) {
    let options = ParsingOptions::default();
    assert!(parse(&[SMALL], None, &options).is_ok() && parse(&[COMPLEX], None, &options).is_ok());
    c.bench_function("parse small v3 interface", |b| {
        b.iter(|| parse(black_box(&[SMALL]), None, &options).map(|m| m.len()))
    });
    c.bench_function("parse v2 interface with complex schemas", |b| {
        b.iter(|| parse(black_box(&[COMPLEX]), None, &options).map(|m| m.len()))
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models-sample");
    let mut files = HashMap::new();
    load(&root, &root, &mut files);
    if files.is_empty() {
        eprintln!(
            "NOTICE: {} not found; skipping the sample-model benchmark",
            root.display()
        );
        return;
    }
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    let mut group = c.benchmark_group("sample models");
    group.throughput(Throughput::Elements(names.len() as u64));
    group.sample_size(10);
    group.bench_function("parse every sample model with dependencies", |b| {
        b.iter(|| {
            let mut ok = 0;
            for name in &names {
                let mut tree = Tree(&files);
                ok +=
                    usize::from(parse(&[files[*name].as_str()], Some(&mut tree), &options).is_ok());
            }
            ok
        })
    });
    group.finish();
}

criterion_group!(parse_benches, benches);
criterion_main!(parse_benches);

//! Parser throughput: a small v3 interface, a v2 interface with components and complex
//! schemas, and (when `../shared/models-sample` is present) every sample model with its
//! dependencies resolved from the same tree.

#[path = "../tests/support/dmr_tree.rs"]
mod dmr_tree;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dtdl::{ParsingOptions, parse};

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
    let files = dmr_tree::load(&root);
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
                let mut tree = dmr_tree::Tree(&files);
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

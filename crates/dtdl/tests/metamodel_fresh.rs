//! The committed metamodel fact table must match what the generator derives from the digest
//! in `../shared/dtdl-metamodel` (skipped, with a notice, where the digest is absent).

#[path = "../tools/metamodel_gen.rs"]
mod metamodel_gen;

#[test]
fn committed_metamodel_facts_are_up_to_date() {
    let digest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/dtdl-metamodel/dtdl_digest.json"
    );
    let Ok(text) = std::fs::read_to_string(digest) else {
        eprintln!("NOTICE: {digest} not found; skipping the metamodel freshness check");
        return;
    };
    let expected = metamodel_gen::generate(&text).expect("digest converts");
    let committed = include_str!("../src/metamodel/facts.json");
    assert!(
        committed == expected,
        "src/metamodel/facts.json is stale: run `cargo run -p twinhub-dtdl --example gen_metamodel`"
    );
}

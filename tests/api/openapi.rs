//! The OpenAPI document: the checked-in file is exactly what `twinhub openapi` prints and what
//! the service serves, and the docs page is served.

use crate::helpers::{Backend, spawn_app};

fn checked_in() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("openapi/openapi.json exists");
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

#[test]
fn the_checked_in_document_matches_the_generated_one() {
    let generated: serde_json::Value =
        serde_json::from_str(&twinhub::openapi::document_json()).expect("JSON");
    assert!(
        generated == checked_in(),
        "openapi/openapi.json is out of date: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn the_cli_prints_the_document() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
        .arg("openapi")
        .output()
        .expect("run twinhub openapi");
    assert!(output.status.success());
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed, checked_in());
}

#[tokio::test]
async fn the_service_serves_the_document_and_a_docs_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let served = app.get_json("/api/openapi.json").await;
    assert_eq!(served, checked_in());
    let paths = served["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/models",
        "/api/v1/models/{dtmi}",
        "/api/v1/models/{dtmi}/dependencies",
        "/api/v1/models/{dtmi}/dependents",
        "/api/v1/models/{dtmi}/versions",
        "/dtmi/{path}",
        "/metadata.json",
        "/index.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the document");
    }
    let page = app.get("/api/docs/").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(
        page.text().await.expect("html").contains("swagger"),
        "docs page"
    );
}

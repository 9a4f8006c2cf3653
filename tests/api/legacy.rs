//! Legacy content: a public model that breaks only the repository's conventions (a nested
//! `@id` outside its root DTMI, like `dtmi:MeshSystems:txs:modbus;1`) is refused by default,
//! and admitted with warnings by an admin's `--allow-legacy` import (CLI) or `allowLegacy`
//! import (API), together with the models that depend on it. New pushes stay strict.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, Backend, TestDatabase, encode, on_both_backends, problem, spawn_app, spawn_on,
};

/// The legacy model: its command's request schema has an `@id` outside the root's DTMI.
const MODBUS: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:MeshSystems:txs:modbus;1",
  "@type": "Interface",
  "displayName": "Modbus",
  "contents": [
    {
      "@type": "Command",
      "name": "operate",
      "request": {
        "name": "operation",
        "schema": {
          "@id": "dtmi:MeshSystems:txs:modbusOperation;1",
          "@type": "Object",
          "fields": [{"name": "register", "schema": "integer"}]
        }
      }
    },
    {"@type": "Telemetry", "name": "status", "schema": "string"}
  ]
}
"#;

/// Depends on the legacy model through `extends`.
const GATEWAY: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:MeshSystems:txs:gateway;1",
  "@type": "Interface",
  "extends": "dtmi:MeshSystems:txs:modbus;1",
  "contents": [{"@type": "Property", "name": "site", "schema": "string"}]
}
"#;

/// Depends on the legacy model through a component.
const PLANT: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:com:example:plant;1",
  "@type": "Interface",
  "contents": [{"@type": "Component", "name": "bus", "schema": "dtmi:MeshSystems:txs:modbus;1"}]
}
"#;

/// A DMR folder tree holding the three models.
fn legacy_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in [
        ("dtmi/meshsystems/txs/modbus-1.json", MODBUS),
        ("dtmi/meshsystems/txs/gateway-1.json", GATEWAY),
        ("dtmi/com/example/plant-1.json", PLANT),
    ] {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    dir
}

fn import(tree: &std::path::Path, database_url: &str, more: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
        .arg("import")
        .arg(tree)
        .args(["--database-url", database_url])
        .args(more)
        .output()
        .expect("run twinhub import")
}

fn assert_the_warning(summary: &Value) {
    let warnings = summary["warnings"].as_array().expect("warnings listed");
    assert_eq!(warnings.len(), 1, "{summary}");
    assert_eq!(warnings[0]["code"], "twinhub:idOutsideRoot");
    assert_eq!(
        warnings[0]["pointer"], "/contents/0/request/schema/@id",
        "{summary}"
    );
    assert_eq!(warnings[0]["element"], "dtmi:MeshSystems:txs:modbus;1");
    assert!(
        warnings[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("dtmi:MeshSystems:txs:modbusOperation;1")),
        "{summary}"
    );
}

on_both_backends! {
    async fn an_admin_import_admits_legacy_models_and_their_dependents_with_warnings(backend: Backend) {
        let tree = legacy_tree();
        let database = std::sync::Arc::new(TestDatabase::create(backend).await);
        let refused = tokio::task::spawn_blocking({
            let (tree, url) = (tree.path().to_owned(), database.url.clone());
            move || import(&tree, &url, &[])
        })
        .await
        .expect("import");
        assert_eq!(refused.status.code(), Some(1), "strict by default");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("idOutsideRoot") && stderr.contains("modbusOperation"), "{stderr}");

        let admitted = tokio::task::spawn_blocking({
            let (tree, url) = (tree.path().to_owned(), database.url.clone());
            move || import(&tree, &url, &["--allow-legacy"])
        })
        .await
        .expect("import");
        let stdout = String::from_utf8_lossy(&admitted.stdout);
        assert!(admitted.status.success(), "{stdout}{}", String::from_utf8_lossy(&admitted.stderr));
        assert!(stdout.contains("3 stored"), "{stdout}");
        assert!(stdout.contains("1 model(s) break the repository's conventions"), "{stdout}");

        let app = spawn_on(database, |_| {}).await;
        assert_eq!(app.model_count().await, 3);
        let modbus = app.get_json(&format!("/api/v1/models/{}", encode("dtmi:MeshSystems:txs:modbus;1"))).await;
        assert_the_warning(&modbus);
        let gateway = app.get_json(&format!("/api/v1/models/{}", encode("dtmi:MeshSystems:txs:gateway;1"))).await;
        assert!(gateway.get("warnings").is_none(), "dependents break nothing: {gateway}");
        let dependents = app.get_json(&format!("/api/v1/models/{}/dependents", encode("dtmi:MeshSystems:txs:modbus;1"))).await;
        let names: Vec<&str> = dependents["items"].as_array().expect("items").iter().filter_map(|m| m["dtmi"].as_str()).collect();
        assert_eq!(names, ["dtmi:MeshSystems:txs:gateway;1", "dtmi:com:example:plant;1"]);
        // The DMR file is the file as imported, byte for byte.
        let file = app.get("/dtmi/meshsystems/txs/modbus-1.json").await.text().await.expect("body");
        assert_eq!(file, MODBUS);
        let page = app.get("/models/dtmi:MeshSystems:txs:modbus%3B1").await.text().await.expect("page");
        assert!(page.contains("Imported as legacy content"), "{page}");
        assert!(page.contains("/contents/0/request/schema/@id"));
    }
}

#[tokio::test]
async fn the_import_api_takes_allow_legacy_from_admins_only_and_pushes_stay_strict() {
    let app = spawn_app(Backend::Sqlite).await;
    let files = json!([
        {"path": "dtmi/meshsystems/txs/modbus-1.json", "content": MODBUS},
        {"path": "dtmi/meshsystems/txs/gateway-1.json", "content": GATEWAY},
    ]);

    let strict = app.import(&json!({ "files": files })).await;
    let body = problem(strict, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["code"], "twinhub:idOutsideRoot", "{body}");
    assert_eq!(
        body["errors"][0]["file"],
        "dtmi/meshsystems/txs/modbus-1.json"
    );

    let publisher = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "ci", "role": "publisher", "namespaces": ["dtmi:MeshSystems"]}))
        .send()
        .await
        .expect("mint");
    assert_eq!(publisher.status(), StatusCode::CREATED);
    let secret = publisher.json::<Value>().await.expect("token")["token"]
        .as_str()
        .expect("secret")
        .to_owned();
    let by_publisher = app
        .client
        .post(app.url("/api/v1/imports"))
        .bearer_auth(&secret)
        .json(&json!({ "files": files, "allowLegacy": true }))
        .send()
        .await
        .expect("import");
    let body = problem(by_publisher, StatusCode::FORBIDDEN).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("admins only")),
        "{body}"
    );
    assert_eq!(app.model_count().await, 0);

    let by_admin = app
        .import(&json!({ "files": files, "allowLegacy": true }))
        .await;
    assert_eq!(by_admin.status(), StatusCode::CREATED);
    let stored: Value = by_admin.json().await.expect("JSON");
    let created = stored["created"].as_array().expect("created");
    assert_eq!(created[0]["dtmi"], "dtmi:MeshSystems:txs:modbus;1");
    assert_the_warning(&created[0]);
    assert!(created[1].get("warnings").is_none());

    // A push of a new model with the same fault is refused as before.
    let push = app
        .push(
            MODBUS
                .replace("modbus;1", "modbus;2")
                .replace("modbusOperation;1", "modbusOperation;2"),
        )
        .await;
    let body = problem(push, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["code"], "twinhub:idOutsideRoot", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_command_takes_allow_legacy_too() {
    let app = spawn_app(Backend::Sqlite).await;
    let tree = legacy_tree();
    let push = |more: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"));
        command.args(["push", "--url", &app.address, "--token", ADMIN_TOKEN]);
        command.args(more).arg(tree.path());
        command.output().expect("run twinhub push")
    };
    let refused = tokio::task::block_in_place(|| push(&[]));
    assert_eq!(
        refused.status.code(),
        Some(1),
        "refused by the local validation"
    );
    assert_eq!(app.model_count().await, 0);
    let pushed = tokio::task::block_in_place(|| push(&["--allow-legacy"]));
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    assert_eq!(app.model_count().await, 3);
    let modbus = app
        .get_json(&format!(
            "/api/v1/models/{}",
            encode("dtmi:MeshSystems:txs:modbus;1")
        ))
        .await;
    assert_the_warning(&modbus);
}

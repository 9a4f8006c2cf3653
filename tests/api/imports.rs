//! Importing files: each single-model file keeps its exact bytes, array files are split, issues
//! name their file; and the `twinhub push` command that uses it.

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::{DEVICE_INFORMATION, TEMPERATURE_CONTROLLER, THERMOSTAT, interface};
use crate::helpers::{ADMIN_TOKEN, Backend, on_both_backends, problem, spawn_app};

on_both_backends! {
    async fn imported_files_keep_their_exact_bytes_and_arrays_are_split(backend: Backend) {
        let app = spawn_app(backend).await;
        let bundle = format!("[{DEVICE_INFORMATION}, {}]", interface("dtmi:com:example:Extra;1"));
        let body = json!({"files": [
            {"path": "dtmi/com/example/temperaturecontroller-1.json", "content": TEMPERATURE_CONTROLLER},
            {"path": "dtmi/com/example/thermostat-1.json", "content": THERMOSTAT},
            {"path": "bundle.json", "content": bundle},
        ]});
        let response = app.import(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(app.model_count().await, 4);
        // THERMOSTAT ends with a newline: a file's bytes are kept whole.
        assert_eq!(app.get("/dtmi/com/example/thermostat-1.json").await.text().await.expect("body"), THERMOSTAT);
        assert_eq!(
            app.get("/dtmi/azure/devicemanagement/deviceinformation-1.json").await.text().await.expect("body"),
            DEVICE_INFORMATION
        );
    }
}

#[tokio::test]
async fn import_issues_name_the_file_and_the_position_in_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let broken = "[\n  {\"@context\": \"dtmi:dtdl:context;2\", \"@id\": \"dtmi:com:f:One;1\", \"@type\": \"Interface\"},\n  {\"@context\": \"dtmi:dtdl:context;2\", \"@id\": \"dtmi:com:f:Two;1\", \"@type\": \"Interface\",\n   \"contents\": [{\"@id\": \"dtmi:com:g:x;1\", \"@type\": \"Telemetry\", \"name\": \"x\", \"schema\": \"double\"}]}\n]";
    let body = json!({"files": [
        {"path": "fine.json", "content": THERMOSTAT},
        {"path": "broken.json", "content": broken},
    ]});
    let response = app.import(&body).await;
    let problem_body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let issue = &problem_body["errors"][0];
    assert_eq!(issue["file"], "broken.json", "{problem_body}");
    assert_eq!(issue["pointer"], "/1/contents/0/@id");
    assert_eq!(issue["document"], 2);
    assert_eq!(
        app.model_count().await,
        0,
        "nothing of the import is stored"
    );

    let not_json = json!({"files": [{"path": "x.json", "content": "{\n  oops"}]});
    let response = app.import(&not_json).await;
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .starts_with("file x.json is not valid JSON"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_command_imports_a_folder_and_reports_refusals_with_file_positions() {
    let app = spawn_app(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let models = dir.path().join("dtmi/com/example");
    std::fs::create_dir_all(&models).expect("mkdir");
    std::fs::write(models.join("thermostat-1.json"), THERMOSTAT).expect("write");
    std::fs::write(
        models.join("temperaturecontroller-1.json"),
        TEMPERATURE_CONTROLLER,
    )
    .expect("write");
    std::fs::write(models.join("deviceinformation-1.json"), DEVICE_INFORMATION).expect("write");
    let push = |paths: &[&std::path::Path]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"));
        command.args(["push", "--url", &app.address, "--token", ADMIN_TOKEN]);
        command.args(paths);
        command.output().expect("run twinhub push")
    };
    let output = tokio::task::block_in_place(|| push(&[dir.path()]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("3 stored"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        app.get("/dtmi/com/example/thermostat-1.json")
            .await
            .text()
            .await
            .expect("body"),
        THERMOSTAT
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"@context\": \"dtmi:dtdl:context;2\",\n  \"@id\": \"dtmi:com:example:Bad;1\",\n  \"@type\": \"Interface\",\n  \"extends\": \"dtmi:com:example:Missing;1\"\n}\n").expect("write");
    let output = tokio::task::block_in_place(|| push(&[bad.as_path()]));
    // Refused by the local validation, before anything is sent: exit 1 (invalid model).
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dtmi:com:example:Missing;1"), "{stderr}");
    assert!(stderr.contains("bad.json:5:"), "{stderr}");
}

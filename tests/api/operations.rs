//! Health, readiness, metrics, and the binary's command line.

use reqwest::StatusCode;

use crate::fixtures::THERMOSTAT;
use crate::helpers::{Backend, spawn_app};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(app.get_json("/healthz").await["status"], "ok");
    assert_eq!(app.get_json("/readyz").await["status"], "ok");
    app.push_ok(THERMOSTAT).await;
    app.get("/dtmi/com/example/thermostat-1.json").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("twinhub_models_stored 1"), "{text}");
    assert!(
        text.contains(
            r#"twinhub_http_requests_total{method="GET",route="/dtmi/{path}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"twinhub_http_request_duration_seconds_count{method="POST",route="/api/v1/models"} 1"#
        ),
        "{text}"
    );
}

#[test]
fn serve_help_documents_every_setting() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
        .args(["serve", "--help"])
        .output()
        .expect("run twinhub serve --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--bind",
        "TWINHUB_BIND",
        "--database-url",
        "TWINHUB_DATABASE_URL",
        "--admin-token",
        "TWINHUB_ADMIN_TOKEN",
        "--config",
        "--index-page-size",
        "--max-batch-models",
        "--max-body-bytes",
    ] {
        assert!(
            help.contains(flag),
            "{flag} missing from serve --help:\n{help}"
        );
    }
}

#[test]
fn bad_settings_stop_the_binary_with_a_clear_message() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
        .args([
            "serve",
            "--index-page-size",
            "0",
            "--database-url",
            "sqlite::memory:",
        ])
        .output()
        .expect("run twinhub serve");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("index_page_size"), "{stderr}");
}

#[test]
fn the_binary_serves_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
        // The device hub too, on a free port: it must stop with the rest on SIGTERM.
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--hub-bind",
            "127.0.0.1:0",
        ])
        .env(
            "TWINHUB_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start twinhub");
    let mut child = KillOnDrop(child);
    let stderr = child.0.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let after = line.split("listening on http://").nth(1)?;
            after.split_whitespace().next().map(str::to_owned)
        })
        .expect("the binary reports its address");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let status = runtime.block_on(async {
        let response = reqwest::get(format!("http://{address}/healthz"))
            .await
            .expect("request");
        response.status()
    });
    assert_eq!(status, StatusCode::OK);
    let pid = child.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = child.0.wait().expect("wait");
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    assert!(
        dir.path().join("db.sqlite").exists(),
        "the database file was created"
    );
    assert!(
        dir.path().join("db-certs").join("ca.pem").exists(),
        "the development CA was written beside the database"
    );
}

/// Stops a spawned binary even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! Starting the real application for a test: a fresh SQLite file (always) or a fresh
//! PostgreSQL database (when `TWINHUB_TEST_POSTGRES_URL` is set), port 0, readiness polled.

use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use twinhub::config::{Secret, Settings};
use twinhub::startup::Application;

use crate::contract::ContractProxy;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the test body once per backend: SQLite always, PostgreSQL when configured.
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: Backend) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: Backend) $body

            #[tokio::test]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                if $crate::helpers::postgres_url().is_none() {
                    eprintln!("TWINHUB_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run of {}", stringify!($name));
                    return;
                }
                run($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use on_both_backends;

pub fn postgres_url() -> Option<String> {
    std::env::var("TWINHUB_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A database made for one test and removed after it.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("twinhub.db").display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("TWINHUB_TEST_POSTGRES_URL");
                let name = format!("twinhub_test_{}", uuid::Uuid::new_v4().simple());
                let mut connection = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut connection)
                    .await
                    .expect("create test database");
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("TWINHUB_TEST_POSTGRES_URL must end with /DATABASE"),
                };
                TestDatabase {
                    url,
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code: use a small runtime of its own on another thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut connection)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// A running application and a client for it. `address` is the application behind the
/// contract proxy, so every response is checked against the OpenAPI document.
pub struct TestApp {
    pub address: String,
    /// The device hub's MQTT endpoint, when the test turned it on.
    pub hub_address: Option<std::net::SocketAddr>,
    pub client: Client,
    pub database: std::sync::Arc<TestDatabase>,
    contract: ContractProxy,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.contract.finish();
    }
}

/// A client that keeps cookies and does not follow redirects, as a browser test needs.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().expect("address"),
        database_url: database_url.to_owned(),
        database_max_connections: 5,
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        // The device API works without the MQTT endpoint; tests of the endpoint turn it on
        // with their own address and certificate folder.
        hub: false,
        // Tests that turn the hub on get the service listener on a port of their own.
        service_bind: "127.0.0.1:0".parse().expect("address"),
        ..Settings::default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    spawn_on(database, adjust).await
}

/// Starts an instance on an existing database (for several instances on one database).
pub async fn spawn_on(
    database: std::sync::Arc<TestDatabase>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = settings(&database.url);
    adjust(&mut settings);
    let application = Application::build(settings)
        .await
        .expect("application starts");
    let direct = format!("http://{}", application.address());
    let hub_address = application.hub_address();
    tokio::spawn(application.run_until_stopped());
    twinhub_client::install_crypto_provider();
    let contract = ContractProxy::start(direct).await;
    let app = TestApp {
        address: contract.address.clone(),
        hub_address,
        contract,
        client: Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .expect("client"),
        database,
    };
    app.wait_until_ready().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self.client.get(self.url("/readyz")).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the application did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Pushes a JSON body as the admin.
    pub async fn push(&self, body: impl Into<String>) -> Response {
        self.client
            .post(self.url("/api/v1/models"))
            .bearer_auth(ADMIN_TOKEN)
            .header("Content-Type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("push request")
    }

    pub async fn push_ok(&self, body: impl Into<String>) -> Value {
        let response = self.push(body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert!(status.is_success(), "push failed with {status}: {text}");
        serde_json::from_str(&text).expect("JSON response")
    }

    /// Imports files (`{"files": [{"path", "content"}]}`) as the admin.
    pub async fn import(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/api/v1/imports"))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("import request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).expect("JSON response")
    }

    pub async fn patch_state(&self, dtmi: &str, state: &str) -> Response {
        self.client
            .patch(self.url(&format!("/api/v1/models/{}", encode(dtmi))))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "state": state }))
            .send()
            .await
            .expect("PATCH request")
    }

    pub async fn delete(&self, dtmi: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/v1/models/{}", encode(dtmi))))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("DELETE request")
    }

    /// Number of stored models, as the API reports it.
    pub async fn model_count(&self) -> u64 {
        self.get_json("/api/v1/models?per_page=1").await["total"]
            .as_u64()
            .expect("total")
    }
}

/// Percent-encodes a DTMI for a path segment.
pub fn encode(dtmi: &str) -> String {
    dtmi.replace(';', "%3B")
}

/// Reads a problem response, checking its media type and shape.
pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{body}"
    );
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:twinhub:problem:")),
        "{body}"
    );
    assert!(
        !body["detail"].as_str().unwrap_or_default().is_empty(),
        "{body}"
    );
    body
}

//! Measures the IoT Hub service side: device-query latency over many generated devices (tags
//! and reported properties) on SQLite or PostgreSQL, then twin reads/s and twin PATCH/s over
//! HTTPS through the service listener with a service SDK-style token per request.
//!
//! ```text
//! cargo run --release --example service_bench -- [DEVICES] [DATABASE_URL]
//! ```
//! DEVICES defaults to 100000; without DATABASE_URL a fresh SQLite file in a temp folder is
//! used. A PostgreSQL URL must name an empty database (its tables are created).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use twinhub::config::{Secret, Settings};
use twinhub::startup::Application;
use twinhub_hub::{Authentication, HubStore, Identity, IdentityKey, TwinRecord};
use twinhub_twin::{Twin, TwinLimits};

const ADMIN: &str = "bench-admin-token-0123456789";
const SITES: [&str; 10] = [
    "plant-0", "plant-1", "plant-2", "plant-3", "plant-4", "plant-5", "plant-6", "plant-7",
    "plant-8", "plant-9",
];

#[tokio::main]
async fn main() {
    twinhub_client::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let devices: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let settings = Settings {
        bind: "127.0.0.1:0".parse().expect("address"),
        database_url: url.clone(),
        admin_token: Some(Secret::new(ADMIN)),
        hub: true,
        hub_bind: "127.0.0.1:0".parse().expect("address"),
        service_bind: "127.0.0.1:0".parse().expect("address"),
        hub_certs_dir: Some(dir.path().join("certs")),
        database_max_connections: 16,
        ..Settings::default()
    };
    let application = Application::build(settings).await.expect("starts");
    let store = application.services().store.clone();
    let hub_store = store.clone().hub();
    let api = format!("http://{}", application.address());
    let service_port = application.service_address().expect("service").port();
    tokio::spawn(application.run_until_stopped());
    println!(
        "backend: {}",
        if url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite"
        }
    );

    let started = Instant::now();
    generate(hub_store.clone(), devices).await;
    println!(
        "generated {devices} devices in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let queries = [
        "SELECT * FROM devices WHERE deviceId = 'dev-054321'",
        "SELECT * FROM devices WHERE tags.site = 'plant-3' AND tags.floor = 2",
        "SELECT * FROM devices WHERE properties.reported.firmware = '2.1.7'",
        "SELECT * FROM devices WHERE properties.reported.temperature > 39.5",
        "SELECT * FROM devices",
        "SELECT deviceId FROM devices WHERE STARTSWITH(deviceId, 'dev-0999')",
        "SELECT COUNT() AS n FROM devices WHERE tags.site = 'plant-3'",
        "SELECT properties.reported.firmware AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.firmware",
    ];
    println!("query latency (first page of up to 100, median of 7 runs after one warm-up):");
    for text in queries {
        let mut times = Vec::new();
        let mut items = 0;
        for run in 0..8 {
            let t = Instant::now();
            let out = twinhub::service::query::run(store.as_ref(), text, None, Some(100))
                .await
                .expect("query runs");
            if run > 0 {
                times.push(t.elapsed());
            }
            items = out.items.len();
        }
        times.sort();
        println!(
            "  {:>8.1} ms  {items:>4} items  {text}",
            times[times.len() / 2].as_secs_f64() * 1e3
        );
    }

    let ca = std::fs::read(dir.path().join("certs").join("ca.pem")).expect("dev CA");
    http_rates(&api, service_port, devices, &ca).await;
}

async fn generate(store: Arc<dyn HubStore>, devices: usize) {
    let limits = TwinLimits::default();
    let workers = 8;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        let limits = limits.clone();
        tasks.push(tokio::spawn(async move {
            let now = chrono::Utc::now();
            for i in (w..devices).step_by(workers) {
                let key = IdentityKey::device(&format!("dev-{i:06}")).expect("id");
                let identity = Identity::new(key, Authentication::generated_sas(), now);
                let mut twin = Twin::new(Some("dtmi:com:example:Thermostat;1".into()), now);
                twin.patch_tags(&json!({"site": SITES[i % 10], "floor": i % 5}), &limits)
                    .expect("tags");
                twin.patch_reported(
                    &json!({"firmware": format!("2.{}.{}", i % 3, i % 10),
                            "temperature": 20.0 + (i % 200) as f64 / 10.0}),
                    now,
                    &limits,
                )
                .expect("reported");
                store
                    .create_identity(&identity, &TwinRecord::new(twin))
                    .await
                    .expect("stored");
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
}

/// Twin GET/s and PATCH/s over HTTPS with 16 concurrent clients for 10 s each.
async fn http_rates(api: &str, port: u16, devices: usize, ca: &[u8]) {
    let http = reqwest::Client::new();
    let policy: serde_json::Value = http
        .get(format!("{api}/api/v1/hub/policies/iothubowner"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("policy")
        .json()
        .await
        .expect("JSON");
    let key = policy["primaryKey"].as_str().expect("key").to_owned();
    // The bench trusts the development CA of its own server.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).expect("CA"))
        .pool_max_idle_per_host(32)
        .build()
        .expect("client");
    for patch in [false, true] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut tasks = Vec::new();
        for w in 0..16usize {
            let client = client.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = 0u64;
                let mut i = w;
                while Instant::now() < deadline {
                    let expiry = chrono::Utc::now().timestamp() as u64 + 3600;
                    let token = twinhub::service::sas::service_token(
                        &format!("localhost:{port}"),
                        "iothubowner",
                        &key,
                        expiry,
                    )
                    .expect("token");
                    let url = format!(
                        "https://localhost:{port}/twins/dev-{:06}?api-version=2021-04-12",
                        i % devices
                    );
                    let request = if patch {
                        client
                            .patch(&url)
                            .json(&json!({"properties": {"desired": {"setpoint": i}}}))
                    } else {
                        client.get(&url)
                    };
                    let response = request
                        .header("Authorization", token)
                        .send()
                        .await
                        .expect("request");
                    assert!(response.status().is_success(), "{}", response.status());
                    done += 1;
                    i += 16;
                }
                done
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("worker");
        }
        println!(
            "twin {} over HTTPS: {:.0}/s (16 clients, keep-alive, 10 s)",
            if patch { "PATCH" } else { "GET" },
            total as f64 / 10.0
        );
    }
}

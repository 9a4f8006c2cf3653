//! Measures what scale-out costs: direct-method round trips and desired-update pushes for a
//! device connected to instance A, sent through A's API (local) and through B's (forwarded
//! over NATS), with two instances on a fresh PostgreSQL database and the local NATS server.
//!
//! ```text
//! cargo run --release --example cluster_bench -- [CALLS] [POSTGRES_ADMIN_URL] [NATS_URL]
//! ```
//! CALLS defaults to 2000 per measurement; the admin URL (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) is where a uniquely named database is created
//! and dropped; NATS defaults to `nats://127.0.0.1:4222`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use twinhub::config::{Secret, Settings};
use twinhub::startup::Application;
use twinhub_hub::{IdentityKey, sas, tls};

const ADMIN: &str = "bench-admin-token-0123456789";
const HOSTS: [&str; 2] = ["127.0.0.91", "127.0.0.92"];
/// Concurrent callers in the throughput runs.
const CALLERS: usize = 16;

struct Instance {
    api: String,
    hub: std::net::SocketAddr,
}

#[tokio::main]
async fn main() {
    twinhub_client::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let admin_url = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let nats_url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());

    let name = format!("twinhub_cluster_bench_{:08x}", rand::random::<u32>());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("the PostgreSQL admin URL connects");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&admin)
        .await
        .expect("create the bench database");
    let database_url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("the admin URL names no database"),
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let hub_name = format!("bench{:08x}", rand::random::<u32>());
    let mut instances = Vec::new();
    for (n, host) in HOSTS.iter().enumerate() {
        let settings = Settings {
            bind: "127.0.0.1:0".parse().expect("address"),
            database_url: database_url.clone(),
            admin_token: Some(Secret::new(ADMIN)),
            hub: true,
            hub_bind: format!("{host}:0").parse().expect("address"),
            hub_host_names: HOSTS.iter().map(|h| (*h).to_owned()).collect(),
            service_bind: "127.0.0.1:0".parse().expect("address"),
            hub_certs_dir: Some(dir.path().join("certs")),
            nats_url: Some(nats_url.clone()),
            instance_id: Some(format!("bench-{n}")),
            routing: twinhub::routing::RoutingSettings {
                hub_name: hub_name.clone(),
                ..twinhub::routing::RoutingSettings::default()
            },
            ..Settings::default()
        };
        let application = Application::build(settings).await.expect("starts");
        instances.push(Instance {
            api: format!("http://{}", application.address()),
            hub: application.hub_address().expect("hub"),
        });
        tokio::spawn(application.run_until_stopped());
    }
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/v1/devices", instances[0].api))
        .bearer_auth(ADMIN)
        .json(&json!({"deviceId": "bench-1"}))
        .send()
        .await
        .expect("create the device")
        .json()
        .await
        .expect("device");
    let sas_key = created["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .expect("key")
        .to_owned();
    let ca_pem = std::fs::read(dir.path().join("certs/ca.pem")).expect("the development CA");
    let mut desired = connect_device(&instances[0], &ca_pem, &sas_key).await;

    println!("{calls} calls each; device on instance A; PostgreSQL + NATS, this machine");
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>10}",
        "", "p50 ms", "p99 ms", "max ms", "calls/s"
    );
    for (label, instance) in [
        ("command through A (local)", 0),
        ("command through B (forwarded)", 1),
    ] {
        let url = format!(
            "{}/api/v1/devices/bench-1/commands/ping?timeout=30&validate=false",
            instances[instance].api
        );
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            command(&http, &url).await;
            times.push(started.elapsed());
        }
        let started = Instant::now();
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..CALLERS {
            let (http, url) = (http.clone(), url.clone());
            let share = calls / CALLERS;
            callers.spawn(async move {
                for _ in 0..share {
                    command(&http, &url).await;
                }
            });
        }
        callers.join_all().await;
        let rate = (calls / CALLERS * CALLERS) as f64 / started.elapsed().as_secs_f64();
        report(label, &mut times, Some(rate));
    }
    for (label, instance) in [
        ("desired push through A (local)", 0),
        ("desired push through B (forwarded)", 1),
    ] {
        let url = format!(
            "{}/api/v1/devices/bench-1/twin?validate=false",
            instances[instance].api
        );
        let mut times = Vec::with_capacity(calls);
        for n in 0..calls {
            let started = Instant::now();
            let response = http
                .patch(&url)
                .bearer_auth(ADMIN)
                .json(&json!({"properties": {"desired": {"setPoint": n}}}))
                .send()
                .await
                .expect("patch");
            assert!(
                response.status().is_success(),
                "PATCH answered {}",
                response.status()
            );
            loop {
                let patch = desired.recv().await.expect("the device keeps running");
                if patch["setPoint"] == n {
                    break;
                }
            }
            times.push(started.elapsed());
        }
        report(label, &mut times, None);
    }

    drop(desired);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop the bench database");
}

async fn command(http: &reqwest::Client, url: &str) {
    let response = http
        .post(url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("command");
    assert!(
        response.status().is_success(),
        "command answered {}",
        response.status()
    );
}

fn report(label: &str, times: &mut [Duration], rate: Option<f64>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<34} {:>9.2} {:>9.2} {:>9.2} {:>10}",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(times[times.len() - 1]),
        rate.map_or("-".to_owned(), |r| format!("{r:.0}"))
    );
}

/// Connects the device to `instance`, answers every method with 200 at once, and passes the
/// desired patches it receives on.
async fn connect_device(
    instance: &Instance,
    ca_pem: &[u8],
    sas_key: &str,
) -> mpsc::UnboundedReceiver<Value> {
    let key = IdentityKey::device("bench-1").expect("id");
    let host = instance.hub.ip().to_string();
    let expiry = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970") + 3600;
    let token = sas::identity_token(&host, &key, sas_key, expiry).expect("token");
    let tls = tls::device_client_config(ca_pem).expect("the development CA");
    let mut options = MqttOptions::new(key.to_string(), host.clone(), instance.hub.port());
    options.set_credentials(format!("{host}/{key}/?api-version=2020-09-30"), token);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls),
    )));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    client
        .subscribe("$iothub/methods/POST/#", QoS::AtMostOnce)
        .await
        .expect("subscribe");
    client
        .subscribe("$iothub/twin/PATCH/properties/desired/#", QoS::AtMostOnce)
        .await
        .expect("subscribe");
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, mut subscribed) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = subscribed_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    on_publish(&client, &tx, publish).await;
                }
                Ok(_) => {}
                Err(error) => panic!("the bench device lost its connection: {error}"),
            }
        }
    });
    for _ in 0..2 {
        subscribed.recv().await.expect("SUBACK");
    }
    rx
}

async fn on_publish(
    client: &AsyncClient,
    desired: &mpsc::UnboundedSender<Value>,
    publish: Publish,
) {
    if let Some(rid) = publish
        .topic
        .strip_prefix("$iothub/methods/POST/")
        .and_then(|rest| rest.split_once("/?$rid="))
        .map(|(_, rid)| rid.to_owned())
    {
        client
            .publish(
                format!("$iothub/methods/res/200/?$rid={rid}"),
                QoS::AtMostOnce,
                false,
                "{}",
            )
            .await
            .expect("answer");
    } else if publish
        .topic
        .starts_with("$iothub/twin/PATCH/properties/desired/")
    {
        let patch: Value = serde_json::from_slice(&publish.payload).expect("desired JSON");
        let _ = desired.send(patch);
    }
}

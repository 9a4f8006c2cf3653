//! At least once across a crash: the real binary routes a device's telemetry to a webhook
//! that refuses everything at first, so the copies wait in the outbox; the server is killed
//! with SIGKILL while the device still has messages without PUBACK, then started again on
//! the same database with the webhook accepting. Every message the device saw acknowledged
//! arrives at the webhook at least once.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use rumqttc::{
    AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use serde_json::{Value, json};
use twinhub_hub::{IdentityKey, sas, tls};

const TOKEN: &str = "crash-test-admin-token-0123456789";
const MESSAGES: usize = 40;

/// Stops a spawned server even when an assertion fails first.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(ip: [u8; 4]) -> u16 {
    let listener = std::net::TcpListener::bind(SocketAddr::from((ip, 0))).expect("bind");
    listener.local_addr().expect("address").port()
}

async fn start(config: &std::path::Path, http: SocketAddr) -> Server {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start twinhub");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("http://{http}/readyz")).await
            && r.status().is_success()
        {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn device(hub: SocketAddr, ca_pem: &[u8], key: &IdentityKey, sas_key: &str) -> MqttOptions {
    let host = hub.ip().to_string();
    let expiry = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970") + 3600;
    let token = sas::identity_token(&host, key, sas_key, expiry).expect("token");
    let config = tls::device_client_config(ca_pem).expect("the development CA");
    let mut options = MqttOptions::new(key.to_string(), host.clone(), hub.port());
    options.set_credentials(format!("{host}/{key}/?api-version=2020-09-30"), token);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )));
    options
}

#[tokio::test]
async fn every_acknowledged_message_arrives_after_a_kill_and_restart() {
    // reqwest is built without a provider of its own; another test may have installed it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The receiver refuses until `accepting`, and records the `n` of each accepted message.
    let accepting = Arc::new(AtomicBool::new(false));
    let arrived = Arc::new(Mutex::new(BTreeSet::<u64>::new()));
    let (accept, seen) = (accepting.clone(), arrived.clone());
    let receiver = HttpServer::new(move || {
        let (accept, seen) = (accept.clone(), seen.clone());
        App::new().default_service(web::to(move |body: web::Bytes| {
            let (accept, seen) = (accept.clone(), seen.clone());
            async move {
                if !accept.load(Ordering::SeqCst) {
                    return HttpResponse::ServiceUnavailable().finish();
                }
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if let Some(n) = event["data"]["n"].as_u64() {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).insert(n);
                }
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind receiver");
    let hook = receiver.addrs()[0];
    let receiver = receiver.run();
    let receiver_handle = receiver.handle();
    tokio::spawn(receiver);

    let dir = tempfile::tempdir().expect("temp dir");
    let http = SocketAddr::from(([127, 0, 0, 1], free_port([127, 0, 0, 1])));
    let hub = SocketAddr::from(([127, 0, 0, 4], free_port([127, 0, 0, 4])));
    let config = dir.path().join("twinhub.toml");
    std::fs::write(
        &config,
        format!(
            r#"bind = "{http}"
database_url = "sqlite://{db}"
admin_token = "{TOKEN}"
hub_bind = "{hub}"
hub_host_names = ["127.0.0.4"]
hub_certs_dir = "{certs}"

[routing]
[[routing.endpoints]]
name = "hook"
kind = "webhook"
url = "http://{hook}/events"
max_attempts = 1000
initial_backoff_ms = 50
concurrency = 4

[[routing.routes]]
name = "all"
source = "Telemetry"
endpoints = ["hook"]
"#,
            db = dir.path().join("twinhub.db").display(),
            certs = dir.path().join("certs").display(),
        ),
    )
    .expect("write config");

    let server = start(&config, http).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("http://{http}/api/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&json!({"deviceId": "crash-1"}))
        .send()
        .await
        .expect("create device")
        .json()
        .await
        .expect("device");
    let sas_key = created["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .expect("key")
        .to_owned();
    let ca_pem =
        std::fs::read(dir.path().join("certs").join("ca.pem")).expect("the development CA");
    let key = IdentityKey::device("crash-1").expect("id");

    let (device_client, mut eventloop) =
        AsyncClient::new(device(hub, &ca_pem, &key, &sas_key), MESSAGES + 4);
    for n in 0..MESSAGES {
        device_client
            .publish(
                "devices/crash-1/messages/events/$.ct=application%2Fjson",
                QoS::AtLeastOnce,
                false,
                json!({"n": n}).to_string(),
            )
            .await
            .expect("queue publish");
    }
    // Packet ids in the order the publishes went out, and which of them were acknowledged.
    let mut sent: HashMap<u16, u64> = HashMap::new();
    let mut next = 0u64;
    let mut acked = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Kill once half are acknowledged: the rest are on the wire or queued in the server.
    while acked.len() < MESSAGES / 2 {
        match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
            Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                sent.insert(pkid, next);
                next += 1;
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                acked.insert(*sent.get(&ack.pkid).expect("an ack of a sent publish"));
            }
            Ok(Ok(_)) => {}
            other => panic!("the device lost its connection early: {other:?}"),
        }
        assert!(Instant::now() < deadline, "too few PUBACKs");
    }
    let pid = server.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    // Whatever the device still reads before the connection drops counts too.
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                sent.insert(pkid, next);
                next += 1;
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(n) = sent.get(&ack.pkid) {
                    acked.insert(*n);
                }
            }
            _ => {}
        }
    }
    drop(server);
    assert!(
        arrived.lock().unwrap_or_else(|p| p.into_inner()).is_empty(),
        "nothing was accepted before the crash"
    );

    accepting.store(true, Ordering::SeqCst);
    let _restarted = start(&config, http).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<u64> = {
            let got = arrived.lock().unwrap_or_else(|p| p.into_inner());
            acked.iter().filter(|n| !got.contains(n)).copied().collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged but never delivered: {missing:?} (acknowledged {})",
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(acked.len() >= MESSAGES / 2);
    receiver_handle.stop(false).await;
}

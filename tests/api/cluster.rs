//! Two instances on one PostgreSQL database and the local NATS server (`nats_url`), each with
//! its own MQTT endpoint: a device connected to the first gets a command, a desired update and
//! a cloud-to-device message sent through the second's API; the same identity connecting to
//! the second closes its connection to the first and stays connected.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, Publish, QoS};
use serde_json::{Value, json};
use twinhub_hub::IdentityKey;

use crate::fixtures::device_batch;
use crate::helpers::{Backend, TestApp, postgres_url, spawn_app_with, spawn_on};
use crate::hub_endpoint::{api, device_options, register_sas_device};

const NATS: &str = "nats://127.0.0.1:4222";
const GUARD: Duration = Duration::from_secs(30);

/// The first instance (127.0.0.21) and the second (127.0.0.22), both naming either address.
async fn two_instances(certs: &std::path::Path, hub_name: &str) -> (TestApp, TestApp) {
    let configure = |ip: &'static str, instance: &'static str| {
        let certs = certs.to_path_buf();
        let hub_name = hub_name.to_owned();
        move |settings: &mut twinhub::config::Settings| {
            settings.hub = true;
            settings.hub_bind = format!("{ip}:0").parse().expect("address");
            settings.hub_host_names = vec!["127.0.0.21".to_owned(), "127.0.0.22".to_owned()];
            settings.hub_certs_dir = Some(certs);
            settings.routing.hub_name = hub_name;
            settings.nats_url = Some(NATS.to_owned());
            settings.instance_id = Some(instance.to_owned());
        }
    };
    let first = spawn_app_with(Backend::Postgres, configure("127.0.0.21", "first")).await;
    let second = spawn_on(first.database.clone(), configure("127.0.0.22", "second")).await;
    (first, second)
}

/// A device connection: its client and the events it receives.
struct Device {
    client: AsyncClient,
    events: tokio::sync::mpsc::UnboundedReceiver<Result<Event, String>>,
    pump: tokio::task::JoinHandle<()>,
}

impl Device {
    async fn connect(app: &TestApp, ca_pem: &[u8], key: &IdentityKey, sas_key: &str) -> Device {
        let (client, eventloop) = AsyncClient::new(device_options(app, ca_pem, key, sas_key), 16);
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(eventloop, tx));
        let mut device = Device {
            client,
            events,
            pump,
        };
        device
            .until("CONNACK", |event| {
                matches!(event, Event::Incoming(Packet::ConnAck(ack)) if ack.code == rumqttc::ConnectReturnCode::Success)
            })
            .await;
        device
    }

    async fn until(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(Ok(event))) if wanted(&event) => return event,
                Ok(Some(Ok(_))) => {}
                other => panic!("no {what}: {other:?}"),
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        self.until("SUBACK", |e| {
            matches!(e, Event::Incoming(Packet::SubAck(_)))
        })
        .await;
    }

    async fn publish_on(&mut self, prefix: &str) -> Publish {
        let event = self
            .until(
                prefix,
                |e| matches!(e, Event::Incoming(Packet::Publish(p)) if p.topic.starts_with(prefix)),
            )
            .await;
        match event {
            Event::Incoming(Packet::Publish(publish)) => publish,
            _ => unreachable!("matched a publish"),
        }
    }

    /// Answers the next direct method with `status` and `body`; returns the method name.
    async fn answer_method(&mut self, status: u16, body: &str) -> String {
        let request = self.publish_on("$iothub/methods/POST/").await;
        let (name, rid) = request
            .topic
            .strip_prefix("$iothub/methods/POST/")
            .and_then(|rest| rest.split_once("/?$rid="))
            .expect("method topic");
        let name = name.to_owned();
        self.client
            .publish(
                format!("$iothub/methods/res/{status}/?$rid={rid}"),
                QoS::AtLeastOnce,
                false,
                body.to_owned(),
            )
            .await
            .expect("answer");
        name
    }

    /// Drops the connection without DISCONNECT, as a device losing power does.
    async fn kill(self) {
        self.pump.abort();
        let _ = self.pump.await;
    }

    /// Waits until the hub closes the connection.
    async fn closed(&mut self) {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return,
                Err(_) => panic!("the connection stayed open"),
            }
        }
    }
}

async fn pump(
    mut eventloop: EventLoop,
    tx: tokio::sync::mpsc::UnboundedSender<Result<Event, String>>,
) {
    loop {
        let event = eventloop.poll().await.map_err(|e| e.to_string());
        let failed = event.is_err();
        if tx.send(event).is_err() || failed {
            return;
        }
    }
}

/// Calls `reboot` through `app` in the background.
fn reboot_through(app: &TestApp, device: &str) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let request = app
        .client
        .post(app.url(&format!(
            "/api/v1/devices/{device}/commands/reboot?timeout=30"
        )))
        .bearer_auth(crate::helpers::ADMIN_TOKEN);
    tokio::spawn(async move {
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn skip_without_postgres(test: &str) -> bool {
    if postgres_url().is_none() {
        eprintln!("TWINHUB_TEST_POSTGRES_URL is not set: skipping {test}");
        return true;
    }
    false
}

fn unique_hub_name() -> String {
    format!("cluster{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_command_desired_update_and_message_sent_through_one_instance_reach_a_device_on_the_other()
 {
    if skip_without_postgres("the scale-out test") {
        return;
    }
    let certs = tempfile::tempdir().expect("temp dir");
    let (first, second) = two_instances(certs.path(), &unique_hub_name()).await;
    let ca_pem = std::fs::read(certs.path().join("ca.pem")).expect("the development CA");
    first.push_ok(device_batch()).await;
    let (key, sas_key) = register_sas_device(&first, "ctl-1").await;
    let mut device = Device::connect(&first, &ca_pem, &key, &sas_key).await;
    device.subscribe("$iothub/methods/POST/#").await;
    device
        .subscribe("$iothub/twin/PATCH/properties/desired/#")
        .await;
    device
        .subscribe("devices/ctl-1/messages/devicebound/#")
        .await;

    let call = reboot_through(&second, "ctl-1");
    assert_eq!(device.answer_method(200, r#"{"ok":true}"#).await, "reboot");
    let (status, answer) = call.await.expect("join");
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"status": 200, "payload": {"ok": true}}));

    let patched = api(
        &second,
        Method::PATCH,
        "/api/v1/devices/ctl-1/twin",
        Some(json!({"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": 21.5}}}})),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let pushed = device
        .publish_on("$iothub/twin/PATCH/properties/desired/")
        .await;
    let body: Value = serde_json::from_slice(&pushed.payload).expect("JSON");
    assert_eq!(body["thermostat1"]["targetTemperature"], 21.5);

    let sent = api(
        &second,
        Method::POST,
        "/api/v1/devices/ctl-1/messages",
        Some(json!({"body": "through the second"})),
    )
    .await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let message = device
        .publish_on("devices/ctl-1/messages/devicebound/")
        .await;
    assert_eq!(&message.payload[..], b"through the second");
}

#[tokio::test]
async fn a_second_connection_through_the_other_instance_closes_the_first_and_stays_connected() {
    if skip_without_postgres("the connection takeover test") {
        return;
    }
    let certs = tempfile::tempdir().expect("temp dir");
    let (first, second) = two_instances(certs.path(), &unique_hub_name()).await;
    let ca_pem = std::fs::read(certs.path().join("ca.pem")).expect("the development CA");
    first.push_ok(device_batch()).await;
    let (key, sas_key) = register_sas_device(&first, "ctl-2").await;
    let mut old = Device::connect(&first, &ca_pem, &key, &sas_key).await;

    let mut new = Device::connect(&second, &ca_pem, &key, &sas_key).await;
    old.closed().await;
    new.subscribe("$iothub/methods/POST/#").await;
    // The first instance's closing connection must not record the device as disconnected.
    let twin: Value = api(&first, Method::GET, "/api/v1/devices/ctl-2/twin", None)
        .await
        .json()
        .await
        .expect("twin");
    assert_eq!(twin["connectionState"], "connected", "{twin}");

    // A command through the first instance now reaches the connection on the second.
    let call = reboot_through(&first, "ctl-2");
    assert_eq!(new.answer_method(200, "{}").await, "reboot");
    let (status, answer) = call.await.expect("join");
    assert_eq!(status, StatusCode::OK, "{answer}");

    new.kill().await;
    let deadline = Instant::now() + GUARD;
    loop {
        let twin: Value = api(&first, Method::GET, "/api/v1/devices/ctl-2/twin", None)
            .await
            .json()
            .await
            .expect("twin");
        if twin["connectionState"] == "disconnected" {
            break;
        }
        assert!(Instant::now() < deadline, "still connected: {twin}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let offline = reboot_through(&first, "ctl-2").await.expect("join");
    assert_eq!(offline.0, StatusCode::NOT_FOUND, "{}", offline.1);
}

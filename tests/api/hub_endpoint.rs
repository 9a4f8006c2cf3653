//! `twinhub serve` with its device hub on: the development CA made beside the database, the
//! MQTT endpoint on the bound address a device connects to (rumqttc over TLS 1.2 with a SAS
//! token), the model id from CONNECT on the twin, and writes checked against that model as
//! the repository holds it (with its dependencies): refused with 422 naming element and JSON
//! pointer, or let through with `?validate=false`; reported values breaking it kept and
//! flagged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::{Value, json};
use twinhub_hub::{IdentityKey, sas, tls};

use crate::fixtures::device_batch;
use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, on_both_backends, problem, spawn_app_with};

const CONTROLLER: &str = "dtmi:com:example:TemperatureController;1";

pub(crate) async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// Registers a SAS device through the API; returns its key and primary key.
pub(crate) async fn register_sas_device(app: &TestApp, device: &str) -> (IdentityKey, String) {
    let created: Value = api(
        app,
        Method::POST,
        "/api/v1/devices",
        Some(json!({"deviceId": device})),
    )
    .await
    .json()
    .await
    .expect("device");
    let sas_key = created["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .expect("key")
        .to_owned();
    (IdentityKey::device(device).expect("id"), sas_key)
}

/// Polls the twin until `check` holds, or fails after 20 s with the last twin seen.
async fn twin_until(
    app: &TestApp,
    device: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let twin: Value = api(
            app,
            Method::GET,
            &format!("/api/v1/devices/{device}/twin"),
            None,
        )
        .await
        .json()
        .await
        .expect("twin JSON");
        if check(&twin) {
            return twin;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {twin}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn device_options(
    app: &TestApp,
    ca_pem: &[u8],
    key: &IdentityKey,
    sas_key: &str,
) -> MqttOptions {
    let address = app.hub_address.expect("the hub endpoint runs");
    let host = address.ip().to_string();
    let expiry = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970") + 3600;
    let token = sas::identity_token(&host, key, sas_key, expiry).expect("token");
    let user = format!(
        "{host}/{key}/?api-version=2020-09-30&model-id={}",
        CONTROLLER.replace(':', "%3A").replace(';', "%3B")
    );
    let tls = tls::device_client_config(ca_pem).expect("the development CA");
    let mut options = MqttOptions::new(key.to_string(), host, address.port());
    options.set_credentials(user, token);
    options.set_clean_session(false);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls),
    )));
    options
}

on_both_backends! {
    async fn a_device_on_the_served_endpoint_gets_its_model_checked_from_the_repository(backend: Backend) {
        let certs = tempfile::tempdir().expect("temp dir");
        let certs_dir = certs.path().join("hub-certs");
        let dir = certs_dir.clone();
        let app = spawn_app_with(backend, move |settings| {
            settings.hub = true;
            settings.hub_bind = "127.0.0.1:0".parse().expect("address");
            settings.hub_host_names = vec!["127.0.0.1".to_owned()];
            settings.hub_certs_dir = Some(dir);
        })
        .await;
        let ca_pem = std::fs::read(certs_dir.join("ca.pem")).expect("the development CA was written");
        app.push_ok(device_batch()).await;

        let created: Value = api(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "ctl-1"}))).await.json().await.expect("device");
        assert!(created["connectionString"].as_str().is_some_and(|c| c.starts_with("HostName=127.0.0.1;")), "{created}");
        let sas_key = created["authentication"]["symmetricKey"]["primaryKey"].as_str().expect("key").to_owned();
        let key = IdentityKey::device("ctl-1").expect("id");

        let (client, mut eventloop) = AsyncClient::new(device_options(&app, &ca_pem, &key, &sas_key), 16);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout(Duration::from_secs(20), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
                    break;
                }
                Ok(Ok(_)) => {}
                other => panic!("no CONNACK: {other:?}"),
            }
            assert!(Instant::now() < deadline, "no CONNACK");
        }
        let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });

        let twin = twin_until(&app, "ctl-1", "the model id on the twin", |t| t["modelId"] == CONTROLLER).await;
        assert_eq!(twin["connectionState"], "connected");

        // The device is the truth: a reported value its model lacks is kept, but flagged.
        client
            .publish("$iothub/twin/PATCH/properties/reported/?$rid=1", QoS::AtLeastOnce, false, r#"{"colour": "red"}"#)
            .await
            .expect("publish");
        let flagged = twin_until(&app, "ctl-1", "the flagged report", |t| t["properties"]["reported"]["colour"] == "red").await;
        assert!(flagged["modelViolationCount"].as_u64().is_some_and(|n| n >= 1), "{flagged}");
        assert!(flagged["properties"]["reported"]["$metadata"]["colour"]["$modelViolation"].is_object(), "{flagged}");

        // A desired value of the wrong schema is refused, naming where it is.
        let refused = api(&app, Method::PATCH, "/api/v1/devices/ctl-1/twin", Some(json!({"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": "warm"}}}}))).await;
        let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["type"], "urn:twinhub:problem:model-violation");
        let issue = &body["errors"][0];
        assert_eq!(issue["pointer"], "/properties/desired/thermostat1/targetTemperature", "{body}");
        assert!(issue["element"].as_str().is_some_and(|e| e.contains("targetTemperature")), "{body}");
        let unchanged = twin_until(&app, "ctl-1", "the read", |_| true).await;
        assert!(unchanged["properties"]["desired"].get("thermostat1").is_none(), "nothing was changed: {unchanged}");

        let unchecked = api(&app, Method::PATCH, "/api/v1/devices/ctl-1/twin?validate=false", Some(json!({"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": "warm"}}}}))).await;
        assert_eq!(unchecked.status(), StatusCode::OK);

        // A command the model lacks never reaches the device.
        let unknown = api(&app, Method::POST, "/api/v1/devices/ctl-1/commands/selfDestruct", None).await;
        problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;

        let listed: Value = api(&app, Method::GET, &format!("/api/v1/devices?modelId={}&connectionState=connected", CONTROLLER.replace(';', "%3B")), None).await.json().await.expect("list");
        assert_eq!(listed["items"][0]["deviceId"], "ctl-1", "{listed}");

        // Deleting a connected device disconnects it.
        let deleted = api(&app, Method::DELETE, "/api/v1/devices/ctl-1", None).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        tokio::time::timeout(Duration::from_secs(20), pump).await.expect("the device was disconnected").expect("pump");
        drop(client);
    }
}

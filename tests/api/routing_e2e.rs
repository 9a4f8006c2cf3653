//! Routing end to end through the served application: a device (rumqttc over TLS with a SAS
//! token) publishes QoS 1 telemetry; once it has its PUBACK the message is in the built-in
//! store (`GET /api/v1/devices/{id}/telemetry`, the default fallback) and, through a route
//! with a `$body` condition, at a webhook receiver in the test that answers 500 first and 200
//! after, so the copy arrives twice with the same CloudEvents id and a valid signature.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::{Method, StatusCode};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::{Value, json};
use twinhub::routing::{EndpointKind, EndpointSettings};
use twinhub_routing::{EndpointName, MessageSource, Route, RouteParts};

use crate::helpers::{Backend, on_both_backends, spawn_app_with};
use crate::hub_endpoint::{api, device_options, register_sas_device};

const SECRET: &str = "test-webhook-secret";

#[derive(Default)]
struct Received {
    /// (CloudEvents id, body, signature header) of every request, answered or not.
    requests: Vec<(String, Value, Option<String>, Vec<u8>)>,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<Received>>,
) -> HttpResponse {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let signature = request
        .headers()
        .get("X-Twinhub-Signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let first = state.requests.is_empty();
    state.requests.push((
        event["id"].as_str().unwrap_or_default().to_owned(),
        event,
        signature,
        body.to_vec(),
    ));
    if first {
        HttpResponse::InternalServerError().finish()
    } else {
        HttpResponse::Ok().finish()
    }
}

on_both_backends! {
    async fn acknowledged_telemetry_reaches_the_builtin_store_and_a_webhook_that_fails_once(backend: Backend) {
        let received = web::Data::new(Mutex::new(Received::default()));
        let state = received.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind receiver");
        let hook_address = server.addrs()[0];
        let receiver = server.run();
        let receiver_handle = receiver.handle();
        tokio::spawn(receiver);

        let certs = tempfile::tempdir().expect("temp dir");
        let certs_dir = certs.path().join("hub-certs");
        let dir = certs_dir.clone();
        let app = spawn_app_with(backend, move |settings| {
            settings.hub = true;
            settings.hub_bind = "127.0.0.1:0".parse().expect("address");
            settings.hub_host_names = vec!["127.0.0.1".to_owned()];
            settings.hub_certs_dir = Some(dir);
            settings.routing.endpoints = vec![EndpointSettings {
                name: "hook".into(),
                kind: EndpointKind::Webhook,
                url: format!("http://{hook_address}/events"),
                stream: None,
                subject_prefix: None,
                secret: Some(SECRET.into()),
                max_attempts: Some(5),
                initial_backoff_ms: Some(20),
                concurrency: Some(1),
                capacity: None,
                timeout_ms: None,
            }];
            settings.routing.routes = vec![Route::new(
                RouteParts::new("hot", MessageSource::Telemetry, vec![EndpointName::new("hook").expect("name")])
                    .condition("$body.temperature > 30"),
            )
            .expect("route")];
            // With a route of its own, telemetry reaches the built-in store only through a
            // route or the fallback; keep the default fallback for the store.
            settings.routing.fallback = None;
        })
        .await;
        let ca_pem = std::fs::read(certs_dir.join("ca.pem")).expect("the development CA");

        let (key, sas_key) = register_sas_device(&app, "sensor-1").await;
        let (client, mut eventloop) = AsyncClient::new(device_options(&app, &ca_pem, &key, &sas_key), 16);

        // 25 °C matches no route (fallback: the built-in store); 35 °C goes to the webhook.
        client
            .publish("devices/sensor-1/messages/events/unit=celsius&$.ct=application%2Fjson&$.ce=utf-8", QoS::AtLeastOnce, false, r#"{"temperature": 25}"#)
            .await
            .expect("publish");
        client
            .publish("devices/sensor-1/messages/events/unit=celsius&$.ct=application%2Fjson&$.ce=utf-8", QoS::AtLeastOnce, false, r#"{"temperature": 35}"#)
            .await
            .expect("publish");
        let mut acks = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while acks < 2 {
            match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acks += 1,
                Ok(Ok(_)) => {}
                other => panic!("no PUBACK: {other:?}"),
            }
            assert!(Instant::now() < deadline, "no PUBACK");
        }
        let pump = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });

        // Both are acknowledged, so both are durably routed (in the outbox): the built-in
        // endpoint's lane stores the first soon after, so poll for it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let listed = loop {
            let listed = api(&app, Method::GET, "/api/v1/devices/sensor-1/telemetry?limit=10", None).await;
            assert_eq!(listed.status(), StatusCode::OK);
            let listed: Value = listed.json().await.expect("JSON");
            if listed["items"].as_array().is_some_and(|items| !items.is_empty()) || Instant::now() >= deadline {
                break listed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let items = listed["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "only the message no route took: {listed}");
        assert_eq!(items[0]["body"], r#"{"temperature": 25}"#, "{listed}");
        assert_eq!(items[0]["systemProperties"]["iothub-connection-device-id"], "sensor-1");
        assert_eq!(items[0]["properties"]["unit"], "celsius", "{listed}");

        // The webhook got the hot one, refused it once, and got it again.
        let deadline = Instant::now() + Duration::from_secs(30);
        let requests = loop {
            let requests = received.lock().unwrap_or_else(|p| p.into_inner()).requests.clone();
            if requests.len() >= 2 {
                break requests;
            }
            assert!(Instant::now() < deadline, "the webhook was not retried: {} requests", requests.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(requests.len(), 2, "delivered once accepted");
        assert_eq!(requests[0].0, requests[1].0, "the retry carries the same CloudEvents id");
        assert_eq!(requests[1].1["data"], json!({"temperature": 35}), "{}", requests[1].1);
        let expected = twinhub_routing::endpoint::webhook::signature(SECRET.as_bytes(), &requests[1].3);
        assert_eq!(requests[1].2.as_deref(), Some(expected.as_str()), "signed with the secret");

        // The route test evaluates the condition against a sample.
        let tested: Value = api(&app, Method::POST, "/api/v1/hub/routes/hot/test", Some(json!({"body": {"temperature": 31}}))).await.json().await.expect("JSON");
        assert_eq!(tested["matched"], true, "{tested}");
        let cold: Value = api(&app, Method::POST, "/api/v1/hub/routes/hot/test", Some(json!({"body": {"temperature": 3}}))).await.json().await.expect("JSON");
        assert_eq!(cold["matched"], false, "{cold}");

        drop(client);
        pump.abort();
        receiver_handle.stop(false).await;
    }
}

/// Deletes the test's JetStream stream however the test ends.
struct StreamGuard {
    js: async_nats::jetstream::Context,
    name: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let (js, name) = (self.js.clone(), self.name.clone());
        // Drop runs outside async code: a runtime of its own on another thread.
        let deleted = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(async { js.delete_stream(&name).await.map(|_| ()) }))
        })
        .join();
        if !matches!(deleted, Ok(Ok(Ok(())))) {
            eprintln!("could not delete a test stream");
        }
    }
}

#[tokio::test]
async fn acknowledged_telemetry_is_in_jetstream_on_the_device_subject() {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("TWINHUB_TEST_{unique}");
    let prefix = format!("t{unique}");
    let nats = async_nats::connect("nats://127.0.0.1:4222")
        .await
        .expect("the local NATS server");
    let _guard = StreamGuard {
        js: async_nats::jetstream::new(nats.clone()),
        name: stream.clone(),
    };

    let certs = tempfile::tempdir().expect("temp dir");
    let certs_dir = certs.path().join("hub-certs");
    let dir = certs_dir.clone();
    let (stream_name, subject_prefix) = (stream.clone(), prefix.clone());
    let app = spawn_app_with(Backend::Sqlite, move |settings| {
        settings.hub = true;
        settings.hub_bind = "127.0.0.2:0".parse().expect("address");
        settings.hub_host_names = vec!["127.0.0.2".to_owned()];
        settings.hub_certs_dir = Some(dir);
        settings.routing.hub_name = "e2ehub".into();
        settings.routing.endpoints = vec![EndpointSettings {
            name: "js".into(),
            kind: EndpointKind::Nats,
            url: "nats://127.0.0.1:4222".into(),
            stream: Some(stream_name),
            subject_prefix: Some(subject_prefix),
            secret: None,
            max_attempts: None,
            initial_backoff_ms: None,
            concurrency: None,
            capacity: None,
            timeout_ms: None,
        }];
        settings.routing.routes = vec![
            Route::new(
                RouteParts::new(
                    "all",
                    MessageSource::Telemetry,
                    vec![EndpointName::new("js").expect("name")],
                )
                .enrich("site", "berlin"),
            )
            .expect("route"),
        ];
    })
    .await;
    let ca_pem = std::fs::read(certs_dir.join("ca.pem")).expect("the development CA");
    let (key, sas_key) = register_sas_device(&app, "js-1").await;
    let (client, mut eventloop) =
        AsyncClient::new(device_options(&app, &ca_pem, &key, &sas_key), 16);
    client
        .publish(
            "devices/js-1/messages/events/$.ct=application%2Fjson",
            QoS::AtLeastOnce,
            false,
            r#"{"temperature": 21}"#,
        )
        .await
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("no PUBACK: {other:?}"),
        }
        assert!(Instant::now() < deadline, "no PUBACK");
    }

    // The copy is durably queued at PUBACK; JetStream has it once the lane delivered it.
    let js = async_nats::jetstream::new(nats);
    let subject = format!("{prefix}.e2ehub.Telemetry.js-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        if let Ok(stream) = js.get_stream(&stream).await
            && let Ok(m) = stream.get_last_raw_message_by_subject(&subject).await
        {
            break m;
        }
        assert!(Instant::now() < deadline, "nothing on {subject}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(&message.payload[..], br#"{"temperature": 21}"#);
    assert_eq!(
        message.headers.get("site").map(|v| v.as_str()),
        Some("berlin"),
        "enriched"
    );
    assert_eq!(
        message
            .headers
            .get("iothub-connection-device-id")
            .map(|v| v.as_str()),
        Some("js-1")
    );
    assert!(
        message.headers.get("Nats-Msg-Id").is_some(),
        "de-duplication id"
    );
    drop(client);
}

on_both_backends! {
    async fn a_condition_is_tested_against_a_sample_message_without_storing_a_route(backend: Backend) {
        let app = crate::helpers::spawn_app(backend).await;
        let test = |body: Value| {
            let app = &app;
            async move { api(app, Method::POST, "/api/v1/hub/routes/test", Some(body)).await }
        };
        let hot = test(json!({
            "condition": "$body.temperature > 30 AND alert = 'yes' AND $messageId = 'm-1' AND $twin.tags.site = 'berlin'",
            "enrichments": {"site": "$twin.tags.site", "hub": "$iothubname", "tier": "gold"},
            "message": {
                "body": {"temperature": 31},
                "properties": {"alert": "yes"},
                "messageId": "m-1",
                "twin": {"tags": {"site": "berlin"}},
            },
        })).await;
        assert_eq!(hot.status(), StatusCode::OK);
        let hot: Value = hot.json().await.expect("JSON");
        assert_eq!(hot["matched"], true, "{hot}");
        assert_eq!(hot["source"], "Telemetry");
        assert_eq!(hot["value"], true, "{hot}");
        assert_eq!(hot["enrichments"], json!([["hub", "twinhub"], ["site", "berlin"], ["tier", "gold"]]), "{hot}");

        let cold: Value = test(json!({"condition": "$body.temperature > 30", "message": {"body": {"temperature": 3}}})).await.json().await.expect("JSON");
        assert_eq!((cold["matched"].clone(), cold["sourceMatches"].clone()), (json!(false), json!(true)), "{cold}");

        // An event source: the sample is an event of that source.
        let event: Value = test(json!({
            "source": "deviceLifecycleEvents",
            "condition": "opType = 'deleteDeviceIdentity'",
            "message": {"opType": "deleteDeviceIdentity", "deviceId": "gone"},
        })).await.json().await.expect("JSON");
        assert_eq!(event["matched"], true, "{event}");
        assert_eq!(event["source"], "deviceLifecycleEvents");
        let other_source: Value = test(json!({"source": "twinChangeEvents", "message": {"source": "Telemetry"}})).await.json().await.expect("JSON");
        assert_eq!((other_source["matched"].clone(), other_source["sourceMatches"].clone()), (json!(false), json!(false)), "{other_source}");

        // A condition that cannot be read is refused as the route PUT refuses it, with its place.
        let bad = crate::helpers::problem(test(json!({"condition": "$body.temperature >", "message": {}})).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(bad["detail"].as_str().is_some_and(|d| d.contains("line 1, column")), "{bad}");
        crate::helpers::problem(test(json!({"source": "Nonsense"})).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        crate::helpers::problem(test(json!({"condition": "true", "colour": "red"})).await, StatusCode::BAD_REQUEST).await;

        // The path stays free for a route named `test`.
        let stored = api(&app, Method::PUT, "/api/v1/hub/routes/test", Some(json!({"name": "test", "source": "Telemetry", "endpoints": ["builtin"]}))).await;
        assert_eq!(stored.status(), StatusCode::CREATED);
        let named: Value = api(&app, Method::POST, "/api/v1/hub/routes/test/test", Some(json!({}))).await.json().await.expect("JSON");
        assert_eq!(named["matched"], true, "{named}");
        assert_eq!(api(&app, Method::DELETE, "/api/v1/hub/routes/test", None).await.status(), StatusCode::NO_CONTENT);
    }
}

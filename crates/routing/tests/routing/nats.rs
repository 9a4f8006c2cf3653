//! The NATS JetStream endpoint against the real local server (127.0.0.1:4222). Each test makes
//! its own stream and hub name (so subjects never overlap another test's stream) and deletes
//! the stream afterwards, even when the test fails.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use serde_json::json;
use twinhub_routing::endpoint::nats::NatsSetupError;
use twinhub_routing::{
    DeliveryError, Endpoint, LaneConfig, MemoryDeadLetters, MemoryOutbox, MessageSource,
    NatsConfig, NatsEndpoint, Route, RouteInput, RouteParts, RouteSet, Router,
};

use crate::support::{endpoint, eventually, telemetry, twin_change};

const NATS_URL: &str = "nats://127.0.0.1:4222";

struct Names {
    stream: String,
    hub: String,
}

/// Runs `body` with a fresh stream name and hub name, then deletes the stream.
async fn with_stream<F, Fut>(body: F)
where
    F: FnOnce(jetstream::Context, Names) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("twinhub_test_{id}");
    let client = async_nats::connect(NATS_URL)
        .await
        .expect("NATS JetStream must run on 127.0.0.1:4222");
    let js = jetstream::new(client);
    let outcome = tokio::spawn(body(
        js.clone(),
        Names {
            stream: stream.clone(),
            hub: format!("hub{}", &id[..12]),
        },
    ))
    .await;
    // Absent if the test never created it.
    let _ = js.delete_stream(&stream).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn config(names: &Names) -> NatsConfig {
    NatsConfig::new(NATS_URL, names.stream.clone(), names.hub.clone())
}

#[tokio::test]
async fn telemetry_lands_on_its_subject_with_the_properties_as_headers() {
    with_stream(|js, names| async move {
        let nats = NatsEndpoint::connect(config(&names))
            .await
            .expect("connects");
        let mut e = telemetry("dev.1*x", json!({"temperature": 21}), &[("alert", "high")]);
        e.hub = names.hub.clone();
        e.system_properties.connection_module_id = Some("mod1".into());
        e.system_properties.dt_subject = Some("thermostat1".into());
        e.annotation = Some(json!({"conforms": true}));
        let subject = nats.subject(&e);
        assert_eq!(
            subject,
            format!("twinhub.{}.Telemetry.dev%2E1%2Ax.mod1", names.hub)
        );
        nats.deliver(&e).await.expect("acknowledged by JetStream");

        let stream = js
            .get_stream(&names.stream)
            .await
            .expect("stream was created");
        let msg = stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .expect("message stored");
        assert_eq!(&msg.payload[..], br#"{"temperature":21}"#);
        let h = |name: &str| msg.headers.get(name).map(|v| v.as_str().to_owned());
        assert_eq!(h("iothub-connection-device-id").as_deref(), Some("dev.1*x"));
        assert_eq!(h("iothub-connection-module-id").as_deref(), Some("mod1"));
        assert_eq!(h("iothub-message-source").as_deref(), Some("Telemetry"));
        assert_eq!(h("content-type").as_deref(), Some("application/json"));
        assert_eq!(h("dt-subject").as_deref(), Some("thermostat1"));
        assert_eq!(h("alert").as_deref(), Some("high"));
        assert_eq!(h("twinhub-hub"), Some(names.hub.clone()));
        assert_eq!(
            h("twinhub-annotation").as_deref(),
            Some(r#"{"conforms":true}"#)
        );
        assert_eq!(h("Nats-Msg-Id"), Some(e.id.clone()));
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_envelope_is_stored_once() {
    with_stream(|js, names| async move {
        let nats = NatsEndpoint::connect(config(&names))
            .await
            .expect("connects");
        let mut e = twin_change("d1");
        e.hub = names.hub.clone();
        assert_eq!(
            nats.subject(&e),
            format!("twinhub.{}.twinChangeEvents.d1", names.hub)
        );
        nats.deliver(&e).await.expect("first");
        nats.deliver(&e)
            .await
            .expect("the duplicate is acknowledged too");
        let mut other = e.clone();
        other.id = "another-id".into();
        nats.deliver(&other).await.expect("a different envelope");
        let mut stream = js.get_stream(&names.stream).await.expect("stream");
        let info = stream.info().await.expect("info");
        assert_eq!(info.state.messages, 2);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_stream_is_recreated_and_the_retry_succeeds() {
    with_stream(|js, names| async move {
        let nats = NatsEndpoint::connect(config(&names))
            .await
            .expect("connects");
        js.delete_stream(&names.stream).await.expect("deleted");
        let mut e = telemetry("d1", json!({}), &[]);
        e.hub = names.hub.clone();
        let err = nats.deliver(&e).await.expect_err("no stream");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("recreated"), "{err}");
        nats.deliver(&e).await.expect("the retry lands");
    })
    .await;
}

#[tokio::test]
async fn a_message_over_the_server_limit_is_refused_for_good() {
    with_stream(|_js, names| async move {
        let nats = NatsEndpoint::connect(config(&names))
            .await
            .expect("connects");
        let mut e = telemetry("d1", json!({}), &[]);
        e.hub = names.hub.clone();
        e.body = vec![b'x'; 2 * 1024 * 1024];
        let err = nats.deliver(&e).await.expect_err("too large");
        assert!(matches!(err, DeliveryError::Permanent(_)), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_stream_with_other_subjects_is_reported_not_reused_silently() {
    with_stream(|js, names| async move {
        let other = jetstream::stream::Config {
            name: names.stream.clone(),
            subjects: vec![format!("elsewhere.{}.>", names.hub)],
            ..Default::default()
        };
        // nats-server 2.9 may fail a create while another test deletes its stream (10049);
        // the endpoint retries that itself, this test does it here.
        let mut tries = 0;
        while let Err(e) = js.create_stream(other.clone()).await {
            tries += 1;
            assert!(tries < 5, "stream not created: {e}");
            tokio::time::sleep(Duration::from_millis(50 << tries)).await;
        }
        let err = NatsEndpoint::connect(config(&names))
            .await
            .err()
            .expect("subjects do not fit");
        assert!(
            matches!(err, NatsSetupError::SubjectsNotCovered { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("do not cover"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn the_router_delivers_to_jetstream_at_least_once() {
    with_stream(|js, names| async move {
        let nats = Arc::new(
            NatsEndpoint::connect(config(&names))
                .await
                .expect("connects"),
        );
        let routes = RouteSet::new(
            vec![
                Route::new(
                    RouteParts::new("all", MessageSource::Telemetry, vec![endpoint("js")])
                        .enrich("hub", "$iothubname"),
                )
                .expect("route"),
            ],
            None,
        )
        .expect("set");
        let outbox = Arc::new(MemoryOutbox::new());
        let router = Router::builder(routes, outbox.clone(), Arc::new(MemoryDeadLetters::new()))
            .endpoint(
                endpoint("js"),
                nats,
                // One in flight keeps each device's order, which the last-message check uses.
                LaneConfig {
                    concurrency: 1,
                    ..LaneConfig::default()
                },
            )
            .start()
            .await
            .expect("router");
        for n in 0..200 {
            let mut e = telemetry(&format!("dev{}", n % 10), json!({ "n": n }), &[]);
            e.hub = names.hub.clone();
            router.route(RouteInput::new(e)).await.expect("routed");
        }
        eventually(Duration::from_secs(30), || outbox.is_empty()).await;
        let mut stream = js.get_stream(&names.stream).await.expect("stream");
        assert_eq!(stream.info().await.expect("info").state.messages, 200);
        let last = stream
            .get_last_raw_message_by_subject(&format!("twinhub.{}.Telemetry.dev3", names.hub))
            .await
            .expect("dev3's last");
        assert_eq!(&msg_body(&last.payload), r#"{"n":193}"#);
        assert_eq!(
            last.headers.get("hub").map(|v| v.as_str().to_owned()),
            Some(names.hub.clone())
        );
    })
    .await;
}

fn msg_body(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

//! The webhook endpoint against a real HTTP receiver (actix-web on 127.0.0.1, port 0) that
//! records each request and answers from a script.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::sync::watch;
use twinhub_routing::endpoint::webhook::{SIGNATURE_HEADER, signature};
use twinhub_routing::{
    DeliveryError, Endpoint, LaneConfig, MemoryDeadLetters, MemoryOutbox, MessageSource,
    RetryPolicy, Route, RouteInput, RouteParts, RouteSet, Router, WebhookConfig, WebhookEndpoint,
};

use crate::support::{endpoint, eventually, telemetry};

const LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
struct Received {
    content_type: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    statuses: Mutex<VecDeque<u16>>,
    stall: Mutex<Option<watch::Receiver<bool>>>,
}

struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(ReceiverState::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
            server: handle,
        }
    }

    fn answer(&self, statuses: &[u16]) {
        self.state
            .statuses
            .lock()
            .expect("lock")
            .extend(statuses.iter().copied());
    }

    fn stall(&self) -> watch::Sender<bool> {
        let (tx, rx) = watch::channel(true);
        *self.state.stall.lock().expect("lock") = Some(rx);
        tx
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let stall = state.stall.lock().expect("lock").clone();
    if let Some(mut rx) = stall {
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.received.lock().expect("lock").push(Received {
        content_type: header("content-type"),
        signature: header(SIGNATURE_HEADER),
        body: body.to_vec(),
    });
    let status = state
        .statuses
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
}

fn webhook(url: &str) -> WebhookEndpoint {
    WebhookEndpoint::new(WebhookConfig::new(url).secret("s3cret")).expect("webhook")
}

async fn router_to(
    hook: WebhookEndpoint,
    max_attempts: u32,
) -> (Router, Arc<MemoryDeadLetters>, Arc<MemoryOutbox>) {
    let routes = RouteSet::new(
        vec![
            Route::new(RouteParts::new(
                "all",
                MessageSource::Telemetry,
                vec![endpoint("hook")],
            ))
            .expect("route"),
        ],
        None,
    )
    .expect("set");
    let dead = Arc::new(MemoryDeadLetters::new());
    let outbox = Arc::new(MemoryOutbox::new());
    let router = Router::builder(routes, outbox.clone(), dead.clone())
        .endpoint(
            endpoint("hook"),
            Arc::new(hook),
            LaneConfig {
                retry: RetryPolicy {
                    max_attempts,
                    initial_backoff: Duration::from_millis(5),
                    max_backoff: Duration::from_millis(20),
                },
                ..LaneConfig::default()
            },
        )
        .start()
        .await
        .expect("router");
    (router, dead, outbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_receive_signed_cloud_events() {
    let receiver = Receiver::start().await;
    let hook = webhook(&receiver.url);
    let e = telemetry("d1", json!({"temperature": 21.5}), &[("alert", "high")]);
    hook.deliver(&e).await.expect("2xx");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/cloudevents+json; charset=utf-8")
    );
    assert_eq!(
        r.signature.as_deref(),
        Some(signature(b"s3cret", &r.body).as_str())
    );
    let ce: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["id"], e.id.as_str());
    assert_eq!(ce["type"], "twinhub.Telemetry");
    assert_eq!(ce["data"], json!({"temperature": 21.5}));

    // Without a secret there is no signature.
    let unsigned = WebhookEndpoint::new(WebhookConfig::new(&receiver.url)).expect("webhook");
    unsigned.deliver(&e).await.expect("2xx");
    assert_eq!(receiver.received()[1].signature, None);
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_answers_500_then_200_receives_the_event() {
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 200]);
    let (router, dead, outbox) = router_to(webhook(&receiver.url), 5).await;
    let e = telemetry("d1", json!({"n": 1}), &[]);
    router
        .route(RouteInput::new(e.clone()))
        .await
        .expect("routed");
    eventually(LIMIT, || outbox.is_empty()).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "one failed attempt, one accepted");
    for r in &got {
        let ce: Value = serde_json::from_slice(&r.body).expect("JSON");
        assert_eq!(ce["id"], e.id.as_str(), "the retry is the same event");
    }
    let stats = router.lane_stats(&endpoint("hook")).expect("lane");
    assert_eq!((stats.retried, stats.delivered), (1, 1));
    assert!(dead.letters().is_empty());
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_failing_every_time_ends_in_the_dead_letters() {
    let receiver = Receiver::start().await;
    receiver.answer(&[503, 503, 503, 400]);
    let (router, dead, outbox) = router_to(webhook(&receiver.url), 3).await;
    router
        .route(RouteInput::new(telemetry("d1", json!({"n": 1}), &[])))
        .await
        .expect("routed");
    eventually(LIMIT, || dead.letters().len() == 1).await;
    router
        .route(RouteInput::new(telemetry("d1", json!({"n": 2}), &[])))
        .await
        .expect("routed");
    eventually(LIMIT, || dead.letters().len() == 2).await;
    let letters = dead.letters();
    assert_eq!((letters[0].attempts, letters[0].permanent), (3, false));
    assert!(letters[0].error.contains("503"), "{}", letters[0].error);
    assert_eq!((letters[1].attempts, letters[1].permanent), (1, true));
    assert!(letters[1].error.contains("400"), "{}", letters[1].error);
    eventually(LIMIT, || outbox.is_empty()).await;
    assert_eq!(receiver.received().len(), 4);
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_unreachable_webhooks_are_retryable() {
    let receiver = Receiver::start().await;
    let release = receiver.stall();
    let mut config = WebhookConfig::new(&receiver.url);
    config.timeout = Duration::from_millis(200);
    let slow = WebhookEndpoint::new(config).expect("webhook");
    let err = slow
        .deliver(&telemetry("d1", json!({}), &[]))
        .await
        .expect_err("times out");
    assert!(matches!(err, DeliveryError::Retryable(_)), "{err}");
    release.send(false).expect("release");

    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let gone = webhook(&format!("http://127.0.0.1:{port}/hook"));
    let err = gone
        .deliver(&telemetry("d1", json!({}), &[]))
        .await
        .expect_err("connection refused");
    assert!(err.is_retryable(), "{err}");
    receiver.stop().await;
}

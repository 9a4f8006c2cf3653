//! The router over in-memory endpoints: persist-before-ack, lanes that do not block each
//! other, retries, dead letters, replay of the outbox after a restart, annotation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use twinhub_routing::{
    DeliveryError, EndpointName, EntryId, LaneConfig, MemoryDeadLetters, MemoryOutbox,
    MessageSource, NewEntry, Outbox, OutboxEntry, RetryPolicy, Route, RouteFailure, RouteInput,
    RouteParts, RouteSet, Router, RouterError, StorageError,
};
use twinhub_twin::DeviceModel;

use crate::support::{Recorder, endpoint, eventually, telemetry, twin};

const LIMIT: Duration = Duration::from_secs(20);

fn fast(capacity: usize, concurrency: usize, max_attempts: u32) -> LaneConfig {
    LaneConfig {
        capacity,
        concurrency,
        attempt_timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        },
    }
}

/// Telemetry with `to = 'a'` goes to endpoint a, `to = 'b'` to b, `to = 'both'` to both.
fn routes() -> RouteSet {
    let r = |name: &str, cond: &str, to: &[&str]| {
        Route::new(
            RouteParts::new(
                name,
                MessageSource::Telemetry,
                to.iter().map(|e| endpoint(e)).collect(),
            )
            .condition(cond),
        )
        .expect("route")
    };
    RouteSet::new(
        vec![
            r("to-a", "to = 'a' OR to = 'both'", &["a"]),
            r("to-b", "to = 'b' OR to = 'both'", &["b"]),
        ],
        None,
    )
    .expect("route set")
}

fn message(to: &str, n: u32) -> RouteInput {
    RouteInput::new(telemetry("d1", json!({ "n": n }), &[("to", to)]))
}

async fn router(
    outbox: Arc<dyn Outbox>,
    dead: Arc<MemoryDeadLetters>,
    a: (Arc<Recorder>, LaneConfig),
    b: (Arc<Recorder>, LaneConfig),
) -> Router {
    Router::builder(routes(), outbox, dead)
        .endpoint(endpoint("a"), a.0, a.1)
        .endpoint(endpoint("b"), b.0, b.1)
        .start()
        .await
        .expect("router starts")
}

/// Polls a future once.
fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let waker = std::task::Waker::noop();
    f.poll(&mut std::task::Context::from_waker(waker))
}

#[tokio::test]
async fn route_resolves_once_the_copies_are_queued_and_lanes_deliver_them() {
    let outbox = Arc::new(MemoryOutbox::new());
    let (a, b) = (Recorder::new(), Recorder::new());
    let stall = a.stall();
    let r = router(
        outbox.clone(),
        Arc::new(MemoryDeadLetters::new()),
        (a.clone(), fast(8, 1, 3)),
        (b.clone(), fast(8, 1, 3)),
    )
    .await;
    let routed = r.route(message("both", 1)).await.expect("routed");
    assert_eq!(routed.endpoints, [endpoint("a"), endpoint("b")]);
    b.wait_for(LIMIT, |got| got.len() == 1).await;
    // a is stalled, so its copy is still in the outbox: what was acknowledged is durable.
    assert_eq!(outbox.len(), 1);
    assert!(a.accepted().is_empty());
    stall.send(false).expect("release");
    a.wait_for(LIMIT, |got| got.len() == 1).await;
    eventually(LIMIT, || outbox.is_empty()).await;
    assert_eq!(a.accepted()[0].properties.get("to"), Some("both"));

    let none = r.route(message("nobody", 2)).await.expect("routed");
    assert!(none.endpoints.is_empty());
}

#[tokio::test]
async fn a_stalled_endpoint_holds_back_its_own_route_only_and_memory_stays_bounded() {
    let (a, b) = (Recorder::new(), Recorder::new());
    let stall = a.stall();
    let r = Arc::new(
        router(
            Arc::new(MemoryOutbox::new()),
            Arc::new(MemoryDeadLetters::new()),
            (a.clone(), fast(2, 1, 3)),
            (b.clone(), fast(2, 1, 3)),
        )
        .await,
    );
    // One copy in delivery, one taken off the queue waiting for a delivery slot, two queued.
    for n in 0..4 {
        r.route(message("a", n)).await.expect("routed");
    }
    eventually(LIMIT, || {
        r.lane_stats(&endpoint("a"))
            .is_some_and(|s| s.queued == 2 && s.in_flight == 1)
    })
    .await;
    let blocked = r.route(message("a", 4));
    let mut blocked = std::pin::pin!(blocked);
    assert!(poll_once(blocked.as_mut()).is_pending(), "lane a is full");

    // Lane b is not affected.
    for n in 0..50 {
        r.route(message("b", n)).await.expect("routed");
    }
    b.wait_for(LIMIT, |got| got.len() == 50).await;
    let a_stats = r.lane_stats(&endpoint("a")).expect("lane a");
    assert!(a_stats.queued <= a_stats.capacity);
    assert!(poll_once(blocked.as_mut()).is_pending(), "still full");

    stall.send(false).expect("release");
    blocked.await.expect("routed once room frees up");
    a.wait_for(LIMIT, |got| got.len() == 5).await;
}

#[tokio::test]
async fn retryable_failures_are_retried_until_accepted() {
    let (a, b) = (Recorder::new(), Recorder::new());
    a.script(vec![
        Err(DeliveryError::Retryable("busy".into())),
        Err(DeliveryError::Retryable("busy".into())),
    ]);
    let dead = Arc::new(MemoryDeadLetters::new());
    let outbox = Arc::new(MemoryOutbox::new());
    let r = router(
        outbox.clone(),
        dead.clone(),
        (a.clone(), fast(8, 1, 5)),
        (b, fast(8, 1, 5)),
    )
    .await;
    r.route(message("a", 1)).await.expect("routed");
    a.wait_for(LIMIT, |got| got.len() == 1).await;
    assert_eq!(a.attempts(), 3);
    eventually(LIMIT, || outbox.is_empty()).await;
    let stats = r.lane_stats(&endpoint("a")).expect("lane");
    assert_eq!(
        (stats.retried, stats.delivered, stats.dead_lettered),
        (2, 1, 0)
    );
    assert!(dead.letters().is_empty());
}

#[tokio::test]
async fn copies_are_dead_lettered_after_n_failures_or_one_refusal() {
    let (a, b) = (Recorder::new(), Recorder::new());
    a.script(vec![
        Err(DeliveryError::Retryable("down".into())),
        Err(DeliveryError::Retryable("down".into())),
        Err(DeliveryError::Retryable("still down".into())),
        Err(DeliveryError::Permanent("400 Bad Request".into())),
    ]);
    let dead = Arc::new(MemoryDeadLetters::new());
    let outbox = Arc::new(MemoryOutbox::new());
    let r = router(
        outbox.clone(),
        dead.clone(),
        (a.clone(), fast(8, 1, 3)),
        (b, fast(8, 1, 3)),
    )
    .await;
    r.route(message("a", 1)).await.expect("routed");
    eventually(LIMIT, || dead.letters().len() == 1).await;
    r.route(message("a", 2)).await.expect("routed");
    eventually(LIMIT, || dead.letters().len() == 2).await;
    let letters = dead.letters();
    assert_eq!(letters[0].attempts, 3);
    assert!(!letters[0].permanent);
    assert_eq!(letters[0].error, "still down");
    assert_eq!(letters[0].entry.endpoint, endpoint("a"));
    assert_eq!(letters[0].entry.envelope.body, br#"{"n":1}"#);
    assert_eq!(letters[1].attempts, 1);
    assert!(letters[1].permanent);
    eventually(LIMIT, || outbox.is_empty()).await;
    assert!(a.accepted().is_empty());
    // The lane goes on with the next copy.
    r.route(message("a", 3)).await.expect("routed");
    a.wait_for(LIMIT, |got| got.len() == 1).await;
}

#[tokio::test]
async fn a_new_router_delivers_what_the_old_one_left_in_the_outbox() {
    let outbox = Arc::new(MemoryOutbox::new());
    let dead = Arc::new(MemoryDeadLetters::new());
    let (a1, b1) = (Recorder::new(), Recorder::new());
    let _stall = a1.stall();
    let first = router(
        outbox.clone(),
        dead.clone(),
        (a1.clone(), fast(4, 2, 3)),
        (b1.clone(), fast(4, 2, 3)),
    )
    .await;
    for n in 0..3 {
        first.route(message("both", n)).await.expect("routed");
    }
    b1.wait_for(LIMIT, |got| got.len() == 3).await;
    eventually(LIMIT, || outbox.len() == 3).await;
    // The "crash": lanes stop at once, a's copies were never delivered.
    drop(first);
    assert!(a1.accepted().is_empty());

    let (a2, b2) = (Recorder::new(), Recorder::new());
    let second = router(
        outbox.clone(),
        dead,
        (a2.clone(), fast(4, 2, 3)),
        (b2.clone(), fast(4, 2, 3)),
    )
    .await;
    a2.wait_for(LIMIT, |got| got.len() == 3).await;
    let mut bodies: Vec<String> = a2
        .accepted()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.body).into_owned())
        .collect();
    bodies.sort();
    assert_eq!(bodies, [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#]);
    eventually(LIMIT, || outbox.is_empty()).await;
    assert!(b2.accepted().is_empty(), "b had delivered everything");
    // The new router routes as usual.
    second.route(message("b", 9)).await.expect("routed");
    b2.wait_for(LIMIT, |got| got.len() == 1).await;
}

#[tokio::test]
async fn a_replay_larger_than_the_queue_is_fed_in_as_room_frees_up() {
    let outbox = Arc::new(MemoryOutbox::new());
    let now: DateTime<Utc> = Utc::now();
    let entries: Vec<NewEntry> = (0..20)
        .map(|n| NewEntry {
            endpoint: endpoint("a"),
            envelope: telemetry("d1", json!({ "n": n }), &[]),
        })
        .collect();
    outbox.enqueue(&entries, now).await.expect("enqueued");
    let (a, b) = (Recorder::new(), Recorder::new());
    let _r = router(
        outbox.clone(),
        Arc::new(MemoryDeadLetters::new()),
        (a.clone(), fast(2, 1, 3)),
        (b, fast(2, 1, 3)),
    )
    .await;
    a.wait_for(LIMIT, |got| got.len() == 20).await;
    eventually(LIMIT, || outbox.is_empty()).await;
}

/// An outbox whose storage is gone.
struct BrokenOutbox;

#[async_trait]
impl Outbox for BrokenOutbox {
    async fn enqueue(
        &self,
        _: &[NewEntry],
        _: DateTime<Utc>,
    ) -> Result<Vec<EntryId>, StorageError> {
        Err(StorageError("disk full".into()))
    }
    async fn pending(&self, _: &EndpointName) -> Result<Vec<OutboxEntry>, StorageError> {
        Ok(Vec::new())
    }
    async fn complete(&self, _: &[EntryId]) -> Result<(), StorageError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_message_the_outbox_cannot_store_is_not_accepted_nor_delivered() {
    let (a, b) = (Recorder::new(), Recorder::new());
    let r = router(
        Arc::new(BrokenOutbox),
        Arc::new(MemoryDeadLetters::new()),
        (a.clone(), fast(2, 1, 3)),
        (b.clone(), fast(2, 1, 3)),
    )
    .await;
    let err = r.route(message("both", 1)).await.expect_err("not accepted");
    assert!(matches!(err, RouteFailure::Outbox(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "the outbox cannot store the message: disk full"
    );
    // The reserved room is given back: the lanes still take messages... and deliver nothing.
    for s in r.stats() {
        assert_eq!(s.queued, 0, "{s:?}");
    }
    assert!(a.accepted().is_empty() && b.accepted().is_empty());
}

#[tokio::test]
async fn routers_refuse_routes_to_endpoints_they_do_not_have() {
    let err = Router::builder(
        routes(),
        Arc::new(MemoryOutbox::new()),
        Arc::new(MemoryDeadLetters::new()),
    )
    .endpoint(endpoint("a"), Recorder::new(), LaneConfig::default())
    .start()
    .await
    .err()
    .expect("b is missing");
    assert!(matches!(err, RouterError::Routes(_)));
    assert!(
        err.to_string()
            .contains("endpoint 'b', which does not exist (endpoints: a)"),
        "{err}"
    );

    let r = router(
        Arc::new(MemoryOutbox::new()),
        Arc::new(MemoryDeadLetters::new()),
        (Recorder::new(), LaneConfig::default()),
        (Recorder::new(), LaneConfig::default()),
    )
    .await;
    let bad = RouteSet::new(
        vec![
            Route::new(RouteParts::new(
                "x",
                MessageSource::Telemetry,
                vec![endpoint("c")],
            ))
            .expect("route"),
        ],
        None,
    )
    .expect("set");
    assert!(r.set_routes(bad).is_err());
    assert_eq!(r.routes().routes().len(), 2, "old routes kept");
}

const MODEL: &str = r#"{
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:com:example:Probe;1",
  "@type": "Interface",
  "contents": [
    { "@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double", "unit": "degreeCelsius" }
  ]
}"#;

#[tokio::test]
async fn annotating_routes_get_the_model_annotation_and_enrichments() {
    let model =
        Arc::new(DeviceModel::from_documents(&[MODEL], "dtmi:com:example:Probe;1").expect("model"));
    let set = RouteSet::new(
        vec![
            Route::new(
                RouteParts::new("annotated", MessageSource::Telemetry, vec![endpoint("a")])
                    .condition("$twin.tags.site = 'berlin'")
                    .enrich("site", "$twin.tags.site")
                    .annotated(),
            )
            .expect("route"),
            Route::new(RouteParts::new(
                "plain",
                MessageSource::Telemetry,
                vec![endpoint("b")],
            ))
            .expect("route"),
        ],
        None,
    )
    .expect("set");
    let (a, b) = (Recorder::new(), Recorder::new());
    let r = Router::builder(
        set,
        Arc::new(MemoryOutbox::new()),
        Arc::new(MemoryDeadLetters::new()),
    )
    .endpoint(endpoint("a"), a.clone(), fast(4, 1, 3))
    .endpoint(endpoint("b"), b.clone(), fast(4, 1, 3))
    .start()
    .await
    .expect("starts");
    let input = RouteInput::new(telemetry("d1", json!({"temperature": 20.5}), &[]))
        .twin(twin())
        .model(model);
    r.route(input).await.expect("routed");
    a.wait_for(LIMIT, |got| got.len() == 1).await;
    b.wait_for(LIMIT, |got| got.len() == 1).await;
    let annotated = &a.accepted()[0];
    assert_eq!(annotated.properties.get("site"), Some("berlin"));
    assert_eq!(annotated.properties.get("twinhub-conforms"), Some("true"));
    let ann = annotated.annotation.as_ref().expect("annotation");
    assert_eq!(ann["telemetry"][0]["unit"], "degreeCelsius");
    let plain = &b.accepted()[0];
    assert!(plain.annotation.is_none());
    assert_eq!(plain.properties.get("site"), None);
}

#[test]
fn route_futures_can_move_between_threads() {
    fn send<T: Send>(_: &T) {}
    fn check(r: &Router) {
        let f = r.route(message("a", 0));
        send(&f);
    }
    let _ = check;
}

#[tokio::test]
async fn shutdown_lets_the_lanes_settle_what_they_hold() {
    let outbox = Arc::new(MemoryOutbox::new());
    let (a, b) = (Recorder::new(), Recorder::new());
    let stall = a.stall();
    let r = router(
        outbox.clone(),
        Arc::new(MemoryDeadLetters::new()),
        (a.clone(), fast(8, 2, 3)),
        (b.clone(), fast(8, 2, 3)),
    )
    .await;
    for n in 0..6 {
        r.route(message("a", n)).await.expect("routed");
    }
    let shutdown = tokio::spawn(r.shutdown(LIMIT));
    stall.send(false).expect("release");
    shutdown.await.expect("shut down");
    assert_eq!(a.accepted().len(), 6);
    assert!(outbox.is_empty());
}

#[tokio::test]
async fn shutdown_leaves_what_does_not_settle_in_time_in_the_outbox() {
    let outbox = Arc::new(MemoryOutbox::new());
    let (a, b) = (Recorder::new(), Recorder::new());
    let _stall = a.stall();
    let r = router(
        outbox.clone(),
        Arc::new(MemoryDeadLetters::new()),
        (a.clone(), fast(8, 2, 3)),
        (b, fast(8, 2, 3)),
    )
    .await;
    for n in 0..3 {
        r.route(message("a", n)).await.expect("routed");
    }
    r.shutdown(Duration::from_millis(50)).await;
    assert!(a.accepted().is_empty());
    assert_eq!(outbox.len(), 3);
}

#[tokio::test]
async fn the_fallback_route_fills_the_built_in_store() {
    use twinhub_routing::{BuiltinEndpoint, FallbackRoute, MemoryTelemetryStore, TelemetryStore};
    let store = Arc::new(MemoryTelemetryStore::new(2));
    let set = RouteSet::new(
        routes().routes().to_vec(),
        Some(FallbackRoute {
            endpoints: vec![endpoint("builtin")],
            enabled: true,
        }),
    )
    .expect("set");
    let outbox = Arc::new(MemoryOutbox::new());
    let a = Recorder::new();
    let r = Router::builder(set, outbox.clone(), Arc::new(MemoryDeadLetters::new()))
        .endpoint(endpoint("a"), a.clone(), fast(8, 1, 3))
        .endpoint(endpoint("b"), Recorder::new(), fast(8, 1, 3))
        .endpoint(
            endpoint("builtin"),
            Arc::new(BuiltinEndpoint::new(store.clone())),
            fast(8, 1, 3),
        )
        .start()
        .await
        .expect("router");
    for n in 0..3 {
        let routed = r.route(message("nobody", n)).await.expect("routed");
        assert_eq!(routed.endpoints, [endpoint("builtin")]);
    }
    r.route(message("a", 9)).await.expect("routed");
    eventually(LIMIT, || outbox.is_empty()).await;
    let latest = store.latest("d1", 10).await.expect("reads");
    let bodies: Vec<&[u8]> = latest.iter().map(|e| e.body.as_slice()).collect();
    assert_eq!(bodies, [br#"{"n":2}"#.as_slice(), br#"{"n":1}"#.as_slice()]);
    assert_eq!(
        a.accepted().len(),
        1,
        "matched telemetry skips the fallback"
    );
}

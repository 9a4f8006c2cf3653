//! Message routing's storage on the real databases (SQLite, and PostgreSQL when configured),
//! each on a fresh database: the outbox (all-or-none enqueue, pending per endpoint in order,
//! completion, survival across reopening), dead letters taking their entry out of the outbox,
//! the built-in endpoint's last N telemetry per device, and stored routes and endpoints.

use serde_json::json;
use twinhub::store::SqlTelemetryStore;
use twinhub_routing::{
    DeadLetter, DeadLetters, EndpointName, Envelope, MessageSource, NewEntry, Route, RouteParts,
    TelemetryParts, TelemetryStore,
};

use crate::helpers::{Backend, TestDatabase, on_both_backends};

fn endpoint(name: &str) -> EndpointName {
    EndpointName::new(name).expect("valid endpoint name")
}

fn telemetry(device: &str, n: u32) -> Envelope {
    Envelope::telemetry(
        "testhub",
        device,
        TelemetryParts {
            content_type: Some("application/json".into()),
            body: json!({ "n": n }).to_string().into_bytes(),
            ..TelemetryParts::default()
        },
        // Envelopes keep their times to the millisecond (IoT Hub's form), so the stored copy
        // equals one made at a whole millisecond; message n was received n ms after the first.
        chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + i64::from(n))
            .expect("in range"),
    )
}

fn body(envelope: &Envelope) -> String {
    String::from_utf8_lossy(&envelope.body).into_owned()
}

on_both_backends! {
    async fn the_outbox_keeps_copies_per_endpoint_in_order_until_completed(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let (nats, hook) = (endpoint("nats"), endpoint("hook"));
        let (a, b, c) = (telemetry("d1", 1), telemetry("d1", 2), telemetry("d2", 3));
        let now = chrono::Utc::now();
        let ids = {
            let store = twinhub::store::open(&database.url, 2).await.expect("open store");
            let outbox = store.routing();
            let first = outbox
                .enqueue(
                    &[
                        NewEntry { endpoint: nats.clone(), envelope: a.clone() },
                        NewEntry { endpoint: hook.clone(), envelope: a.clone() },
                    ],
                    now,
                )
                .await
                .expect("enqueue");
            let second = outbox
                .enqueue(
                    &[
                        NewEntry { endpoint: nats.clone(), envelope: b.clone() },
                        NewEntry { endpoint: nats.clone(), envelope: c.clone() },
                    ],
                    now,
                )
                .await
                .expect("enqueue");
            assert_eq!(first.len(), 2);
            assert_eq!(second.len(), 2);
            let all: Vec<u64> = first.iter().chain(&second).copied().collect();
            assert!(all.windows(2).all(|w| w[0] < w[1]), "ids ascend: {all:?}");
            all
        };
        // A reopened store (a restart) still holds everything.
        let store = twinhub::store::open(&database.url, 2).await.expect("reopen store");
        let outbox = store.routing();
        let pending = outbox.pending(&nats).await.expect("pending");
        let ids_nats: Vec<u64> = pending.iter().map(|e| e.id).collect();
        assert_eq!(ids_nats, [ids[0], ids[2], ids[3]]);
        assert_eq!(pending[0].envelope, a);
        assert_eq!(pending[1].envelope, b);
        assert_eq!(pending[2].envelope, c);
        assert!(pending.iter().all(|e| e.endpoint == nats));
        assert_eq!(
            pending[0].enqueued_at.timestamp_micros(),
            now.timestamp_micros()
        );
        let pending_hook = outbox.pending(&hook).await.expect("pending");
        assert_eq!(pending_hook.len(), 1);
        assert_eq!(pending_hook[0].envelope, a);

        outbox
            .complete(&[ids[0], ids[3], 999_999])
            .await
            .expect("completing, an absent id included");
        let left: Vec<u64> = outbox
            .pending(&nats)
            .await
            .expect("pending")
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, [ids[2]]);
        assert_eq!(outbox.pending(&hook).await.expect("pending").len(), 1);
        outbox.complete(&[]).await.expect("nothing to complete");
        assert!(outbox.pending(&endpoint("other")).await.expect("pending").is_empty());
    }
}

on_both_backends! {
    async fn completing_many_ids_at_once_removes_them_all(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let store = twinhub::store::open(&database.url, 2).await.expect("open store");
        let outbox = store.routing();
        let lane = endpoint("bulk");
        let entries: Vec<NewEntry> = (0..1200)
            .map(|n| NewEntry { endpoint: lane.clone(), envelope: telemetry("bulk", n) })
            .collect();
        let ids = outbox.enqueue(&entries, chrono::Utc::now()).await.expect("enqueue");
        assert_eq!(ids.len(), 1200);
        // More ids than one DELETE statement takes.
        outbox.complete(&ids[..1100]).await.expect("complete");
        let left = outbox.pending(&lane).await.expect("pending");
        assert_eq!(left.len(), 100);
        assert_eq!(left[0].id, ids[1100]);
    }
}

on_both_backends! {
    async fn a_dead_letter_takes_its_entry_out_of_the_outbox(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let store = twinhub::store::open(&database.url, 2).await.expect("open store");
        let routing = store.clone().routing();
        let hook = endpoint("hook");
        let ids = routing
            .enqueue(
                &[NewEntry { endpoint: hook.clone(), envelope: telemetry("d1", 7) }],
                chrono::Utc::now(),
            )
            .await
            .expect("enqueue");
        let entry = routing.pending(&hook).await.expect("pending").remove(0);
        assert_eq!(entry.id, ids[0]);
        let letter = DeadLetter {
            entry,
            attempts: 3,
            error: "HTTP 500".into(),
            permanent: false,
            at: chrono::Utc::now(),
        };
        DeadLetters::record(routing.as_ref(), letter.clone()).await.expect("record");
        assert!(routing.pending(&hook).await.expect("pending").is_empty());
        let letters = routing.dead_letters(10).await.expect("dead letters");
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].attempts, 3);
        assert_eq!(letters[0].error, "HTTP 500");
        assert_eq!(letters[0].entry, letter.entry);
    }
}

on_both_backends! {
    async fn the_builtin_store_keeps_the_last_n_per_device_newest_first(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let store = twinhub::store::open(&database.url, 2).await.expect("open store");
        let telemetry_store = SqlTelemetryStore::new(store.routing(), 3);
        for n in 0..5 {
            telemetry_store.append(&telemetry("a", n)).await.expect("append");
        }
        let again = telemetry("b", 9);
        telemetry_store.append(&again).await.expect("append");
        telemetry_store.append(&again).await.expect("a redelivery is accepted");
        let a = telemetry_store.latest("a", 10).await.expect("latest");
        let bodies: Vec<String> = a.iter().map(body).collect();
        assert_eq!(bodies, [r#"{"n":4}"#, r#"{"n":3}"#, r#"{"n":2}"#]);
        assert_eq!(a[0].source, MessageSource::Telemetry);
        assert_eq!(telemetry_store.latest("a", 1).await.expect("latest").len(), 1);
        let b = telemetry_store.latest("b", 10).await.expect("latest");
        assert_eq!(b, [again], "no duplicate");
        assert!(telemetry_store.latest("c", 10).await.expect("latest").is_empty());

        // Delivered out of order (the lane delivers many at once), kept in the order received:
        // 7 is newer than 6 although stored first, and the trim drops the oldest received.
        telemetry_store
            .append_all(&[telemetry("a", 7), telemetry("a", 6)])
            .await
            .expect("append all");
        telemetry_store.append(&telemetry("a", 5)).await.expect("append");
        let a = telemetry_store.latest("a", 10).await.expect("latest");
        let bodies: Vec<String> = a.iter().map(body).collect();
        assert_eq!(bodies, [r#"{"n":7}"#, r#"{"n":6}"#, r#"{"n":5}"#]);
    }
}

on_both_backends! {
    async fn routes_and_endpoints_are_stored_by_name(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let store = twinhub::store::open(&database.url, 2).await.expect("open store");
        let routing = store.routing();
        let hot = Route::new(
            RouteParts::new("hot", MessageSource::Telemetry, vec![endpoint("nats")])
                .condition("$body.temperature > 30"),
        )
        .expect("route");
        let twins = Route::new(RouteParts::new(
            "twins",
            MessageSource::TwinChangeEvents,
            vec![endpoint("hook")],
        ))
        .expect("route");
        assert!(routing.put_route(&hot).await.expect("put"));
        assert!(routing.put_route(&twins).await.expect("put"));
        let hotter = Route::new(
            RouteParts::new("hot", MessageSource::Telemetry, vec![endpoint("nats")])
                .condition("$body.temperature > 40"),
        )
        .expect("route");
        assert!(!routing.put_route(&hotter).await.expect("replace"), "replaced, not created");
        let routes = routing.routes().await.expect("routes");
        assert_eq!(routes, [hotter, twins], "a replaced route keeps its place");
        assert!(routing.delete_route("hot").await.expect("delete"));
        assert!(!routing.delete_route("hot").await.expect("delete again"));
        assert_eq!(routing.routes().await.expect("routes").len(), 1);

        let nats = json!({ "kind": "nats", "stream": "TWINHUB" });
        assert!(routing.put_endpoint("nats", &nats).await.expect("put"));
        let nats2 = json!({ "kind": "nats", "stream": "OTHER" });
        assert!(!routing.put_endpoint("nats", &nats2).await.expect("replace"));
        assert_eq!(
            routing.endpoints().await.expect("endpoints"),
            [("nats".to_owned(), nats2)]
        );
        assert!(routing.delete_endpoint("nats").await.expect("delete"));
        assert!(routing.endpoints().await.expect("endpoints").is_empty());
    }
}

//! Behaviour every [`HubStore`] must show, as checks that panic on the first difference. The
//! memory store runs them in its unit tests, and the root package runs them on SQLite and on
//! PostgreSQL, so the three stores cannot drift apart.

use chrono::{Duration, Utc};
use serde_json::json;
use twinhub_twin::{Timestamp, Twin, TwinLimits};

use crate::identity::{Authentication, ConnectionState, Identity, IdentityKey, IdentityStatus};
use crate::store::{
    C2dMessage, HubStore, HubStoreError, IdentityQuery, SessionRecord, Subscription, TwinRecord,
};

/// Runs every check against an empty store.
pub async fn run_all(store: &dyn HubStore) {
    identities_are_created_read_updated_and_deleted(store).await;
    listings_filter_and_page(store).await;
    twins_are_compare_and_swapped(store).await;
    cloud_to_device_messages_queue_expire_and_complete(store).await;
    sessions_survive_until_deleted(store).await;
    connections_are_owned_by_one_instance(store).await;
}

fn now() -> Timestamp {
    // Whole microseconds: what every backend can store exactly.
    let t = Utc::now();
    t - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1000))
}

fn key(device: &str) -> IdentityKey {
    IdentityKey::device(device).expect("valid id")
}

async fn register(store: &dyn HubStore, key: IdentityKey, model: Option<&str>) -> Identity {
    let identity = Identity::new(key, Authentication::generated_sas(), now());
    let twin = TwinRecord::new(Twin::new(model.map(str::to_owned), now()));
    store
        .create_identity(&identity, &twin)
        .await
        .expect("create identity");
    identity
}

async fn identities_are_created_read_updated_and_deleted(store: &dyn HubStore) {
    let device = register(store, key("crud-1"), None).await;
    assert_eq!(
        store.identity(&device.key).await.expect("read"),
        Some(device.clone())
    );
    let again = store
        .create_identity(&device, &TwinRecord::new(Twin::new(None, now())))
        .await;
    assert!(matches!(again, Err(HubStoreError::AlreadyExists(_))));

    let orphan = Identity::new(
        IdentityKey::module("nobody", "m").expect("valid"),
        Authentication::generated_sas(),
        now(),
    );
    let orphaned = store
        .create_identity(&orphan, &TwinRecord::new(Twin::new(None, now())))
        .await;
    assert!(matches!(orphaned, Err(HubStoreError::NotFound(_))));
    let module = register(
        store,
        IdentityKey::module("crud-1", "filter").expect("valid"),
        None,
    )
    .await;

    let mut disabled = device.clone();
    disabled.status = IdentityStatus::Disabled;
    disabled.status_reason = Some("maintenance".into());
    disabled.authentication = Authentication::SelfSigned {
        primary_thumbprint: "AB".repeat(20),
        secondary_thumbprint: None,
    };
    disabled.etag = 2;
    store
        .update_identity(&disabled, 1)
        .await
        .expect("update at the right etag");
    let stale = store.update_identity(&disabled, 1).await;
    assert!(matches!(stale, Err(HubStoreError::Conflict(_))));
    assert_eq!(
        store.identity(&device.key).await.expect("read"),
        Some(disabled.clone())
    );

    let at = now();
    store
        .claim_connection(&device.key, "instance-a", at)
        .await
        .expect("connect");
    let connected = store
        .identity(&device.key)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(connected.connection_state, ConnectionState::Connected);
    assert_eq!(connected.connection_state_updated, Some(at));
    assert_eq!(
        connected.etag, 2,
        "connection state does not touch the etag"
    );
    let later = at + Duration::seconds(5);
    store
        .record_activity(&device.key, later)
        .await
        .expect("activity");
    let active = store.identity(&device.key).await.expect("read");
    assert_eq!(active.and_then(|i| i.last_activity), Some(later));

    assert!(store.delete_identity(&device.key).await.expect("delete"));
    assert_eq!(store.identity(&device.key).await.expect("read"), None);
    assert_eq!(
        store.identity(&module.key).await.expect("read"),
        None,
        "a device takes its modules with it"
    );
    assert_eq!(store.twin(&module.key).await.expect("read"), None);
    assert!(!store.delete_identity(&device.key).await.expect("delete"));
    let missing = store
        .claim_connection(&device.key, "instance-a", now())
        .await;
    assert!(matches!(missing, Err(HubStoreError::NotFound(_))));
}

async fn listings_filter_and_page(store: &dyn HubStore) {
    for n in 0..5 {
        let model = (n % 2 == 0).then_some("dtmi:com:example:Even;1");
        register(store, key(&format!("list-{n}")), model).await;
    }
    register(
        store,
        IdentityKey::module("list-0", "a").expect("valid"),
        None,
    )
    .await;
    register(
        store,
        IdentityKey::module("list-0", "b").expect("valid"),
        None,
    )
    .await;
    store
        .claim_connection(&key("list-3"), "instance-a", now())
        .await
        .expect("connect");

    let ids = |page: &crate::IdentityPage| -> Vec<String> {
        page.identities.iter().map(|i| i.key.to_string()).collect()
    };
    let first = store
        .list_identities(&IdentityQuery {
            limit: 2,
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&first), ["list-0", "list-1"]);
    assert_eq!(first.next_after.as_deref(), Some("list-1"));
    let rest = store
        .list_identities(&IdentityQuery {
            after: first.next_after.clone(),
            limit: 10,
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&rest), ["list-2", "list-3", "list-4"]);
    assert_eq!(rest.next_after, None);

    let even = store
        .list_identities(&IdentityQuery {
            model_id: Some("dtmi:com:example:Even;1".into()),
            limit: 10,
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&even), ["list-0", "list-2", "list-4"]);

    let connected = store
        .list_identities(&IdentityQuery {
            connection_state: Some(ConnectionState::Connected),
            limit: 10,
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&connected), ["list-3"]);

    let modules = store
        .list_identities(&IdentityQuery {
            modules_of: Some("list-0".into()),
            limit: 1,
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(ids(&modules), ["list-0/a"]);
    assert_eq!(modules.next_after.as_deref(), Some("a"));

    for n in 0..5 {
        store
            .delete_identity(&key(&format!("list-{n}")))
            .await
            .expect("delete");
    }
}

async fn twins_are_compare_and_swapped(store: &dyn HubStore) {
    let device = register(store, key("twin-1"), Some("dtmi:com:example:Thermostat;1")).await;
    let mut record = store
        .twin(&device.key)
        .await
        .expect("read")
        .expect("created with its identity");
    assert_eq!(
        record.twin.model_id(),
        Some("dtmi:com:example:Thermostat;1")
    );
    let before = record.twin.version();
    record
        .twin
        .patch_reported(&json!({"temperature": 21.5}), now(), &TwinLimits::default())
        .expect("patch");
    record
        .reported_flags
        .insert("/temperature".into(), json!({"kind": "schema"}));
    record.violation_count = 1;
    store
        .update_twin(&device.key, before, &record)
        .await
        .expect("update at the read version");
    let lost = store.update_twin(&device.key, before, &record).await;
    assert!(matches!(lost, Err(HubStoreError::Conflict(_))));
    assert_eq!(
        store.twin(&device.key).await.expect("read"),
        Some(record.clone())
    );
    let absent = store.update_twin(&key("twin-none"), 1, &record).await;
    assert!(matches!(absent, Err(HubStoreError::NotFound(_))));
    store.delete_identity(&device.key).await.expect("delete");
}

fn message(id: &str, enqueued: Timestamp, ttl_seconds: i64) -> C2dMessage {
    C2dMessage {
        message_id: id.into(),
        correlation_id: Some("corr".into()),
        user_id: None,
        content_type: Some("application/json".into()),
        content_encoding: Some("utf-8".into()),
        properties: vec![("color".into(), Some("red".into())), ("flag".into(), None)],
        body: b"{\"on\":true}".to_vec(),
        enqueued,
        expires: enqueued + Duration::seconds(ttl_seconds),
        delivery_count: 0,
    }
}

async fn cloud_to_device_messages_queue_expire_and_complete(store: &dyn HubStore) {
    let device = register(store, key("c2d-1"), None).await;
    let t0 = now();
    store
        .enqueue_c2d(&device.key, &message("m1", t0, 3600), 2)
        .await
        .expect("first");
    store
        .enqueue_c2d(
            &device.key,
            &message("m2", t0 + Duration::milliseconds(1), 10),
            2,
        )
        .await
        .expect("second");
    let full = store
        .enqueue_c2d(&device.key, &message("m3", t0, 3600), 2)
        .await;
    assert!(matches!(
        full,
        Err(HubStoreError::QueueFull { limit: 2, .. })
    ));

    let pending = store.pending_c2d(&device.key, t0).await.expect("pending");
    assert_eq!(
        pending,
        [
            message("m1", t0, 3600),
            message("m2", t0 + Duration::milliseconds(1), 10)
        ]
    );
    store.mark_c2d_sent(&device.key, "m1").await.expect("sent");
    let pending = store.pending_c2d(&device.key, t0).await.expect("pending");
    assert_eq!(pending[0].delivery_count, 1);

    let later = t0 + Duration::seconds(60);
    assert_eq!(
        store
            .pending_c2d(&device.key, later)
            .await
            .expect("pending")
            .len(),
        1,
        "an expired message is not delivered"
    );
    store
        .enqueue_c2d(&device.key, &message("m3", later, 3600), 2)
        .await
        .expect("expired messages do not count against the limit");
    assert_eq!(store.purge_expired_c2d(later).await.expect("purge"), 1);

    assert!(
        store
            .complete_c2d(&device.key, "m1")
            .await
            .expect("complete")
    );
    assert!(
        !store
            .complete_c2d(&device.key, "m1")
            .await
            .expect("complete")
    );
    let left: Vec<String> = store
        .pending_c2d(&device.key, later)
        .await
        .expect("pending")
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(left, ["m3"]);
    let nobody = store
        .enqueue_c2d(&key("c2d-none"), &message("x", t0, 60), 2)
        .await;
    assert!(matches!(nobody, Err(HubStoreError::NotFound(_))));
    store.delete_identity(&device.key).await.expect("delete");
    assert!(
        store
            .pending_c2d(&device.key, t0)
            .await
            .expect("pending")
            .is_empty(),
        "deleting an identity drops its messages"
    );
}

async fn sessions_survive_until_deleted(store: &dyn HubStore) {
    assert_eq!(store.session("s-1").await.expect("read"), None);
    let session = SessionRecord {
        subscriptions: vec![
            Subscription {
                filter: "$iothub/twin/res/#".into(),
                qos: 1,
            },
            Subscription {
                filter: "$iothub/methods/POST/#".into(),
                qos: 0,
            },
        ],
    };
    store.save_session("s-1", &session).await.expect("save");
    assert_eq!(
        store.session("s-1").await.expect("read"),
        Some(session.clone())
    );
    let fewer = SessionRecord {
        subscriptions: session.subscriptions[..1].to_vec(),
    };
    store.save_session("s-1", &fewer).await.expect("replace");
    assert_eq!(store.session("s-1").await.expect("read"), Some(fewer));
    store.delete_session("s-1").await.expect("delete");
    assert_eq!(store.session("s-1").await.expect("read"), None);
}

async fn connections_are_owned_by_one_instance(store: &dyn HubStore) {
    let first = register(store, key("owned-1"), None).await;
    let second = register(store, key("owned-2"), None).await;
    let state = |key: &IdentityKey| {
        let key = key.clone();
        async move {
            store
                .identity(&key)
                .await
                .expect("read")
                .expect("present")
                .connection_state
        }
    };
    assert_eq!(
        store.connection_owner(&first.key).await.expect("owner"),
        None
    );

    store
        .claim_connection(&first.key, "instance-a", now())
        .await
        .expect("claim");
    assert_eq!(
        store.connection_owner(&first.key).await.expect("owner"),
        Some("instance-a".to_owned())
    );
    // The device reconnects through another instance, then the first notices its old
    // connection closing: the takeover stands.
    store
        .claim_connection(&first.key, "instance-b", now())
        .await
        .expect("claim");
    let released = store
        .release_connection(&first.key, "instance-a", now())
        .await
        .expect("release");
    assert!(!released, "only the owner releases a connection");
    assert_eq!(state(&first.key).await, ConnectionState::Connected);
    assert_eq!(
        store.connection_owner(&first.key).await.expect("owner"),
        Some("instance-b".to_owned())
    );
    assert!(
        store
            .release_connection(&first.key, "instance-b", now())
            .await
            .expect("release")
    );
    assert_eq!(state(&first.key).await, ConnectionState::Disconnected);
    assert_eq!(
        store.connection_owner(&first.key).await.expect("owner"),
        None
    );

    // An instance that starts again after a crash releases what it owned, and only that.
    store
        .claim_connection(&first.key, "instance-a", now())
        .await
        .expect("claim");
    store
        .claim_connection(&second.key, "instance-b", now())
        .await
        .expect("claim");
    let released = store
        .release_connections_of("instance-a", now())
        .await
        .expect("release all");
    assert_eq!(released, 1);
    assert_eq!(state(&first.key).await, ConnectionState::Disconnected);
    assert_eq!(state(&second.key).await, ConnectionState::Connected);
    assert_eq!(
        store.connection_owner(&second.key).await.expect("owner"),
        Some("instance-b".to_owned())
    );
    let missing = store
        .release_connection(&key("owned-none"), "instance-a", now())
        .await;
    assert!(matches!(missing, Err(HubStoreError::NotFound(_))));
    assert!(store.delete_identity(&second.key).await.expect("delete"));
    assert!(store.delete_identity(&first.key).await.expect("delete"));
}

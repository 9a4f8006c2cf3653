//! The device hub's storage on the real databases: the conformance checks every `HubStore`
//! must pass (`twinhub_hub::conformance`), on SQLite and on PostgreSQL, each on a fresh
//! database, and twin state that survives reopening the store.

use serde_json::json;
use twinhub_hub::{Authentication, C2dMessage, Identity, IdentityKey, TwinRecord};
use twinhub_twin::{Twin, TwinLimits};

use crate::helpers::{Backend, TestDatabase, on_both_backends};

on_both_backends! {
    async fn the_sql_hub_store_passes_the_conformance_checks(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let store = twinhub::store::open(&database.url, 4).await.expect("open store");
        twinhub_hub::conformance::run_all(store.hub().as_ref()).await;
    }
}

on_both_backends! {
    async fn twins_and_messages_survive_reopening_the_database(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let key = IdentityKey::device("restart-1").expect("valid id");
        let now = chrono::Utc::now();
        let mut record = TwinRecord::new(Twin::new(Some("dtmi:com:example:Thermostat;1".into()), now));
        {
            let store = twinhub::store::open(&database.url, 2).await.expect("open store");
            let hub = store.hub();
            let identity = Identity::new(key.clone(), Authentication::generated_sas(), now);
            hub.create_identity(&identity, &record).await.expect("create");
            let before = record.twin.version();
            record
                .twin
                .patch_reported(&json!({"temperature": 22.5}), now, &TwinLimits::default())
                .expect("patch");
            hub.update_twin(&key, before, &record).await.expect("update");
            hub.enqueue_c2d(&key, &message(now), 50).await.expect("enqueue");
        }
        let reopened = twinhub::store::open(&database.url, 2).await.expect("reopen store").hub();
        let twin = reopened.twin(&key).await.expect("read").expect("kept");
        assert_eq!(twin, record);
        assert_eq!(twin.twin.model_id(), Some("dtmi:com:example:Thermostat;1"));
        let pending = reopened.pending_c2d(&key, now).await.expect("pending");
        assert_eq!(pending, [message(now)]);
    }
}

fn message(now: chrono::DateTime<chrono::Utc>) -> C2dMessage {
    C2dMessage {
        message_id: "kept-1".into(),
        correlation_id: None,
        user_id: None,
        content_type: None,
        content_encoding: None,
        properties: vec![("color".into(), Some("red".into()))],
        body: b"hello".to_vec(),
        enqueued: now,
        expires: now + chrono::Duration::hours(1),
        delivery_count: 0,
    }
}

//! Several instances on one PostgreSQL database: a change made through one is seen by the
//! others' caches within a second.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::fixtures::{THERMOSTAT, device_batch};
use crate::helpers::{Backend, TestApp, postgres_url, spawn_app, spawn_on};

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} was not seen within a second"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn deprecation(app: &TestApp, path: &str) -> Option<String> {
    app.get(path)
        .await
        .headers()
        .get("deprecation")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn two_instances_on_one_database_see_each_others_changes_within_a_second() {
    if postgres_url().is_none() {
        eprintln!("TWINHUB_TEST_POSTGRES_URL is not set: skipping the two-instance test");
        return;
    }
    let first = spawn_app(Backend::Postgres).await;
    let second = spawn_on(first.database.clone(), |_| {}).await;
    first.push_ok(device_batch()).await;

    // Warm the second instance's caches.
    let path = "/dtmi/com/example/thermostat-1.json";
    assert_eq!(second.get(path).await.status(), StatusCode::OK);
    assert_eq!(deprecation(&second, path).await, None);
    assert_eq!(
        second.get_json("/metadata.json").await["totalModelCount"],
        3
    );
    let controller = "/dtmi/com/example/temperaturecontroller-1.json";
    assert_eq!(second.get(controller).await.status(), StatusCode::OK);

    // A state change through the first instance.
    assert_eq!(
        first
            .patch_state("dtmi:com:example:Thermostat;1", "deprecated")
            .await
            .status(),
        StatusCode::OK
    );
    eventually("the deprecation", async || {
        deprecation(&second, path).await.is_some()
    })
    .await;

    // A delete through the first instance.
    assert_eq!(
        first
            .delete("dtmi:com:example:TemperatureController;1")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    eventually("the delete", async || {
        second.get(controller).await.status() == StatusCode::NOT_FOUND
    })
    .await;
    eventually("the new model count", async || {
        second.get_json("/metadata.json").await["totalModelCount"] == 2
    })
    .await;

    // A push through the second instance is listed by the first.
    first.get_json("/index.json").await;
    second
        .push_ok(THERMOSTAT.replace("Thermostat;1", "Thermostat;3"))
        .await;
    eventually("the new model in the index", async || {
        first.get_json("/index.json").await["models"]
            .get("dtmi:com:example:Thermostat;3")
            .is_some()
    })
    .await;
}

#[tokio::test]
async fn access_changes_made_through_one_instance_apply_on_the_others_within_a_second() {
    if postgres_url().is_none() {
        eprintln!("TWINHUB_TEST_POSTGRES_URL is not set: skipping the two-instance access test");
        return;
    }
    let first = spawn_app(Backend::Postgres).await;
    let second = spawn_on(first.database.clone(), |_| {}).await;
    first.push_ok(THERMOSTAT).await;
    let path = "/dtmi/com/example/thermostat-1.json";
    assert_eq!(second.get(path).await.status(), StatusCode::OK);
    assert_eq!(
        second.get_json("/metadata.json").await["totalModelCount"],
        1
    );

    let response = first
        .client
        .put(first.url("/api/v1/namespaces/dtmi:com:example"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&serde_json::json!({ "visibility": "private" }))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), StatusCode::OK);
    eventually("the namespace turning private", async || {
        second.get(path).await.status() == StatusCode::NOT_FOUND
            && second.get_json("/metadata.json").await["totalModelCount"] == 0
    })
    .await;

    // A token minted through the first instance works on the second, and its revocation too.
    let minted: serde_json::Value = first
        .client
        .post(first.url("/api/v1/tokens"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .json(&serde_json::json!({ "name": "ci", "role": "reader", "namespaces": ["dtmi:com:example"] }))
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("json");
    let token = minted["token"].as_str().expect("token").to_owned();
    let read = |app: &TestApp| {
        app.client
            .get(app.url(path))
            .bearer_auth(token.clone())
            .send()
    };
    eventually("the new reader token", async || {
        read(&second)
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let revoked = first
        .client
        .delete(first.url(&format!("/api/v1/tokens/{}", minted["id"])))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), StatusCode::OK);
    eventually("the revocation", async || {
        read(&second)
            .await
            .is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED)
    })
    .await;
}

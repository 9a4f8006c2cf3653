//! The models API: push (single, batch, idempotent), search, read, versions, dependencies.

use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures::{
    DEVICE_INFORMATION, TEMPERATURE_CONTROLLER, THERMOSTAT, device_batch, extending, interface,
};
use crate::helpers::{ADMIN_TOKEN, Backend, on_both_backends, problem, spawn_app};

on_both_backends! {
    async fn a_batch_is_stored_in_dependency_order_and_reported(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.push(device_batch()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("JSON");
        let created: Vec<&str> = body["created"].as_array().expect("created").iter().filter_map(|m| m["dtmi"].as_str()).collect();
        assert_eq!(created.last(), Some(&"dtmi:com:example:TemperatureController;1"));
        assert_eq!(created.len(), 3);
        assert_eq!(body["unchanged"], serde_json::json!([]));
        let controller = &body["created"][2];
        assert_eq!(controller["state"], "published");
        assert_eq!(controller["pushedBy"], "admin");
        assert_eq!(controller["dtdlVersion"], 2);
        assert_eq!(controller["displayName"], serde_json::json!({"en": "Temperature Controller"}));
        assert_eq!(controller["links"]["dmr"], "/dtmi/com/example/temperaturecontroller-1.json");

        // Each element of the array is stored as its exact text.
        let stored = app.get("/dtmi/com/example/temperaturecontroller-1.json").await.text().await.expect("body");
        assert_eq!(stored, TEMPERATURE_CONTROLLER);
    }
}

on_both_backends! {
    async fn pushing_identical_content_again_is_idempotent(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let again = app.push(device_batch()).await;
        assert_eq!(again.status(), StatusCode::OK);
        let body: Value = again.json().await.expect("JSON");
        assert_eq!(body["created"], serde_json::json!([]));
        assert_eq!(body["unchanged"].as_array().map(Vec::len), Some(3));
        assert_eq!(app.model_count().await, 3);

        // A mix of stored and new models stores only the new one.
        let mixed = format!("[{THERMOSTAT}, {}]", extending("dtmi:com:example:Fancy;1", "dtmi:com:example:Thermostat;1"));
        let body = app.push_ok(mixed).await;
        // Other whitespace or key order is the same content: still idempotent.
        let reformatted = serde_json::to_string(&serde_json::from_str::<Value>(THERMOSTAT).expect("fixture")).expect("JSON");
        assert_eq!(app.push(reformatted).await.status(), StatusCode::OK);
        assert_eq!(body["created"][0]["dtmi"], "dtmi:com:example:Fancy;1");
        assert_eq!(body["unchanged"], serde_json::json!(["dtmi:com:example:Thermostat;1"]));
    }
}

on_both_backends! {
    async fn changed_content_for_a_stored_dtmi_is_refused_with_both_hashes(backend: Backend) {
        let app = spawn_app(backend).await;
        let first = app.push_ok(THERMOSTAT).await;
        let stored_hash = first["created"][0]["sha256"].as_str().expect("hash").to_owned();
        let changed = THERMOSTAT.replace("\"Thermostat\"", "\"Thermostat v2\"");
        let body = problem(app.push(changed).await, StatusCode::CONFLICT).await;
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains("dtmi:com:example:Thermostat;1"), "{detail}");
        assert!(detail.contains(&stored_hash), "{detail}");
        assert_eq!(app.get("/dtmi/com/example/thermostat-1.json").await.text().await.expect("body"), THERMOSTAT);
    }
}

on_both_backends! {
    async fn a_dtmi_differing_only_in_case_from_a_stored_one_is_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(interface("dtmi:com:example:Sensor;1")).await;
        let body = problem(app.push(interface("dtmi:com:example:sensor;1")).await, StatusCode::CONFLICT).await;
        assert!(body["detail"].as_str().expect("detail").contains("dtmi:com:example:Sensor;1"), "{body}");
        assert_eq!(app.model_count().await, 1);
    }
}

on_both_backends! {
    async fn search_filters_by_text_namespace_state_and_dependencies_with_paging(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        app.push_ok(format!("[{}, {}]", interface("dtmi:org:other:Lamp;1"), interface("dtmi:org:other:Lamp;2"))).await;

        let by_text = app.get_json("/api/v1/models?q=temperature").await;
        let dtmis: Vec<&str> = by_text["items"].as_array().expect("items").iter().filter_map(|m| m["dtmi"].as_str()).collect();
        assert_eq!(dtmis, ["dtmi:com:example:TemperatureController;1", "dtmi:com:example:Thermostat;1"]);

        let by_namespace = app.get_json("/api/v1/models?namespace=org:other").await;
        assert_eq!(by_namespace["total"], 2);
        let none = app.get_json("/api/v1/models?namespace=org:oth").await;
        assert_eq!(none["total"], 0, "namespaces match whole segments");

        let deps = app.get_json("/api/v1/models?dependenciesFor=dtmi:com:example:TemperatureController%3B1").await;
        assert_eq!(deps["total"], 2);

        let first = app.get_json("/api/v1/models?per_page=2").await;
        assert_eq!(first["total"], 5);
        assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
        let next = first["links"]["next"].as_str().expect("next link").to_owned();
        assert!(first["links"].get("prev").is_none());
        let second = app.get_json(&next).await;
        assert_eq!(second["page"], 2);
        assert_ne!(second["items"][0]["dtmi"], first["items"][0]["dtmi"]);
        let last = app.get_json("/api/v1/models?per_page=2&page=3").await;
        assert!(last["links"].get("next").is_none(), "{last}");

        app.patch_state("dtmi:org:other:Lamp;1", "deprecated").await;
        let deprecated = app.get_json("/api/v1/models?state=deprecated").await;
        assert_eq!(deprecated["items"][0]["dtmi"], "dtmi:org:other:Lamp;1");
        assert_eq!(deprecated["total"], 1);
    }
}

on_both_backends! {
    async fn a_model_is_read_with_its_content_versions_dependencies_and_dependents(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        app.push_ok(interface("dtmi:com:example:Thermostat;2")).await;

        let detail = app.get_json("/api/v1/models/dtmi:com:example:TemperatureController%3B1").await;
        assert_eq!(detail["content"]["@id"], "dtmi:com:example:TemperatureController;1");
        assert!(detail.get("expanded").is_none());
        let expanded = app.get_json("/api/v1/models/dtmi:com:example:TemperatureController%3B1?expand=true").await;
        assert_eq!(expanded["expanded"].as_array().map(Vec::len), Some(3));

        let dependencies = app.get_json("/api/v1/models/dtmi:com:example:TemperatureController%3B1/dependencies").await;
        let names: Vec<&str> = dependencies["items"].as_array().expect("items").iter().filter_map(|m| m["dtmi"].as_str()).collect();
        assert_eq!(names, ["dtmi:azure:DeviceManagement:DeviceInformation;1", "dtmi:com:example:Thermostat;1"]);

        let dependents = app.get_json("/api/v1/models/dtmi:com:example:Thermostat%3B1/dependents").await;
        assert_eq!(dependents["items"][0]["dtmi"], "dtmi:com:example:TemperatureController;1");

        let versions = app.get_json("/api/v1/models/dtmi:com:example:Thermostat/versions").await;
        let versions: Vec<&str> = versions["items"].as_array().expect("items").iter().filter_map(|m| m["dtmi"].as_str()).collect();
        assert_eq!(versions, ["dtmi:com:example:Thermostat;1", "dtmi:com:example:Thermostat;2"]);

        problem(app.get("/api/v1/models/dtmi:com:example:thermostat%3B1").await, StatusCode::NOT_FOUND).await;
        problem(app.get("/api/v1/models/not-a-dtmi").await, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn writes_need_the_admin_token_and_reads_do_not() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let anonymous = app
        .client
        .post(app.url("/api/v1/models"))
        .header("Content-Type", "application/json")
        .body(THERMOSTAT)
        .send()
        .await
        .expect("request");
    let body = problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert!(
        body["detail"].as_str().expect("detail").contains("Bearer"),
        "{body}"
    );
    let wrong = app
        .client
        .post(app.url("/api/v1/models"))
        .bearer_auth(format!("{ADMIN_TOKEN}x"))
        .header("Content-Type", "application/json")
        .body(THERMOSTAT)
        .send()
        .await
        .expect("request");
    problem(wrong, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.model_count().await, 0);

    app.push_ok(DEVICE_INFORMATION).await;
    let anonymous_delete = app
        .client
        .delete(app.url("/api/v1/models/dtmi:azure:DeviceManagement:DeviceInformation%3B1"))
        .send()
        .await
        .expect("request");
    problem(anonymous_delete, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.model_count().await, 1);
}

//! Lifecycle: published → deprecated → decommissioned, the Deprecation header, decommissioned
//! models refused as new dependencies, deletes refused while depended on, tombstones.

use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures::{THERMOSTAT, device_batch, extending};
use crate::helpers::{Backend, on_both_backends, problem, spawn_app};

on_both_backends! {
    async fn states_move_forward_only_and_deprecated_models_still_resolve(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;
        let fresh = app.get("/dtmi/com/example/thermostat-1.json").await;
        assert!(fresh.headers().get("deprecation").is_none());

        let response = app.patch_state("dtmi:com:example:Thermostat;1", "deprecated").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["state"], "deprecated");

        let deprecated = app.get("/dtmi/com/example/thermostat-1.json").await;
        assert_eq!(deprecated.status(), StatusCode::OK);
        let header = deprecated.headers()["deprecation"].to_str().expect("header").to_owned();
        assert!(header.starts_with('@') && header[1..].parse::<i64>().is_ok(), "{header}");
        assert_eq!(deprecated.text().await.expect("body"), THERMOSTAT);

        problem(app.patch_state("dtmi:com:example:Thermostat;1", "published").await, StatusCode::CONFLICT).await;
        problem(app.patch_state("dtmi:com:example:Thermostat;1", "deprecated").await, StatusCode::CONFLICT).await;
        problem(app.patch_state("dtmi:com:example:Thermostat;1", "retired").await, StatusCode::BAD_REQUEST).await;
        problem(app.patch_state("dtmi:com:example:Missing;1", "deprecated").await, StatusCode::NOT_FOUND).await;
        let decommissioned = app.patch_state("dtmi:com:example:Thermostat;1", "decommissioned").await;
        assert_eq!(decommissioned.status(), StatusCode::OK);
        assert_eq!(app.get("/dtmi/com/example/thermostat-1.json").await.status(), StatusCode::OK);
    }
}

on_both_backends! {
    async fn decommissioned_models_cannot_gain_new_dependents(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;
        app.patch_state("dtmi:com:example:Thermostat;1", "deprecated").await;
        app.push_ok(extending("dtmi:com:example:StillFine;1", "dtmi:com:example:Thermostat;1")).await;
        app.patch_state("dtmi:com:example:Thermostat;1", "decommissioned").await;
        let body = problem(
            app.push(extending("dtmi:com:example:TooLate;1", "dtmi:com:example:Thermostat;1")).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert!(body["detail"].as_str().expect("detail").contains("decommissioned"), "{body}");
        assert_eq!(app.model_count().await, 2);
    }
}

on_both_backends! {
    async fn deletes_are_refused_while_depended_on_and_leave_a_tombstone(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let refused = problem(app.delete("dtmi:com:example:Thermostat;1").await, StatusCode::CONFLICT).await;
        assert_eq!(refused["dependents"], serde_json::json!(["dtmi:com:example:TemperatureController;1"]));

        // Warm the cache, then delete: the file must disappear at once.
        assert_eq!(app.get("/dtmi/com/example/temperaturecontroller-1.json").await.status(), StatusCode::OK);
        assert_eq!(app.delete("dtmi:com:example:TemperatureController;1").await.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get("/dtmi/com/example/temperaturecontroller-1.json").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.delete("dtmi:com:example:Thermostat;1").await.status(), StatusCode::NO_CONTENT);
        problem(app.delete("dtmi:com:example:Thermostat;1").await, StatusCode::NOT_FOUND).await;

        let changed = THERMOSTAT.replace("targetTemperature", "setPoint");
        let tombstoned = problem(app.push(changed).await, StatusCode::CONFLICT).await;
        assert!(tombstoned["detail"].as_str().expect("detail").contains("deleted"), "{tombstoned}");
        problem(app.push(THERMOSTAT.replace("Thermostat;1", "thermostat;1")).await, StatusCode::CONFLICT).await;
        // The original content may come back.
        let restored = app.push(THERMOSTAT).await;
        let status = restored.status();
        assert_eq!(status, StatusCode::CREATED, "{}", restored.text().await.unwrap_or_default());
        assert_eq!(app.get("/dtmi/com/example/thermostat-1.json").await.text().await.expect("body"), THERMOSTAT);
    }
}

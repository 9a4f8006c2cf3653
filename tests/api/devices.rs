//! The device API without devices connected: the registry (devices and modules, keys,
//! statuses, If-Match, paging and filters), twins and digital twins checked against the
//! device's model from the repository, and what live operations answer for an offline device.
//! The device side runs in `tests/hub_client` (the real device SDK) and in the hub crate.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, on_both_backends, problem, spawn_app};

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    call_with(app, method, path, body, &[]).await
}

async fn call_with(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, String)],
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

async fn ok(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON")
    }
}

on_both_backends! {
    async fn devices_are_registered_listed_changed_and_deleted(backend: Backend) {
        let app = spawn_app(backend).await;
        let created = ok(
            call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "thermostat-01", "authentication": {"type": "sas"}}))).await,
            StatusCode::CREATED,
        ).await;
        assert_eq!(created["deviceId"], "thermostat-01");
        assert_eq!(created["status"], "enabled");
        assert_eq!(created["connectionState"], "disconnected");
        let primary = created["authentication"]["symmetricKey"]["primaryKey"].as_str().expect("key").to_owned();
        assert_eq!(
            created["connectionString"],
            format!("HostName=localhost;DeviceId=thermostat-01;SharedAccessKey={primary}")
        );
        let again = call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "thermostat-01"}))).await;
        problem(again, StatusCode::CONFLICT).await;
        let bad = call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "with space"}))).await;
        problem(bad, StatusCode::BAD_REQUEST).await;
        let no_thumbprint = call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "x", "authentication": {"type": "selfSigned"}}))).await;
        problem(no_thumbprint, StatusCode::BAD_REQUEST).await;

        let x509 = ok(
            call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "camera-01", "authentication": {"type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": "AB".repeat(32)}}}))).await,
            StatusCode::CREATED,
        ).await;
        assert_eq!(x509["connectionString"], "HostName=localhost;DeviceId=camera-01;x509=true");
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "gateway-01", "authentication": {"type": "certificateAuthority"}}))).await, StatusCode::CREATED).await;

        let page = ok(call(&app, Method::GET, "/api/v1/devices?limit=2", None).await, StatusCode::OK).await;
        let ids: Vec<&str> = page["items"].as_array().expect("items").iter().filter_map(|d| d["deviceId"].as_str()).collect();
        assert_eq!(ids, ["camera-01", "gateway-01"]);
        assert_eq!(page["nextAfter"], "gateway-01");
        let rest = ok(call(&app, Method::GET, "/api/v1/devices?limit=2&after=gateway-01", None).await, StatusCode::OK).await;
        assert_eq!(rest["items"][0]["deviceId"], "thermostat-01");
        assert!(rest.get("nextAfter").is_none(), "{rest}");
        let connected = ok(call(&app, Method::GET, "/api/v1/devices?connectionState=connected", None).await, StatusCode::OK).await;
        assert_eq!(connected["items"], json!([]));
        problem(call(&app, Method::GET, "/api/v1/devices?connectionState=sleeping", None).await, StatusCode::BAD_REQUEST).await;

        // Stale If-Match is refused; the current one works; keys can be regenerated.
        let stale = call_with(&app, Method::PATCH, "/api/v1/devices/thermostat-01", Some(json!({"status": "disabled"})), &[("If-Match", "\"AAAAAAAAAAk=\"".into())]).await;
        problem(stale, StatusCode::PRECONDITION_FAILED).await;
        let etag = created["etag"].as_str().expect("etag").to_owned();
        let changed = ok(
            call_with(&app, Method::PATCH, "/api/v1/devices/thermostat-01", Some(json!({"status": "disabled", "statusReason": "maintenance", "regenerateKeys": "primary"})), &[("If-Match", format!("\"{etag}\""))]).await,
            StatusCode::OK,
        ).await;
        assert_eq!(changed["status"], "disabled");
        assert_eq!(changed["statusReason"], "maintenance");
        assert_ne!(changed["authentication"]["symmetricKey"]["primaryKey"], primary.as_str());
        assert_eq!(changed["authentication"]["symmetricKey"]["secondaryKey"], created["authentication"]["symmetricKey"]["secondaryKey"]);
        assert_ne!(changed["etag"], created["etag"]);

        // Modules live under their device and go with it.
        let module = ok(call(&app, Method::POST, "/api/v1/devices/thermostat-01/modules", Some(json!({"moduleId": "filter"}))).await, StatusCode::CREATED).await;
        assert_eq!(module["moduleId"], "filter");
        assert!(module["connectionString"].as_str().is_some_and(|c| c.contains(";ModuleId=filter;")), "{module}");
        problem(call(&app, Method::POST, "/api/v1/devices/nobody/modules", Some(json!({"moduleId": "m"}))).await, StatusCode::NOT_FOUND).await;
        let modules = ok(call(&app, Method::GET, "/api/v1/devices/thermostat-01/modules", None).await, StatusCode::OK).await;
        assert_eq!(modules["items"][0]["moduleId"], "filter");
        let module_twin = ok(call(&app, Method::GET, "/api/v1/devices/thermostat-01/modules/filter/twin", None).await, StatusCode::OK).await;
        assert_eq!(module_twin["moduleId"], "filter");

        ok(call(&app, Method::DELETE, "/api/v1/devices/thermostat-01", None).await, StatusCode::NO_CONTENT).await;
        problem(call(&app, Method::GET, "/api/v1/devices/thermostat-01", None).await, StatusCode::NOT_FOUND).await;
        problem(call(&app, Method::GET, "/api/v1/devices/thermostat-01/modules/filter", None).await, StatusCode::NOT_FOUND).await;
        problem(call(&app, Method::DELETE, "/api/v1/devices/thermostat-01", None).await, StatusCode::NOT_FOUND).await;
    }
}

on_both_backends! {
    async fn readers_see_identities_without_their_keys(backend: Backend) {
        let app = spawn_app(backend).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "secretive"}))).await, StatusCode::CREATED).await;
        let token = ok(
            call(&app, Method::POST, "/api/v1/tokens", Some(json!({"name": "hub-reader", "role": "reader", "namespaces": ["hub"]}))).await,
            StatusCode::CREATED,
        ).await["token"].as_str().expect("token").to_owned();
        let seen: Value = app.client.get(app.url("/api/v1/devices/secretive")).bearer_auth(&token).send().await.expect("request").json().await.expect("JSON");
        assert_eq!(seen["authentication"], json!({"type": "sas"}));
        assert!(seen.get("connectionString").is_none(), "{seen}");
        let refused = app.client.post(app.url("/api/v1/devices/secretive/messages")).bearer_auth(&token).json(&json!({"body": "x"})).send().await.expect("request");
        problem(refused, StatusCode::FORBIDDEN).await;
    }
}

on_both_backends! {
    async fn twins_take_desired_changes_that_fit_the_model_and_refuse_the_rest(backend: Backend) {
        let app = spawn_app(backend).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "t-1"}))).await, StatusCode::CREATED).await;

        let twin = ok(call(&app, Method::GET, "/api/v1/devices/t-1/twin", None).await, StatusCode::OK).await;
        assert_eq!(twin["deviceId"], "t-1");
        assert_eq!(twin["modelId"], "");
        assert_eq!(twin["modelViolationCount"], 0);
        let etag = twin["etag"].as_str().expect("etag").to_owned();
        let changed = ok(
            call_with(&app, Method::PATCH, "/api/v1/devices/t-1/twin", Some(json!({"tags": {"site": "berlin"}, "properties": {"desired": {"targetTemperature": 21.5}}})), &[("If-Match", format!("\"{etag}\""))]).await,
            StatusCode::OK,
        ).await;
        assert_eq!(changed["tags"]["site"], "berlin");
        assert_eq!(changed["properties"]["desired"]["targetTemperature"], 21.5);
        let stale = call_with(&app, Method::PATCH, "/api/v1/devices/t-1/twin", Some(json!({"tags": {"site": "paris"}})), &[("If-Match", format!("\"{etag}\""))]).await;
        problem(stale, StatusCode::PRECONDITION_FAILED).await;
        let not_object = call(&app, Method::PATCH, "/api/v1/devices/t-1/twin", Some(json!({"properties": {"desired": [1, 2]}}))).await;
        problem(not_object, StatusCode::BAD_REQUEST).await;
    }
}

on_both_backends! {
    async fn live_operations_on_an_offline_device_answer_as_documented(backend: Backend) {
        let app = spawn_app(backend).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "sleeper"}))).await, StatusCode::CREATED).await;
        let offline = call(&app, Method::POST, "/api/v1/devices/sleeper/commands/reboot?timeout=5", Some(json!(3))).await;
        let body = problem(offline, StatusCode::NOT_FOUND).await;
        assert_eq!(body["type"], "urn:twinhub:problem:device-offline");
        problem(call(&app, Method::POST, "/api/v1/devices/sleeper/commands/reboot?timeout=4", Some(json!(3))).await, StatusCode::BAD_REQUEST).await;
        problem(call(&app, Method::POST, "/api/v1/devices/sleeper/commands/reboot?timeout=301", Some(json!(3))).await, StatusCode::BAD_REQUEST).await;

        let queued = ok(
            call(&app, Method::POST, "/api/v1/devices/sleeper/messages", Some(json!({"body": "wake up", "properties": {"color": "red", "flag": null}, "messageId": "m-1"}))).await,
            StatusCode::ACCEPTED,
        ).await;
        assert_eq!(queued["messageId"], "m-1");
        let bad = call(&app, Method::POST, "/api/v1/devices/sleeper/messages", Some(json!({"body": "x", "properties": {"n": 5}}))).await;
        problem(bad, StatusCode::BAD_REQUEST).await;
        problem(call(&app, Method::POST, "/api/v1/devices/nobody/messages", Some(json!({"body": "x"}))).await, StatusCode::NOT_FOUND).await;
    }
}

on_both_backends! {
    async fn the_digital_twin_shows_the_model_and_takes_json_patches(backend: Backend) {
        let app = spawn_app(backend).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "dt-1"}))).await, StatusCode::CREATED).await;
        let digital = ok(call(&app, Method::PATCH, "/api/v1/devices/dt-1/digitaltwin", Some(json!([{"op": "add", "path": "/targetTemperature", "value": 19.0}]))).await, StatusCode::OK).await;
        assert_eq!(digital["$dtId"], "dt-1");
        assert_eq!(digital["$metadata"]["targetTemperature"]["desiredValue"], 19.0);
        let twin = ok(call(&app, Method::GET, "/api/v1/devices/dt-1/twin", None).await, StatusCode::OK).await;
        assert_eq!(twin["properties"]["desired"]["targetTemperature"], 19.0);
        let not_patch = call(&app, Method::PATCH, "/api/v1/devices/dt-1/digitaltwin", Some(json!({"op": "add"}))).await;
        problem(not_patch, StatusCode::BAD_REQUEST).await;
    }
}

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

on_both_backends! {
    async fn a_twin_put_replaces_tags_and_desired_of_devices_and_modules(backend: Backend) {
        let app = spawn_app(backend).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "r-1"}))).await, StatusCode::CREATED).await;
        ok(call(&app, Method::POST, "/api/v1/devices/r-1/modules", Some(json!({"moduleId": "filter"}))).await, StatusCode::CREATED).await;
        for twin_path in ["/api/v1/devices/r-1/twin", "/api/v1/devices/r-1/modules/filter/twin"] {
            ok(
                call(&app, Method::PATCH, twin_path, Some(json!({"tags": {"site": "berlin", "floor": 1}, "properties": {"desired": {"a": 1, "b": 2}}}))).await,
                StatusCode::OK,
            ).await;
            let replaced = ok(
                call(&app, Method::PUT, twin_path, Some(json!({"tags": {"site": "paris"}, "properties": {"desired": {"a": 3}}}))).await,
                StatusCode::OK,
            ).await;
            assert_eq!(replaced["tags"], json!({"site": "paris"}), "{twin_path}: {replaced}");
            assert_eq!(replaced["properties"]["desired"]["a"], 3, "{twin_path}: {replaced}");
            assert!(replaced["properties"]["desired"].get("b").is_none(), "{twin_path}: b was replaced away: {replaced}");

            // A twin as read goes back whole: only tags and desired count, guarded by its etag.
            let mut read = ok(call(&app, Method::GET, twin_path, None).await, StatusCode::OK).await;
            let etag = read["etag"].as_str().expect("etag").to_owned();
            read["tags"] = json!({"site": "rome"});
            let sent_back = ok(
                call_with(&app, Method::PUT, twin_path, Some(read.clone()), &[("If-Match", format!("\"{etag}\""))]).await,
                StatusCode::OK,
            ).await;
            assert_eq!(sent_back["tags"], json!({"site": "rome"}));
            assert_ne!(sent_back["etag"], read["etag"]);
            let stale = call_with(&app, Method::PUT, twin_path, Some(read), &[("If-Match", format!("\"{etag}\""))]).await;
            problem(stale, StatusCode::PRECONDITION_FAILED).await;

            problem(call(&app, Method::PUT, twin_path, Some(json!([1, 2]))).await, StatusCode::BAD_REQUEST).await;
            problem(call(&app, Method::PUT, twin_path, Some(json!({"properties": {"desired": [1, 2]}}))).await, StatusCode::BAD_REQUEST).await;
        }
        problem(call(&app, Method::PUT, "/api/v1/devices/nobody/twin", Some(json!({"tags": {}}))).await, StatusCode::NOT_FOUND).await;
        problem(call(&app, Method::PUT, "/api/v1/devices/r-1/modules/nothing/twin", Some(json!({"tags": {}}))).await, StatusCode::NOT_FOUND).await;
    }
}

on_both_backends! {
    async fn module_methods_on_an_offline_module_answer_as_documented(backend: Backend) {
        let app = spawn_app(backend).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "host"}))).await, StatusCode::CREATED).await;
        ok(call(&app, Method::POST, "/api/v1/devices/host/modules", Some(json!({"moduleId": "edge"}))).await, StatusCode::CREATED).await;
        let offline = call(&app, Method::POST, "/api/v1/devices/host/modules/edge/commands/reboot?timeout=5", None).await;
        let body = problem(offline, StatusCode::NOT_FOUND).await;
        assert_eq!(body["type"], "urn:twinhub:problem:device-offline");
        problem(call(&app, Method::POST, "/api/v1/devices/host/modules/edge/commands/reboot?timeout=4", None).await, StatusCode::BAD_REQUEST).await;
        problem(call(&app, Method::POST, "/api/v1/devices/host/modules/edge/commands/reboot?timeout=301", None).await, StatusCode::BAD_REQUEST).await;
        problem(call(&app, Method::POST, "/api/v1/devices/host/modules/nothing/commands/reboot", None).await, StatusCode::NOT_FOUND).await;
    }
}

on_both_backends! {
    async fn a_connected_module_answers_its_methods_and_has_desired_replacements_checked(backend: Backend) {
        use rumqttc::{AsyncClient, Event, Packet, QoS};
        use std::time::{Duration, Instant};
        let certs = tempfile::tempdir().expect("temp dir");
        let certs_dir = certs.path().join("hub-certs");
        let dir = certs_dir.clone();
        let app = crate::helpers::spawn_app_with(backend, move |settings| {
            settings.hub = true;
            settings.hub_bind = "127.0.0.1:0".parse().expect("address");
            settings.hub_host_names = vec!["127.0.0.1".to_owned()];
            settings.hub_certs_dir = Some(dir);
        })
        .await;
        let ca_pem = std::fs::read(certs_dir.join("ca.pem")).expect("the development CA was written");
        app.push_ok(crate::fixtures::device_batch()).await;
        ok(call(&app, Method::POST, "/api/v1/devices", Some(json!({"deviceId": "gw-1"}))).await, StatusCode::CREATED).await;
        let module = ok(call(&app, Method::POST, "/api/v1/devices/gw-1/modules", Some(json!({"moduleId": "ctl"}))).await, StatusCode::CREATED).await;
        let sas_key = module["authentication"]["symmetricKey"]["primaryKey"].as_str().expect("key").to_owned();
        let key = twinhub_hub::IdentityKey::module("gw-1", "ctl").expect("id");

        // The module connects (with the controller's model id) and subscribes to methods.
        let (client, mut eventloop) = AsyncClient::new(crate::hub_endpoint::device_options(&app, &ca_pem, &key, &sas_key), 16);
        client.subscribe("$iothub/methods/POST/#", QoS::AtLeastOnce).await.expect("subscribe");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout(Duration::from_secs(20), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success),
                Ok(Ok(_)) => {}
                other => panic!("no SUBACK: {other:?}"),
            }
            assert!(Instant::now() < deadline, "no SUBACK");
        }
        // The module answers `reboot` with its delay doubled, and lets `hang` time out.
        let answerer = client.clone();
        let pump = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(Packet::Publish(publish)) = event
                    && let Some((name, rid)) = publish.topic.strip_prefix("$iothub/methods/POST/").and_then(|rest| rest.split_once("/?$rid="))
                {
                    seen.push(name.to_owned());
                    if name == "reboot" {
                        let delay: Value = serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
                        let answer = json!({"rebootingIn": delay.as_i64().unwrap_or(-1) * 2});
                        answerer.publish(format!("$iothub/methods/res/201/?$rid={rid}"), QoS::AtLeastOnce, false, answer.to_string()).await.expect("answer");
                    }
                }
            }
            seen
        });

        let mut connected = Value::Null;
        let deadline = Instant::now() + Duration::from_secs(20);
        while connected["modelId"] != "dtmi:com:example:TemperatureController;1" {
            assert!(Instant::now() < deadline, "the module twin never got its model id: {connected}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            connected = ok(call(&app, Method::GET, "/api/v1/devices/gw-1/modules/ctl/twin", None).await, StatusCode::OK).await;
        }

        let answered = ok(call(&app, Method::POST, "/api/v1/devices/gw-1/modules/ctl/commands/reboot?timeout=10&validate=false", Some(json!(7))).await, StatusCode::OK).await;
        assert_eq!(answered, json!({"status": 201, "payload": {"rebootingIn": 14}}));
        let started = Instant::now();
        let timed_out = call(&app, Method::POST, "/api/v1/devices/gw-1/modules/ctl/commands/hang?timeout=5&validate=false", None).await;
        problem(timed_out, StatusCode::GATEWAY_TIMEOUT).await;
        assert!(started.elapsed() >= Duration::from_secs(5), "the timeout was waited: {:?}", started.elapsed());
        let not_in_model = call(&app, Method::POST, "/api/v1/devices/gw-1/modules/ctl/commands/selfDestruct", None).await;
        problem(not_in_model, StatusCode::UNPROCESSABLE_ENTITY).await;

        // A replacement of desired properties is checked against the module's model, as a patch is.
        let refused = call(&app, Method::PUT, "/api/v1/devices/gw-1/modules/ctl/twin", Some(json!({"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": "warm"}}}}))).await;
        let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["type"], "urn:twinhub:problem:model-violation");
        assert_eq!(body["errors"][0]["pointer"], "/properties/desired/thermostat1/targetTemperature", "{body}");
        let fits = ok(call(&app, Method::PUT, "/api/v1/devices/gw-1/modules/ctl/twin", Some(json!({"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": 21.5}}}}))).await, StatusCode::OK).await;
        assert_eq!(fits["properties"]["desired"]["thermostat1"]["targetTemperature"], 21.5);
        let unchecked = call(&app, Method::PUT, "/api/v1/devices/gw-1/modules/ctl/twin?validate=false", Some(json!({"properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": "warm"}}}}))).await;
        assert_eq!(unchecked.status(), StatusCode::OK);

        ok(call(&app, Method::DELETE, "/api/v1/devices/gw-1", None).await, StatusCode::NO_CONTENT).await;
        let seen = tokio::time::timeout(Duration::from_secs(20), pump).await.expect("the module was disconnected").expect("pump");
        assert_eq!(seen, ["reboot", "hang"], "selfDestruct never reached the module");
        drop(client);
    }
}

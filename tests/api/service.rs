//! The IoT Hub service API over HTTPS against the real application: registry, twins,
//! tokens and rights, queries (both listeners), methods and digital twins, with IoT Hub's
//! status codes and error bodies. Each test gets a fresh database, its own certificate and
//! ports chosen by the system.

use std::sync::Arc;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use twinhub::service::sas::service_token;
use twinhub::startup::Application;
use twinhub_hub::{HubStore, IdentityKey};

use crate::helpers::{ADMIN_TOKEN, Backend, TestDatabase, on_both_backends, settings};

/// The application with its service listener, and clients for both.
struct ServiceApp {
    api: String,
    service: String,
    /// `localhost:{port}`, the token resource.
    host: String,
    client: Client,
    store: Arc<dyn HubStore>,
    _database: TestDatabase,
    _certs: tempfile::TempDir,
}

async fn spawn(backend: Backend) -> ServiceApp {
    twinhub_client::install_crypto_provider();
    let database = TestDatabase::create(backend).await;
    let certs = tempfile::tempdir().expect("temp dir");
    let mut settings = settings(&database.url);
    // The hub with its development CA, and the service API beside it, on free ports.
    settings.hub = true;
    settings.hub_bind = "127.0.0.1:0".parse().expect("address");
    settings.service_bind = "127.0.0.1:0".parse().expect("address");
    settings.hub_certs_dir = Some(certs.path().to_owned());
    let application = Application::build(settings)
        .await
        .expect("application starts");
    let store = application.services().store.clone().hub();
    let ca =
        std::fs::read(twinhub_hub::devca::DevCerts::in_dir(certs.path()).ca_cert).expect("dev CA");
    let api = format!("http://{}", application.address());
    let port = application
        .service_address()
        .expect("service address")
        .port();
    tokio::spawn(application.run_until_stopped());
    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .build()
        .expect("client");
    ServiceApp {
        api,
        service: format!("https://localhost:{port}"),
        host: format!("localhost:{port}"),
        client,
        store,
        _database: database,
        _certs: certs,
    }
}

impl ServiceApp {
    /// A policy's keys through our API.
    async fn policy(&self, name: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/api/v1/hub/policies/{name}", self.api))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("policy request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("policy JSON")
    }

    async fn token(&self, policy: &str) -> String {
        let key = self.policy(policy).await["primaryKey"]
            .as_str()
            .expect("key")
            .to_owned();
        let expiry = chrono::Utc::now().timestamp() as u64 + 3600;
        service_token(&self.host, policy, &key, expiry).expect("token")
    }

    /// A service request as the SDK sends it, signed for `policy`.
    async fn request(&self, method: Method, path: &str, policy: &str) -> RequestBuilder {
        let separator = if path.contains('?') { '&' } else { '?' };
        self.client
            .request(
                method,
                format!("{}{path}{separator}api-version=2021-04-12", self.service),
            )
            .header("Authorization", self.token(policy).await)
    }

    async fn owner(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path, "iothubowner").await
    }

    async fn put_device(&self, id: &str) -> Value {
        let response = self
            .owner(Method::PUT, &format!("/devices/{id}"))
            .await
            .json(&json!({"deviceId": id, "status": "enabled",
                "authentication": {"symmetricKey": {"primaryKey": null, "secondaryKey": null}, "type": "sas"},
                "capabilities": {"iotEdge": false}}))
            .send()
            .await
            .expect("PUT device");
        ok_json(response).await
    }
}

async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Reads an IoT Hub error response and returns its error code.
async fn hub_error(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let code = response
        .headers()
        .get("iothub-errorcode")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.expect("error JSON");
    let message = body["Message"].as_str().expect("Message");
    assert!(message.starts_with(&format!("ErrorCode:{code};")), "{body}");
    assert!(
        body["ExceptionMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Tracking ID:")),
        "{body}"
    );
    code
}

on_both_backends! {
    async fn the_registry_creates_reads_updates_lists_and_deletes_devices_and_modules(backend: Backend) {
        let app = spawn(backend).await;
        let created = app.put_device("thermostat-01").await;
        assert_eq!(created["deviceId"], "thermostat-01");
        assert_eq!(created["authentication"]["type"], "sas");
        let primary = created["authentication"]["symmetricKey"]["primaryKey"].as_str().expect("generated key");
        assert_eq!(primary.len(), 44);
        assert_eq!(created["connectionState"], "Disconnected");

        // A create of an existing device is refused; an update needs If-Match.
        let again = app.owner(Method::PUT, "/devices/thermostat-01").await
            .json(&json!({"deviceId": "thermostat-01"})).send().await.expect("PUT");
        assert_eq!(hub_error(again, StatusCode::CONFLICT).await, "DeviceAlreadyExists");
        let updated = app.owner(Method::PUT, "/devices/thermostat-01").await
            .header("If-Match", "\"*\"")
            .json(&json!({"deviceId": "thermostat-01", "status": "disabled", "statusReason": "maintenance"}))
            .send().await.expect("PUT");
        let updated = ok_json(updated).await;
        assert_eq!(updated["status"], "disabled");
        assert_eq!(updated["statusReason"], "maintenance");
        assert_eq!(updated["authentication"]["symmetricKey"]["primaryKey"], primary, "keys kept");
        assert_ne!(updated["etag"], created["etag"]);
        let stale = app.owner(Method::PUT, "/devices/thermostat-01").await
            .header("If-Match", format!("\"{}\"", created["etag"].as_str().expect("etag")))
            .json(&json!({"status": "enabled"})).send().await.expect("PUT");
        assert_eq!(hub_error(stale, StatusCode::PRECONDITION_FAILED).await, "PreconditionFailed");

        let read = ok_json(app.owner(Method::GET, "/devices/thermostat-01").await.send().await.expect("GET")).await;
        assert_eq!(read["status"], "disabled");
        app.put_device("thermostat-02").await;
        let listed = ok_json(app.owner(Method::GET, "/devices?top=10").await.send().await.expect("list")).await;
        let ids: Vec<&str> = listed.as_array().expect("array").iter().filter_map(|d| d["deviceId"].as_str()).collect();
        assert_eq!(ids, ["thermostat-01", "thermostat-02"]);

        let module = app.owner(Method::PUT, "/devices/thermostat-01/modules/filter").await
            .json(&json!({"deviceId": "thermostat-01", "moduleId": "filter"})).send().await.expect("PUT module");
        let module = ok_json(module).await;
        assert_eq!(module["moduleId"], "filter");
        let modules = ok_json(app.owner(Method::GET, "/devices/thermostat-01/modules").await.send().await.expect("modules")).await;
        assert_eq!(modules.as_array().map(Vec::len), Some(1));
        let missing = app.owner(Method::GET, "/devices/thermostat-01/modules/other").await.send().await.expect("GET");
        assert_eq!(hub_error(missing, StatusCode::NOT_FOUND).await, "ModuleNotFound");
        let deleted = app.owner(Method::DELETE, "/devices/thermostat-01/modules/filter").await
            .header("If-Match", "\"*\"").send().await.expect("DELETE");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

        let deleted = app.owner(Method::DELETE, "/devices/thermostat-01").await
            .header("If-Match", "\"*\"").send().await.expect("DELETE");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let gone = app.owner(Method::GET, "/devices/thermostat-01").await.send().await.expect("GET");
        assert_eq!(hub_error(gone, StatusCode::NOT_FOUND).await, "DeviceNotFound");
        let bad_id = app.owner(Method::PUT, "/devices/bad%20id").await.json(&json!({})).send().await.expect("PUT");
        assert_eq!(hub_error(bad_id, StatusCode::BAD_REQUEST).await, "ArgumentInvalid");
    }
}

on_both_backends! {
    async fn twins_take_tag_and_desired_patches_and_replacements_guarded_by_their_etag(backend: Backend) {
        let app = spawn(backend).await;
        app.put_device("d1").await;
        let twin = ok_json(app.owner(Method::GET, "/twins/d1").await.send().await.expect("GET twin")).await;
        assert_eq!(twin["deviceId"], "d1");
        assert_eq!(twin["properties"]["desired"]["$version"], 1);
        let first_etag = twin["etag"].as_str().expect("etag").to_owned();

        let patched = app.owner(Method::PATCH, "/twins/d1").await
            .header("If-Match", "\"*\"")
            .json(&json!({"tags": {"site": {"name": "plant-1"}}, "properties": {"desired": {"targetTemperature": 21}}}))
            .send().await.expect("PATCH");
        let patched = ok_json(patched).await;
        assert_eq!(patched["tags"]["site"]["name"], "plant-1");
        assert_eq!(patched["properties"]["desired"]["targetTemperature"], 21);
        assert_eq!(patched["properties"]["desired"]["$version"], 2);
        assert_ne!(patched["etag"].as_str(), Some(first_etag.as_str()));

        let stale = app.owner(Method::PATCH, "/twins/d1").await
            .header("If-Match", format!("\"{first_etag}\""))
            .json(&json!({"tags": {"x": 1}})).send().await.expect("PATCH");
        assert_eq!(hub_error(stale, StatusCode::PRECONDITION_FAILED).await, "PreconditionFailed");

        // A read twin sent back with changes replaces tags and desired; reported is ignored.
        let mut whole = patched.clone();
        whole["tags"] = json!({"floor": 3});
        whole["properties"]["desired"] = json!({"mode": "eco"});
        let replaced = app.owner(Method::PUT, "/twins/d1").await
            .header("If-Match", format!("\"{}\"", patched["etag"].as_str().expect("etag")))
            .json(&whole).send().await.expect("PUT twin");
        let replaced = ok_json(replaced).await;
        assert_eq!(replaced["tags"], json!({"floor": 3}));
        assert_eq!(replaced["properties"]["desired"]["mode"], "eco");
        assert!(replaced["properties"]["desired"].get("targetTemperature").is_none());

        let bad = app.owner(Method::PATCH, "/twins/d1").await
            .json(&json!({"properties": {"desired": {"$bad": 1}}})).send().await.expect("PATCH");
        assert_eq!(hub_error(bad, StatusCode::BAD_REQUEST).await, "ArgumentInvalid");
        let missing = app.owner(Method::GET, "/twins/nobody").await.send().await.expect("GET");
        assert_eq!(hub_error(missing, StatusCode::NOT_FOUND).await, "DeviceNotFound");
        let too_big = app.owner(Method::PATCH, "/twins/d1").await
            .json(&json!({"tags": {"x": "a".repeat(300 * 1024)}})).send().await.expect("PATCH");
        assert_eq!(hub_error(too_big, StatusCode::PAYLOAD_TOO_LARGE).await, "MessageTooLarge");
    }
}

on_both_backends! {
    async fn tokens_must_be_valid_current_for_this_hub_and_carry_the_right(backend: Backend) {
        let app = spawn(backend).await;
        app.put_device("d1").await;
        let url = format!("{}/devices/d1?api-version=2021-04-12", app.service);
        let none = app.client.get(&url).send().await.expect("GET");
        assert_eq!(hub_error(none, StatusCode::UNAUTHORIZED).await, "IotHubUnauthorizedAccess");

        let key = app.policy("iothubowner").await["primaryKey"].as_str().expect("key").to_owned();
        let now = chrono::Utc::now().timestamp() as u64;
        let cases = [
            ("expired", service_token(&app.host, "iothubowner", &key, now - 10).expect("token")),
            ("other port", service_token("localhost:1", "iothubowner", &key, now + 600).expect("token")),
            ("unknown policy", service_token(&app.host, "nobody", &key, now + 600).expect("token")),
            ("wrong key", service_token(&app.host, "service", &key, now + 600).expect("token")),
            ("not a token", "Bearer abc".to_owned()),
        ];
        for (case, token) in cases {
            let response = app.client.get(&url).header("Authorization", token).send().await.expect("GET");
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
            let body: Value = response.json().await.expect("JSON");
            assert!(body["Message"].as_str().is_some_and(|m| m.starts_with("ErrorCode:IotHubUnauthorizedAccess;")), "{case}: {body}");
        }

        // registryRead reads but does not write; service reaches twins but not the registry.
        let read = app.request(Method::GET, "/devices/d1", "registryRead").await.send().await.expect("GET");
        assert_eq!(read.status(), StatusCode::OK);
        let write = app.request(Method::PUT, "/devices/d2", "registryRead").await.json(&json!({})).send().await.expect("PUT");
        let body: Value = write.json().await.expect("JSON");
        assert!(body["Message"].as_str().is_some_and(|m| m.contains("RegistryWrite")), "{body}");
        let twin = app.request(Method::PATCH, "/twins/d1", "service").await
            .json(&json!({"tags": {"a": 1}})).send().await.expect("PATCH");
        assert_eq!(twin.status(), StatusCode::OK);
        let registry = app.request(Method::GET, "/devices/d1", "service").await.send().await.expect("GET");
        assert_eq!(registry.status(), StatusCode::UNAUTHORIZED);

        // A regenerated key stops the old one at once.
        let old = app.token("iothubowner").await;
        let regenerated = app.client.post(format!("{}/api/v1/hub/policies/iothubowner/regenerate", app.api))
            .bearer_auth(ADMIN_TOKEN).json(&json!({"key": "primary"})).send().await.expect("regenerate");
        assert_eq!(regenerated.status(), StatusCode::OK);
        let refused = app.client.get(&url).header("Authorization", old).send().await.expect("GET");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let fresh = app.owner(Method::GET, "/devices/d1").await.send().await.expect("GET");
        assert_eq!(fresh.status(), StatusCode::OK);
    }
}

/// Sets reported properties as a device would (through the store, as the hub does).
async fn report(app: &ServiceApp, device: &str, reported: Value) {
    let key = IdentityKey::device(device).expect("key");
    let mut record = app.store.twin(&key).await.expect("twin").expect("exists");
    let version = record.twin.version();
    record
        .twin
        .patch_reported(
            &reported,
            chrono::Utc::now(),
            &twinhub_twin::TwinLimits::default(),
        )
        .expect("reported patch");
    app.store
        .update_twin(&key, version, &record)
        .await
        .expect("stored");
}

/// Every item of a query, page by page, and how many pages it took.
async fn query_all(app: &ServiceApp, query: &str, page: usize) -> (Vec<Value>, usize, String) {
    let mut items = Vec::new();
    let mut continuation: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = app
            .owner(Method::POST, "/devices/query")
            .await
            .header("x-ms-max-item-count", page.to_string())
            .json(&json!({"query": query}));
        if let Some(c) = &continuation {
            request = request.header("x-ms-continuation", c);
        }
        let response = request.send().await.expect("query");
        assert_eq!(response.status(), StatusCode::OK);
        let item_type = response
            .headers()
            .get("x-ms-item-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        continuation = response
            .headers()
            .get("x-ms-continuation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let page: Value = response.json().await.expect("JSON");
        items.extend(page.as_array().expect("array").iter().cloned());
        pages += 1;
        if continuation.is_none() {
            return (items, pages, item_type);
        }
        assert!(pages < 100, "paging does not end");
    }
}

on_both_backends! {
    async fn queries_filter_project_count_and_page_in_sql(backend: Backend) {
        let app = spawn(backend).await;
        for i in 0..23 {
            let id = format!("dev-{i:02}");
            app.put_device(&id).await;
            let site = if i % 3 == 0 { "plant-1" } else { "plant-2" };
            let patch = app.owner(Method::PATCH, &format!("/twins/{id}")).await
                .json(&json!({"tags": {"site": site, "floor": i % 4}})).send().await.expect("PATCH");
            assert_eq!(patch.status(), StatusCode::OK);
            report(&app, &id, json!({"firmware": if i < 5 { "1.0" } else { "2.0" }, "temperature": 20 + i})).await;
        }
        let (items, pages, item_type) = query_all(&app, "SELECT * FROM devices WHERE tags.site = 'plant-1'", 3).await;
        let ids: Vec<&str> = items.iter().filter_map(|t| t["deviceId"].as_str()).collect();
        assert_eq!(ids, ["dev-00", "dev-03", "dev-06", "dev-09", "dev-12", "dev-15", "dev-18", "dev-21"]);
        assert_eq!(pages, 3);
        assert_eq!(item_type, "Twin");
        assert_eq!(items[0]["tags"]["site"], "plant-1");
        assert_eq!(items[0]["properties"]["reported"]["firmware"], "1.0");

        let (hot, _, _) = query_all(&app,
            "SELECT deviceId, properties.reported.temperature AS t FROM devices \
             WHERE properties.reported.temperature >= 40 AND properties.reported.firmware = '2.0'", 100).await;
        assert_eq!(hot, vec![json!({"deviceId": "dev-20", "t": 40}), json!({"deviceId": "dev-21", "t": 41}), json!({"deviceId": "dev-22", "t": 42})]);

        let (top, pages, _) = query_all(&app, "SELECT TOP 7 * FROM devices WHERE NOT (tags.floor IN [0, 1])", 3).await;
        assert_eq!(top.len(), 7);
        assert_eq!(pages, 3);

        let (groups, _, item_type) = query_all(&app,
            "SELECT tags.site AS site, COUNT() AS n FROM devices GROUP BY tags.site", 100).await;
        assert_eq!(item_type, "Raw");
        let mut groups: Vec<(String, u64)> = groups.iter()
            .map(|g| (g["site"].as_str().unwrap_or_default().to_owned(), g["n"].as_u64().unwrap_or_default()))
            .collect();
        groups.sort();
        assert_eq!(groups, [("plant-1".to_owned(), 8), ("plant-2".to_owned(), 15)]);
        let (count, _, _) = query_all(&app,
            "SELECT COUNT() AS n FROM devices WHERE STARTSWITH(deviceId, 'dev-1') AND IS_DEFINED(properties.reported.firmware)", 100).await;
        assert_eq!(count, vec![json!({"n": 10})]);
        let (none, _, _) = query_all(&app, "SELECT * FROM devices.modules", 10).await;
        assert!(none.is_empty());

        let malformed = app.owner(Method::POST, "/devices/query").await
            .json(&json!({"query": "SELECT * FROM devices WHERE tags.site = "})).send().await.expect("query");
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        let body: Value = malformed.json().await.expect("JSON");
        assert!(body["Message"].as_str().is_some_and(|m| m.contains("line 1, column 41")), "{body}");
        let foreign = app.owner(Method::POST, "/devices/query").await
            .header("x-ms-continuation", "bm90IG91cnM")
            .json(&json!({"query": "SELECT * FROM devices"})).send().await.expect("query");
        assert_eq!(hub_error(foreign, StatusCode::BAD_REQUEST).await, "ArgumentInvalid");

        // The same query through our API.
        let ours = app.client.post(format!("{}/api/v1/devices/query", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"query": "SELECT deviceId FROM devices WHERE tags.floor = 2", "pageSize": 2}))
            .send().await.expect("query");
        let ours = ok_json(ours).await;
        assert_eq!(ours["items"], json!([{"deviceId": "dev-02"}, {"deviceId": "dev-06"}]));
        assert_eq!(ours["itemType"], "Raw");
        let next = app.client.post(format!("{}/api/v1/devices/query", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"query": "SELECT deviceId FROM devices WHERE tags.floor = 2", "pageSize": 2,
                "continuation": ours["continuation"]}))
            .send().await.expect("query");
        let next = ok_json(next).await;
        assert_eq!(next["items"], json!([{"deviceId": "dev-10"}, {"deviceId": "dev-14"}]));
        let bad = app.client.post(format!("{}/api/v1/devices/query", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"query": "SELECT * FROM things"})).send().await.expect("query");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    }
}

on_both_backends! {
    async fn methods_and_digital_twins_answer_as_azure_does_for_offline_devices_and_bad_input(backend: Backend) {
        let app = spawn(backend).await;
        app.put_device("d1").await;
        let offline = app.owner(Method::POST, "/twins/d1/methods").await
            .json(&json!({"methodName": "reboot", "payload": {}, "responseTimeoutInSeconds": 5})).send().await.expect("method");
        assert_eq!(hub_error(offline, StatusCode::NOT_FOUND).await, "DeviceNotOnline");
        for timeout in [4, 301] {
            let bad = app.owner(Method::POST, "/twins/d1/methods").await
                .json(&json!({"methodName": "reboot", "responseTimeoutInSeconds": timeout})).send().await.expect("method");
            assert_eq!(hub_error(bad, StatusCode::BAD_REQUEST).await, "ArgumentInvalid");
        }
        let unknown = app.owner(Method::POST, "/twins/nobody/methods").await
            .json(&json!({"methodName": "reboot"})).send().await.expect("method");
        assert_eq!(hub_error(unknown, StatusCode::NOT_FOUND).await, "DeviceNotFound");
        let command = app.owner(Method::POST, "/digitaltwins/d1/components/thermostat1/commands/getMaxMinReport?connectTimeoutInSeconds=0&responseTimeoutInSeconds=10").await
            .json(&json!("2026-01-01T00:00:00Z")).send().await.expect("command");
        assert_eq!(hub_error(command, StatusCode::NOT_FOUND).await, "DeviceNotOnline");

        let dt = app.owner(Method::GET, "/digitaltwins/d1").await.send().await.expect("GET dt");
        assert_eq!(dt.status(), StatusCode::OK);
        let etag = dt.headers().get("etag").and_then(|v| v.to_str().ok()).expect("ETag").to_owned();
        let dt: Value = dt.json().await.expect("JSON");
        assert_eq!(dt["$dtId"], "d1");
        let patched = app.owner(Method::PATCH, "/digitaltwins/d1").await
            .header("If-Match", etag.clone())
            .json(&json!([{"op": "add", "path": "/targetTemperature", "value": 42}])).send().await.expect("PATCH dt");
        assert_eq!(patched.status(), StatusCode::ACCEPTED);
        let twin = ok_json(app.owner(Method::GET, "/twins/d1").await.send().await.expect("twin")).await;
        assert_eq!(twin["properties"]["desired"]["targetTemperature"], 42);
        let stale = app.owner(Method::PATCH, "/digitaltwins/d1").await
            .header("If-Match", etag)
            .json(&json!([{"op": "add", "path": "/targetTemperature", "value": 43}])).send().await.expect("PATCH dt");
        assert_eq!(hub_error(stale, StatusCode::PRECONDITION_FAILED).await, "PreconditionFailed");
        let not_patch = app.owner(Method::PATCH, "/digitaltwins/d1").await
            .json(&json!({"targetTemperature": 1})).send().await.expect("PATCH dt");
        assert_eq!(hub_error(not_patch, StatusCode::BAD_REQUEST).await, "InvalidDigitalTwinJsonPatch");
        let bad_name = app.owner(Method::PATCH, "/digitaltwins/d1").await
            .json(&json!([{"op": "add", "path": "/not a name", "value": 1}])).send().await.expect("PATCH dt");
        assert_eq!(bad_name.status(), StatusCode::BAD_REQUEST);
    }
}

on_both_backends! {
    async fn policies_are_managed_by_admins_and_give_connection_strings(backend: Backend) {
        let app = spawn(backend).await;
        let list: Value = app.client.get(format!("{}/api/v1/hub/policies", app.api)).bearer_auth(ADMIN_TOKEN)
            .send().await.expect("list").json().await.expect("JSON");
        let names: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["iothubowner", "registryRead", "registryReadWrite", "service"]);
        let anonymous = app.client.get(format!("{}/api/v1/hub/policies", app.api)).send().await.expect("list");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

        let created = app.client.post(format!("{}/api/v1/hub/policies", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "dashboard", "rights": ["RegistryRead", "ServiceConnect"]})).send().await.expect("create");
        assert_eq!(created.status(), StatusCode::CREATED);
        let duplicate = app.client.post(format!("{}/api/v1/hub/policies", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Dashboard", "rights": []})).send().await.expect("create");
        assert_eq!(duplicate.status(), StatusCode::CONFLICT);
        let bad_right = app.client.post(format!("{}/api/v1/hub/policies", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "x", "rights": ["Everything"]})).send().await.expect("create");
        assert_eq!(bad_right.status(), StatusCode::BAD_REQUEST);

        let cs: Value = app.client.get(format!("{}/api/v1/hub/policies/dashboard/connection-string", app.api))
            .bearer_auth(ADMIN_TOKEN).send().await.expect("cs").json().await.expect("JSON");
        let cs = cs["connectionString"].as_str().expect("connection string");
        assert!(cs.starts_with(&format!("HostName={};SharedAccessKeyName=dashboard;SharedAccessKey=", app.host)), "{cs}");
        let read = app.request(Method::POST, "/devices/query", "dashboard").await
            .json(&json!({"query": "SELECT * FROM devices"})).send().await.expect("query");
        assert_eq!(read.status(), StatusCode::OK);

        let patched = app.client.patch(format!("{}/api/v1/hub/policies/dashboard", app.api)).bearer_auth(ADMIN_TOKEN)
            .json(&json!({"rights": ["RegistryRead", "RegistryWrite"]})).send().await.expect("patch");
        assert_eq!(ok_json(patched).await["rights"], json!(["RegistryRead", "RegistryWrite"]));
        let deleted = app.client.delete(format!("{}/api/v1/hub/policies/dashboard", app.api)).bearer_auth(ADMIN_TOKEN)
            .send().await.expect("delete");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let refused = app.request(Method::GET, "/devices", "iothubowner").await.send().await.expect("GET");
        assert_eq!(refused.status(), StatusCode::OK);
        let audit: Value = app.client.get(format!("{}/api/v1/audit?action=hub.policies.delete", app.api)).bearer_auth(ADMIN_TOKEN)
            .send().await.expect("audit").json().await.expect("JSON");
        assert!(audit.to_string().contains("dashboard"), "{audit}");
    }
}

/// Runs `twinhub hub …` against the app as the admin.
async fn hub_cli(app: &ServiceApp, args: &[&str]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"));
    command
        .arg("hub")
        .args(["--repo", &app.api, "--token", ADMIN_TOKEN])
        .args(args)
        .env_remove("TWINHUB_URL")
        .env_remove("TWINHUB_TOKEN");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run twinhub hub");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

on_both_backends! {
    async fn the_cli_lists_creates_regenerates_and_deletes_policies_and_prints_connection_strings(backend: Backend) {
        let app = spawn(backend).await;
        let (code, out, err) = hub_cli(&app, &["policy", "create", "ops", "--right", "registry-read,service-connect"]).await;
        assert_eq!(code, 0, "{err}");
        let created: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(created["rights"], json!(["RegistryRead", "ServiceConnect"]));
        let (code, out, _) = hub_cli(&app, &["policy", "list"]).await;
        assert_eq!(code, 0);
        assert!(out.lines().any(|l| l == "ops\tRegistryRead,ServiceConnect"), "{out}");
        assert!(out.lines().any(|l| l.starts_with("iothubowner\t")), "{out}");

        let (code, out, _) = hub_cli(&app, &["connection-string", "--policy", "ops"]).await;
        assert_eq!(code, 0);
        let key = created["primaryKey"].as_str().expect("key");
        assert_eq!(out.trim(), format!("HostName={};SharedAccessKeyName=ops;SharedAccessKey={key}", app.host));

        let (code, out, _) = hub_cli(&app, &["policy", "regenerate", "ops", "--key", "both"]).await;
        assert_eq!(code, 0);
        let regenerated: Value = serde_json::from_str(&out).expect("JSON");
        assert_ne!(regenerated["primaryKey"], created["primaryKey"]);
        assert_ne!(regenerated["secondaryKey"], created["secondaryKey"]);

        let (code, _, err) = hub_cli(&app, &["policy", "create", "bad name", "--right", "registry-read"]).await;
        assert_eq!(code, 1, "{err}");
        let (code, out, _) = hub_cli(&app, &["policy", "delete", "ops"]).await;
        assert_eq!((code, out.trim()), (0, "deleted ops"));
        let (code, _, err) = hub_cli(&app, &["connection-string", "--policy", "ops"]).await;
        assert_eq!(code, 1, "{err}");
    }
}

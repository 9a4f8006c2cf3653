//! Access control end to end: the route × caller × visibility matrix (every route of the
//! OpenAPI document must be in it), private models hidden from listings, escalation attempts,
//! and browser sessions (login, CSRF, logout, throttling).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, browser, on_both_backends, spawn_app};

const PUBLIC_NS: &str = "dtmi:com:acme";
const PRIVATE_NS: &str = "dtmi:org:hidden";
/// The device (never connected) and module the hub routes of the matrix act on.
const MATRIX_DEVICE: &str = "matrix-device";
const MATRIX_MODULE: &str = "matrix-module";

/// An interface whose one telemetry is named after it, so interfaces can extend each other.
fn interface(id: &str, extends: Option<&str>) -> Value {
    let label = id
        .rsplit(':')
        .next()
        .unwrap_or(id)
        .split(';')
        .next()
        .unwrap_or(id);
    let mut model = json!({
        "@context": "dtmi:dtdl:context;3",
        "@id": id,
        "@type": "Interface",
        "displayName": label,
        "contents": [{ "@type": "Telemetry", "name": format!("{}Reading", label.to_lowercase()), "schema": "double" }]
    });
    if let Some(base) = extends {
        model["extends"] = json!(base);
    }
    model
}

/// Calls as the bootstrap admin and expects success.
async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(
        status.is_success(),
        "{method} {path} as admin: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn mint(
    app: &TestApp,
    role: &str,
    namespaces: &[&str],
    expires_at: Option<String>,
) -> (String, i64) {
    let token = admin(
        app,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": format!("{role} of {namespaces:?}"), "role": role, "namespaces": namespaces, "expires_at": expires_at })),
    )
    .await;
    (
        token["token"].as_str().expect("secret").to_owned(),
        token["id"].as_i64().expect("id"),
    )
}

/// The callers of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    ReaderOf,
    ReaderOfOther,
    PublisherOf,
    PublisherOfSimilar,
    Owner,
    Admin,
    Expired,
    Revoked,
    Malformed,
    /// Roles on the device hub's scope `hub` (and on no namespace of models).
    HubReader,
    HubPublisher,
    HubOwner,
}

const EVERYONE: [Who; 13] = [
    Who::Anonymous,
    Who::ReaderOf,
    Who::ReaderOfOther,
    Who::PublisherOf,
    Who::PublisherOfSimilar,
    Who::Owner,
    Who::Admin,
    Who::Expired,
    Who::Revoked,
    Who::Malformed,
    Who::HubReader,
    Who::HubPublisher,
    Who::HubOwner,
];

/// What a call may come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Passed access control: 2xx, or a 409 about the data (already deprecated, has dependents).
    Allowed,
    Unauthorized,
    Forbidden,
    NotFound,
}

fn classify(status: StatusCode) -> Option<Outcome> {
    match status.as_u16() {
        200..=299 | 409 => Some(Outcome::Allowed),
        401 => Some(Outcome::Unauthorized),
        403 => Some(Outcome::Forbidden),
        404 => Some(Outcome::NotFound),
        _ => None,
    }
}

/// One namespace under test: the model, its credentials.
struct Case {
    private: bool,
    namespace: &'static str,
    /// A model with a dependent (so deleting it is refused without losing the fixture).
    model: String,
    tokens: Vec<(Who, Option<String>)>,
}

impl Case {
    fn token(&self, who: Who) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(w, _)| *w == who)
            .and_then(|(_, t)| t.as_deref())
    }

    fn can_read(&self, who: Who) -> bool {
        !self.private
            || matches!(
                who,
                Who::ReaderOf | Who::PublisherOf | Who::Owner | Who::Admin
            )
    }
}

fn invalid(who: Who) -> bool {
    matches!(who, Who::Expired | Who::Revoked | Who::Malformed)
}

/// What each route answers each caller; every route of the OpenAPI document and of the DMR
/// tree is here, and a route missing from this table fails the test.
fn expected(route: &str, who: Who, case: &Case) -> Outcome {
    use Outcome::*;
    if invalid(who) && !matches!(route, "get /healthz" | "get /readyz") {
        return Unauthorized;
    }
    let signed_in = who != Who::Anonymous;
    let hidden = if case.can_read(who) {
        Allowed
    } else {
        NotFound
    };
    let admin = who == Who::Admin;
    let owner = matches!(who, Who::Owner | Who::Admin);
    let publisher = matches!(who, Who::PublisherOf | Who::Owner | Who::Admin);
    let or_refused = |allowed: bool| match (allowed, signed_in) {
        (true, _) => Allowed,
        (false, false) => Unauthorized,
        (false, true) => Forbidden,
    };
    let hub_operator = matches!(who, Who::HubPublisher | Who::HubOwner | Who::Admin);
    let hub_owner = matches!(who, Who::HubOwner | Who::Admin);
    let hub_reader = hub_operator || who == Who::HubReader;
    match route {
        "get /api/v1/devices"
        | "get /api/v1/devices/{deviceId}"
        | "get /api/v1/devices/{deviceId}/modules"
        | "get /api/v1/devices/{deviceId}/modules/{moduleId}"
        | "get /api/v1/devices/{deviceId}/twin"
        | "get /api/v1/devices/{deviceId}/modules/{moduleId}/twin"
        | "get /api/v1/devices/{deviceId}/digitaltwin" => or_refused(hub_reader),
        "patch /api/v1/devices/{deviceId}/twin"
        | "patch /api/v1/devices/{deviceId}/modules/{moduleId}/twin"
        | "put /api/v1/devices/{deviceId}/twin"
        | "put /api/v1/devices/{deviceId}/modules/{moduleId}/twin"
        | "patch /api/v1/devices/{deviceId}/digitaltwin"
        | "post /api/v1/devices/{deviceId}/messages" => or_refused(hub_operator),
        "get /api/v1/devices/{deviceId}/telemetry"
        | "get /api/v1/hub/routes"
        | "post /api/v1/hub/routes/test"
        | "get /api/v1/hub/endpoints" => or_refused(hub_reader),
        "put /api/v1/hub/routes/{name}" => or_refused(hub_owner),
        // The matrix tests and deletes a route that is not there: those allowed learn that.
        "post /api/v1/hub/routes/{name}/test" => match or_refused(hub_reader) {
            Allowed => NotFound,
            refused => refused,
        },
        "delete /api/v1/hub/routes/{name}" => match or_refused(hub_owner) {
            Allowed => NotFound,
            refused => refused,
        },
        // The matrix's device is not connected: those allowed to call learn that (404).
        "post /api/v1/devices/{deviceId}/commands/{command}"
        | "post /api/v1/devices/{deviceId}/components/{component}/commands/{command}"
        | "post /api/v1/devices/{deviceId}/modules/{moduleId}/commands/{command}" => {
            match or_refused(hub_operator) {
                Allowed => NotFound,
                refused => refused,
            }
        }
        "post /api/v1/devices"
        | "patch /api/v1/devices/{deviceId}"
        | "delete /api/v1/devices/{deviceId}"
        | "post /api/v1/devices/{deviceId}/modules"
        | "patch /api/v1/devices/{deviceId}/modules/{moduleId}"
        | "delete /api/v1/devices/{deviceId}/modules/{moduleId}" => or_refused(hub_owner),
        "get /healthz" | "get /readyz" | "get /metrics" => Allowed,
        "get /dtmi/{path}" | "get /dtmi/{path}.expanded" => hidden,
        "get /metadata.json" | "get /index.json" | "get /index.page.{number}.json" => Allowed,
        "get /api/v1/models" | "get /api/v1/models/{dtmi}/versions" => Allowed,
        "get /api/v1/models/{dtmi}"
        | "get /api/v1/models/{dtmi}/dependencies"
        | "get /api/v1/models/{dtmi}/dependents"
        | "get /api/v1/models/{dtmi}/diff/{other}" => hidden,
        "post /api/v1/models" | "post /api/v1/imports" => or_refused(publisher),
        "patch /api/v1/models/{dtmi}" if hidden == NotFound => NotFound,
        "patch /api/v1/models/{dtmi}" => or_refused(publisher),
        "delete /api/v1/models/{dtmi}" if hidden == NotFound => NotFound,
        "delete /api/v1/models/{dtmi}" => or_refused(owner),
        "get /api/v1/namespaces" => Allowed,
        "get /api/v1/namespaces/{prefix}" => hidden,
        "put /api/v1/namespaces/{prefix}" | "post /api/v1/tokens" | "post /api/v1/grants" => {
            or_refused(owner)
        }
        "delete /api/v1/grants/{id}" => or_refused(owner),
        "get /api/v1/tokens" | "get /api/v1/grants" => or_refused(signed_in),
        "delete /api/v1/tokens/{id}"
        | "get /api/v1/users/{name}"
        | "patch /api/v1/users/{name}" => match (admin, signed_in) {
            (true, _) => Allowed,
            (false, false) => Unauthorized,
            (false, true) => NotFound,
        },
        "get /api/v1/users"
        | "post /api/v1/users"
        | "delete /api/v1/users/{name}"
        | "get /api/v1/audit"
        | "get /api/v1/hub/policies"
        | "post /api/v1/hub/policies"
        | "get /api/v1/hub/policies/{name}"
        | "patch /api/v1/hub/policies/{name}"
        | "delete /api/v1/hub/policies/{name}"
        | "post /api/v1/hub/policies/{name}/regenerate" => or_refused(admin),
        "post /api/v1/devices/query" => or_refused(hub_reader),
        // This app runs no service listener, so an admin learns there is no endpoint.
        "get /api/v1/hub/policies/{name}/connection-string" => match or_refused(admin) {
            Allowed => NotFound,
            refused => refused,
        },
        other => panic!("route {other} is not in the access matrix: add what each caller may do"),
    }
}

/// Sets up one namespace with its models and one credential per kind of caller.
async fn prepare(app: &TestApp, private: bool) -> Case {
    let namespace = if private { PRIVATE_NS } else { PUBLIC_NS };
    if private {
        admin(
            app,
            Method::PUT,
            &format!("/api/v1/namespaces/{namespace}"),
            Some(json!({ "visibility": "private" })),
        )
        .await;
    }
    let model = format!("{namespace}:Sensor;1");
    admin(
        app,
        Method::POST,
        "/api/v1/models",
        Some(json!([
            interface(&model, Some(&format!("{PUBLIC_NS}:Base;1"))),
            interface(&format!("{namespace}:Device;1"), Some(&model)),
        ])),
    )
    .await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let mut tokens = vec![
        (Who::Anonymous, None),
        (
            Who::ReaderOf,
            Some(mint(app, "reader", &[namespace], None).await.0),
        ),
        (
            Who::ReaderOfOther,
            Some(mint(app, "reader", &["dtmi:net:other"], None).await.0),
        ),
        (
            Who::PublisherOf,
            Some(mint(app, "publisher", &[namespace], None).await.0),
        ),
        (
            Who::PublisherOfSimilar,
            Some(
                mint(app, "publisher", &[&format!("{namespace}x")], None)
                    .await
                    .0,
            ),
        ),
        (
            Who::Owner,
            Some(mint(app, "owner", &[namespace], None).await.0),
        ),
        (Who::Admin, Some(mint(app, "admin", &[], None).await.0)),
        (
            Who::Expired,
            Some(mint(app, "publisher", &[namespace], Some(soon)).await.0),
        ),
        (Who::Malformed, Some("not-a-token".to_owned())),
        (
            Who::HubReader,
            Some(mint(app, "reader", &["hub"], None).await.0),
        ),
        (
            Who::HubPublisher,
            Some(mint(app, "publisher", &["hub"], None).await.0),
        ),
        (
            Who::HubOwner,
            Some(mint(app, "owner", &["hub"], None).await.0),
        ),
    ];
    let (revoked, id) = mint(app, "publisher", &[namespace], None).await;
    admin(app, Method::DELETE, &format!("/api/v1/tokens/{id}"), None).await;
    tokens.push((Who::Revoked, Some(revoked)));
    Case {
        private,
        namespace,
        model,
        tokens,
    }
}

/// Performs `route` for `case` as `token`, with fresh targets where a call consumes them.
async fn call(
    app: &TestApp,
    route: &str,
    token: Option<&str>,
    case: &Case,
    n: usize,
) -> StatusCode {
    let dtmi = dtdl::Dtmi::parse(&case.model).expect("dtmi");
    let encoded = case.model.replace(';', "%3B");
    let fresh = format!("{}:New{n};1", case.namespace);
    let (method, path, body): (Method, String, Option<Value>) = match route {
        "get /healthz" => (Method::GET, "/healthz".into(), None),
        "get /readyz" => (Method::GET, "/readyz".into(), None),
        "get /metrics" => (Method::GET, "/metrics".into(), None),
        "get /dtmi/{path}" => (Method::GET, format!("/{}", dtmi.to_dmr_path()), None),
        "get /dtmi/{path}.expanded" => (
            Method::GET,
            format!("/{}", dtmi.to_dmr_expanded_path()),
            None,
        ),
        "get /metadata.json" => (Method::GET, "/metadata.json".into(), None),
        "get /index.json" => (Method::GET, "/index.json".into(), None),
        // There is one index page only: the 404 of a page past the end is expected for all.
        "get /index.page.{number}.json" => (Method::GET, "/index.json".into(), None),
        "get /api/v1/models" => (Method::GET, "/api/v1/models".into(), None),
        "get /api/v1/models/{dtmi}" => (Method::GET, format!("/api/v1/models/{encoded}"), None),
        "get /api/v1/models/{dtmi}/dependencies" => (
            Method::GET,
            format!("/api/v1/models/{encoded}/dependencies"),
            None,
        ),
        "get /api/v1/models/{dtmi}/dependents" => (
            Method::GET,
            format!("/api/v1/models/{encoded}/dependents"),
            None,
        ),
        "get /api/v1/models/{dtmi}/versions" => (
            Method::GET,
            format!("/api/v1/models/{encoded}/versions"),
            None,
        ),
        // The model against itself: reading both sides is what the diff needs.
        "get /api/v1/models/{dtmi}/diff/{other}" => (
            Method::GET,
            format!("/api/v1/models/{encoded}/diff/{encoded}"),
            None,
        ),
        "post /api/v1/models" => (
            Method::POST,
            "/api/v1/models".into(),
            Some(interface(&fresh, None)),
        ),
        "post /api/v1/imports" => (
            Method::POST,
            "/api/v1/imports".into(),
            Some(
                json!({ "files": [{ "path": "x.json", "content": interface(&fresh, None).to_string() }] }),
            ),
        ),
        "patch /api/v1/models/{dtmi}" => (
            Method::PATCH,
            format!("/api/v1/models/{encoded}"),
            Some(json!({ "state": "deprecated" })),
        ),
        "delete /api/v1/models/{dtmi}" => {
            (Method::DELETE, format!("/api/v1/models/{encoded}"), None)
        }
        "get /api/v1/namespaces" => (Method::GET, "/api/v1/namespaces".into(), None),
        "get /api/v1/namespaces/{prefix}" => (
            Method::GET,
            format!("/api/v1/namespaces/{}", case.namespace),
            None,
        ),
        "put /api/v1/namespaces/{prefix}" => (
            Method::PUT,
            format!("/api/v1/namespaces/{}", case.namespace),
            Some(json!({ "visibility": if case.private { "private" } else { "public" } })),
        ),
        "post /api/v1/tokens" => (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({ "name": "ci", "role": "reader", "namespaces": [case.namespace] })),
        ),
        "get /api/v1/tokens" => (Method::GET, "/api/v1/tokens".into(), None),
        "delete /api/v1/tokens/{id}" => {
            let (_, id) = mint(app, "reader", &[case.namespace], None).await;
            (Method::DELETE, format!("/api/v1/tokens/{id}"), None)
        }
        "get /api/v1/users" => (Method::GET, "/api/v1/users".into(), None),
        "post /api/v1/users" => (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({ "name": format!("new{n}") })),
        ),
        "get /api/v1/users/{name}" => (Method::GET, "/api/v1/users/victim".into(), None),
        "patch /api/v1/users/{name}" => (
            Method::PATCH,
            "/api/v1/users/victim".into(),
            Some(json!({ "email": "v@example.com" })),
        ),
        "delete /api/v1/users/{name}" => {
            let name = format!("doomed{n}");
            admin(
                app,
                Method::POST,
                "/api/v1/users",
                Some(json!({ "name": name })),
            )
            .await;
            (Method::DELETE, format!("/api/v1/users/{name}"), None)
        }
        "get /api/v1/grants" => (Method::GET, "/api/v1/grants".into(), None),
        "post /api/v1/grants" => (
            Method::POST,
            "/api/v1/grants".into(),
            Some(
                json!({ "user": "victim", "role": "reader", "namespace": format!("{}:g{n}", case.namespace) }),
            ),
        ),
        "delete /api/v1/grants/{id}" => {
            let grant = admin(
                app,
                Method::POST,
                "/api/v1/grants",
                Some(json!({ "user": "victim", "role": "reader", "namespace": format!("{}:d{n}", case.namespace) })),
            )
            .await;
            (
                Method::DELETE,
                format!("/api/v1/grants/{}", grant["id"]),
                None,
            )
        }
        "get /api/v1/audit" => (Method::GET, "/api/v1/audit".into(), None),
        "get /api/v1/hub/policies" => (Method::GET, "/api/v1/hub/policies".into(), None),
        "post /api/v1/hub/policies" => (
            Method::POST,
            "/api/v1/hub/policies".into(),
            Some(json!({ "name": format!("p{n}"), "rights": ["RegistryRead"] })),
        ),
        "get /api/v1/hub/policies/{name}" => {
            (Method::GET, "/api/v1/hub/policies/service".into(), None)
        }
        "patch /api/v1/hub/policies/{name}" => (
            Method::PATCH,
            "/api/v1/hub/policies/registryRead".into(),
            Some(json!({ "rights": ["RegistryRead"] })),
        ),
        "delete /api/v1/hub/policies/{name}" => {
            let name = format!("doomed{n}");
            admin(
                app,
                Method::POST,
                "/api/v1/hub/policies",
                Some(json!({ "name": name, "rights": [] })),
            )
            .await;
            (Method::DELETE, format!("/api/v1/hub/policies/{name}"), None)
        }
        "post /api/v1/hub/policies/{name}/regenerate" => (
            Method::POST,
            "/api/v1/hub/policies/registryReadWrite/regenerate".into(),
            Some(json!({ "key": "secondary" })),
        ),
        "get /api/v1/hub/policies/{name}/connection-string" => (
            Method::GET,
            "/api/v1/hub/policies/service/connection-string".into(),
            None,
        ),
        "post /api/v1/devices/query" => (
            Method::POST,
            "/api/v1/devices/query".into(),
            Some(json!({ "query": "SELECT * FROM devices" })),
        ),
        "get /api/v1/devices" => (Method::GET, "/api/v1/devices".into(), None),
        "post /api/v1/devices" => (
            Method::POST,
            "/api/v1/devices".into(),
            Some(json!({ "deviceId": format!("new-{n}") })),
        ),
        "get /api/v1/devices/{deviceId}" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}"),
            None,
        ),
        "patch /api/v1/devices/{deviceId}" => (
            Method::PATCH,
            format!("/api/v1/devices/{MATRIX_DEVICE}"),
            Some(json!({ "statusReason": format!("change {n}") })),
        ),
        "delete /api/v1/devices/{deviceId}" => {
            let doomed = format!("doomed-{n}");
            admin(
                app,
                Method::POST,
                "/api/v1/devices",
                Some(json!({ "deviceId": doomed })),
            )
            .await;
            (Method::DELETE, format!("/api/v1/devices/{doomed}"), None)
        }
        "get /api/v1/devices/{deviceId}/modules" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules"),
            None,
        ),
        "post /api/v1/devices/{deviceId}/modules" => (
            Method::POST,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules"),
            Some(json!({ "moduleId": format!("new-{n}") })),
        ),
        "get /api/v1/devices/{deviceId}/modules/{moduleId}" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules/{MATRIX_MODULE}"),
            None,
        ),
        "patch /api/v1/devices/{deviceId}/modules/{moduleId}" => (
            Method::PATCH,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules/{MATRIX_MODULE}"),
            Some(json!({ "statusReason": format!("change {n}") })),
        ),
        "delete /api/v1/devices/{deviceId}/modules/{moduleId}" => {
            let doomed = format!("doomed-{n}");
            admin(
                app,
                Method::POST,
                &format!("/api/v1/devices/{MATRIX_DEVICE}/modules"),
                Some(json!({ "moduleId": doomed })),
            )
            .await;
            (
                Method::DELETE,
                format!("/api/v1/devices/{MATRIX_DEVICE}/modules/{doomed}"),
                None,
            )
        }
        "get /api/v1/devices/{deviceId}/twin" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}/twin"),
            None,
        ),
        "patch /api/v1/devices/{deviceId}/twin" => (
            Method::PATCH,
            format!("/api/v1/devices/{MATRIX_DEVICE}/twin"),
            Some(json!({ "tags": { "n": n } })),
        ),
        "get /api/v1/devices/{deviceId}/modules/{moduleId}/twin" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules/{MATRIX_MODULE}/twin"),
            None,
        ),
        "patch /api/v1/devices/{deviceId}/modules/{moduleId}/twin" => (
            Method::PATCH,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules/{MATRIX_MODULE}/twin"),
            Some(json!({ "properties": { "desired": { "n": n } } })),
        ),
        "put /api/v1/devices/{deviceId}/twin" => (
            Method::PUT,
            format!("/api/v1/devices/{MATRIX_DEVICE}/twin"),
            Some(json!({ "tags": { "n": n } })),
        ),
        "put /api/v1/devices/{deviceId}/modules/{moduleId}/twin" => (
            Method::PUT,
            format!("/api/v1/devices/{MATRIX_DEVICE}/modules/{MATRIX_MODULE}/twin"),
            Some(json!({ "properties": { "desired": { "n": n } } })),
        ),
        "post /api/v1/devices/{deviceId}/modules/{moduleId}/commands/{command}" => (
            Method::POST,
            format!(
                "/api/v1/devices/{MATRIX_DEVICE}/modules/{MATRIX_MODULE}/commands/reboot?timeout=5"
            ),
            Some(json!(5)),
        ),
        "get /api/v1/devices/{deviceId}/digitaltwin" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}/digitaltwin"),
            None,
        ),
        "patch /api/v1/devices/{deviceId}/digitaltwin" => (
            Method::PATCH,
            format!("/api/v1/devices/{MATRIX_DEVICE}/digitaltwin"),
            Some(json!([{ "op": "add", "path": "/setting", "value": n }])),
        ),
        "post /api/v1/devices/{deviceId}/commands/{command}" => (
            Method::POST,
            format!("/api/v1/devices/{MATRIX_DEVICE}/commands/reboot?timeout=5"),
            Some(json!(5)),
        ),
        "post /api/v1/devices/{deviceId}/components/{component}/commands/{command}" => (
            Method::POST,
            format!(
                "/api/v1/devices/{MATRIX_DEVICE}/components/thermostat1/commands/getMaxMinReport?timeout=5"
            ),
            Some(json!("2024-01-01T00:00:00Z")),
        ),
        "post /api/v1/devices/{deviceId}/messages" => (
            Method::POST,
            format!("/api/v1/devices/{MATRIX_DEVICE}/messages"),
            Some(json!({ "body": format!("message {n}") })),
        ),
        "get /api/v1/devices/{deviceId}/telemetry" => (
            Method::GET,
            format!("/api/v1/devices/{MATRIX_DEVICE}/telemetry"),
            None,
        ),
        "get /api/v1/hub/routes" => (Method::GET, "/api/v1/hub/routes".to_owned(), None),
        "get /api/v1/hub/endpoints" => (Method::GET, "/api/v1/hub/endpoints".to_owned(), None),
        "put /api/v1/hub/routes/{name}" => (
            Method::PUT,
            format!("/api/v1/hub/routes/matrix-{n}"),
            Some(json!({
                "name": format!("matrix-{n}"),
                "source": "Telemetry",
                "condition": "$body.n > 1",
                "endpoints": ["builtin"],
            })),
        ),
        "post /api/v1/hub/routes/test" => (
            Method::POST,
            "/api/v1/hub/routes/test".to_owned(),
            Some(json!({ "condition": "$body.n > 1", "message": { "body": { "n": n } } })),
        ),
        "post /api/v1/hub/routes/{name}/test" => (
            Method::POST,
            "/api/v1/hub/routes/absent-route/test".to_owned(),
            Some(json!({ "body": { "n": n } })),
        ),
        "delete /api/v1/hub/routes/{name}" => (
            Method::DELETE,
            "/api/v1/hub/routes/absent-route".to_owned(),
            None,
        ),
        other => panic!("route {other} has no call in the access matrix"),
    };
    let mut request = app.client.request(method, app.url(&path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request").status()
}

/// `method path` of every operation in the served OpenAPI document.
async fn documented_routes(app: &TestApp) -> BTreeSet<String> {
    let spec = app.get_json("/api/openapi.json").await;
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert(format!("{method} {path}"));
            }
        }
    }
    routes
}

async fn wait_until_expired(app: &TestApp, case: &Case) {
    let token = case.token(Who::Expired).expect("expired token");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app
            .client
            .get(app.url("/api/v1/tokens"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status();
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the short-lived token never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_backends! {
    async fn every_route_answers_every_caller_as_the_matrix_says(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::POST, "/api/v1/models", Some(interface(&format!("{PUBLIC_NS}:Base;1"), None))).await;
        admin(&app, Method::POST, "/api/v1/users", Some(json!({ "name": "victim" }))).await;
        admin(&app, Method::POST, "/api/v1/devices", Some(json!({ "deviceId": MATRIX_DEVICE }))).await;
        admin(
            &app,
            Method::POST,
            &format!("/api/v1/devices/{MATRIX_DEVICE}/modules"),
            Some(json!({ "moduleId": MATRIX_MODULE })),
        )
        .await;
        let cases = [prepare(&app, false).await, prepare(&app, true).await];
        for case in &cases {
            wait_until_expired(&app, case).await;
        }
        let mut routes = documented_routes(&app).await;
        // The DMR tree (documented with one path pattern) is checked for both file kinds.
        routes.insert("get /dtmi/{path}.expanded".to_owned());
        let mut failures = Vec::new();
        let mut n = 0;
        for case in &cases {
            for route in &routes {
                for who in EVERYONE {
                    n += 1;
                    let want = expected(route, who, case);
                    let status = call(&app, route, case.token(who), case, n).await;
                    if classify(status) != Some(want) {
                        failures.push(format!(
                            "{route} as {who:?} on a {} namespace: got {status}, expected {want:?}",
                            if case.private { "private" } else { "public" }
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{} unexpected answers:\n{}", failures.len(), failures.join("\n"));
    }
}

/// Whether `dtmi` shows up anywhere a listing could reveal it, for a caller.
async fn appears_in_listings(app: &TestApp, token: Option<&str>, dtmi: &str) -> Vec<&'static str> {
    let get = |path: String| {
        let mut request = app.client.get(app.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            request
                .send()
                .await
                .expect("request")
                .text()
                .await
                .expect("body")
        }
    };
    let mut seen = Vec::new();
    if get("/index.json".into()).await.contains(dtmi) {
        seen.push("index.json");
    }
    if get("/api/v1/models?per_page=500".into())
        .await
        .contains(dtmi)
    {
        seen.push("search");
    }
    if get(format!("/api/v1/models?q={}", dtmi.replace(';', "%3B")))
        .await
        .contains(dtmi)
    {
        seen.push("text search");
    }
    if get(format!("/api/v1/models/{PUBLIC_NS}:Base%3B1/dependents"))
        .await
        .contains(dtmi)
    {
        seen.push("dependents");
    }
    if get(format!(
        "/api/v1/models/{}/versions",
        dtmi.replace(';', "%3B")
    ))
    .await
    .contains(dtmi)
    {
        seen.push("versions");
    }
    if get("/".into()).await.contains(dtmi) {
        seen.push("home page");
    }
    seen
}

async fn model_count(app: &TestApp, token: Option<&str>) -> u64 {
    let mut request = app.client.get(app.url("/metadata.json"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let metadata: Value = request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    metadata["totalModelCount"].as_u64().expect("count")
}

on_both_backends! {
    async fn private_models_are_absent_from_every_listing_for_those_who_may_not_read_them(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::POST, "/api/v1/models", Some(interface(&format!("{PUBLIC_NS}:Base;1"), None))).await;
        let case = prepare(&app, true).await;
        let hidden = case.model.as_str();
        for who in [Who::Anonymous, Who::ReaderOfOther, Who::PublisherOfSimilar] {
            assert_eq!(appears_in_listings(&app, case.token(who), hidden).await, Vec::<&str>::new(), "{who:?}");
            assert_eq!(model_count(&app, case.token(who)).await, 1, "{who:?} counts only the public model");
        }
        for who in [Who::ReaderOf, Who::Owner, Who::Admin] {
            let seen = appears_in_listings(&app, case.token(who), hidden).await;
            assert_eq!(seen, vec!["index.json", "search", "text search", "dependents", "versions", "home page"], "{who:?}");
            assert_eq!(model_count(&app, case.token(who)).await, 3, "{who:?}");
        }
        // Files that hold private models must never be stored by shared caches.
        let response = app
            .client
            .get(app.url("/dtmi/org/hidden/sensor-1.json"))
            .bearer_auth(case.token(Who::ReaderOf).expect("token"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "private, no-cache");
        // Anonymous DMR clients get exactly what they get for a model that does not exist.
        let hidden_file = app.get("/dtmi/org/hidden/sensor-1.json").await;
        let missing_file = app.get("/dtmi/org/hidden/nothing-1.json").await;
        assert_eq!(hidden_file.status(), missing_file.status());
        let hidden_body: Value = hidden_file.json().await.expect("json");
        let missing_body: Value = missing_file.json().await.expect("json");
        assert_eq!(hidden_body["title"], missing_body["title"]);
    }
}

on_both_backends! {
    async fn escalation_attempts_are_refused_and_change_nothing(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::POST, "/api/v1/models", Some(interface(&format!("{PUBLIC_NS}:Base;1"), None))).await;
        let (owner, _) = mint(&app, "owner", &[PUBLIC_NS], None).await;
        let (publisher, _) = mint(&app, "publisher", &[PUBLIC_NS], None).await;
        let send = |token: &str, method: Method, path: &str, body: Value| {
            app.client.request(method, app.url(path)).bearer_auth(token).json(&body).send()
        };
        // Minting above one's rights.
        for (token, role, namespaces) in [
            (&owner, "admin", json!([])),
            (&owner, "owner", json!([PUBLIC_NS])),
            (&owner, "reader", json!(["dtmi:net:other"])),
            (&owner, "publisher", json!(["dtmi:com:acmex"])),
            (&publisher, "reader", json!([PUBLIC_NS])),
        ] {
            let response = send(token, Method::POST, "/api/v1/tokens", json!({ "name": "x", "role": role, "namespaces": namespaces })).await.expect("request");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role} {namespaces}");
        }
        // Granting oneself (or anyone) more.
        admin(&app, Method::POST, "/api/v1/users", Some(json!({ "name": "mallory" }))).await;
        for (token, role, namespace) in [
            (&publisher, "owner", PUBLIC_NS),
            (&publisher, "publisher", PUBLIC_NS),
            (&owner, "admin", "*"),
            (&owner, "owner", "dtmi:net:other"),
        ] {
            let response = send(token, Method::POST, "/api/v1/grants", json!({ "user": "mallory", "role": role, "namespace": namespace })).await.expect("request");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role} on {namespace}");
        }
        // Changing the visibility of a foreign namespace.
        let response = send(&owner, Method::PUT, "/api/v1/namespaces/dtmi:net:other", json!({ "visibility": "private" })).await.expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // A batch with an allowed model and a foreign one: all of it refused.
        let response = send(
            &publisher,
            Method::POST,
            "/api/v1/models",
            json!([interface(&format!("{PUBLIC_NS}:Allowed;1"), None), interface("dtmi:net:other:Sneaky;1", None)]),
        )
        .await
        .expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let problem: Value = response.json().await.expect("json");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("dtmi:net:other:Sneaky;1")), "{problem}");
        assert_eq!(app.get(&format!("/api/v1/models/{PUBLIC_NS}:Allowed%3B1")).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(app.model_count().await, 1);
        let grants = admin(&app, Method::GET, "/api/v1/grants", None).await;
        assert!(!grants.to_string().contains("user:mallory"), "{grants}");
        let namespaces = admin(&app, Method::GET, "/api/v1/namespaces", None).await;
        assert_eq!(namespaces["items"], json!([]));
        // The audit log shows every attempt as refused, and no change made by the tokens.
        let audit = admin(&app, Method::GET, "/api/v1/audit?per_page=500", None).await;
        let by_tokens: Vec<&Value> = audit["items"].as_array().expect("items").iter()
            .filter(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("token:")))
            .collect();
        assert_eq!(by_tokens.len(), 11, "{by_tokens:?}");
        assert!(by_tokens.iter().all(|e| e["outcome"] == "denied" && e["action"] == "request.refused"), "{by_tokens:?}");
        assert!(by_tokens.iter().any(|e| e["target"] == "PUT /api/v1/namespaces/dtmi:net:other"), "{by_tokens:?}");
    }
}

on_both_backends! {
    async fn public_models_may_not_depend_on_private_ones(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::PUT, &format!("/api/v1/namespaces/{PRIVATE_NS}"), Some(json!({ "visibility": "private" }))).await;
        admin(&app, Method::POST, "/api/v1/models", Some(interface(&format!("{PRIVATE_NS}:Secret;1"), None))).await;
        let response = app.push(interface(&format!("{PUBLIC_NS}:Leaky;1"), Some(&format!("{PRIVATE_NS}:Secret;1"))).to_string()).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["errors"][0]["code"], "twinhub:privateDependency", "{problem}");
        // Making a namespace private under a public dependent is refused too.
        admin(&app, Method::POST, "/api/v1/models", Some(json!([
            interface("dtmi:com:shared:Base;1", None),
            interface(&format!("{PUBLIC_NS}:User;1"), Some("dtmi:com:shared:Base;1")),
        ]))).await;
        let response = app.client.put(app.url("/api/v1/namespaces/dtmi:com:shared")).bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "visibility": "private" })).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let problem: Value = response.json().await.expect("json");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("dtmi:com:acme:User;1")), "{problem}");
        assert_eq!(app.get("/dtmi/com/shared/base-1.json").await.status(), StatusCode::OK);
    }
}

/// The values of the hidden fields named `name`, in page order.
fn hidden_fields(page: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    page.match_indices(&marker)
        .map(|(i, _)| {
            page[i + marker.len()..]
                .split('"')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The login form's CSRF token: the last form on the login page.
fn login_csrf(page: &str) -> String {
    hidden_fields(page, "csrf_token").pop().expect("login form")
}

/// The session's CSRF token, which the sign-out form carries (the first form when signed in).
fn session_csrf(page: &str) -> String {
    hidden_fields(page, "csrf_token")
        .into_iter()
        .next()
        .expect("sign-out form")
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("twinhub_session=") && !c.starts_with("twinhub_session=;"))
        .map(str::to_owned)
}

async fn log_in_response(
    app: &TestApp,
    browser: &reqwest::Client,
    name: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let csrf = login_csrf(&page);
    browser
        .post(app.url("/login"))
        .form(&[
            ("username", name),
            ("password", password),
            ("csrf_token", csrf.as_str()),
            ("return_to", "/"),
        ])
        .send()
        .await
        .expect("login")
}

async fn log_in(
    app: &TestApp,
    browser: &reqwest::Client,
    name: &str,
    password: &str,
) -> StatusCode {
    log_in_response(app, browser, name, password).await.status()
}

on_both_backends! {
    async fn browser_sessions_log_in_read_private_models_and_end_at_logout(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::PUT, &format!("/api/v1/namespaces/{PRIVATE_NS}"), Some(json!({ "visibility": "private" }))).await;
        admin(&app, Method::POST, "/api/v1/models", Some(interface(&format!("{PRIVATE_NS}:Secret;1"), None))).await;
        admin(&app, Method::POST, "/api/v1/users", Some(json!({
            "name": "alice", "password": "correct horse battery",
            "grants": [{ "role": "reader", "namespace": PRIVATE_NS }]
        }))).await;
        let private_path = "/dtmi/org/hidden/secret-1.json";

        // A login form posted without the form's CSRF token is refused.
        let outsider = browser();
        let response = outsider.post(app.url("/login"))
            .form(&[("username", "alice"), ("password", "correct horse battery"), ("csrf_token", "forged")])
            .send().await.expect("login");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        let alice = browser();
        assert_eq!(log_in(&app, &alice, "alice", "wrong password!").await, StatusCode::UNAUTHORIZED);
        let first = log_in_response(&app, &alice, "alice", "correct horse battery").await;
        assert_eq!(first.status(), StatusCode::SEE_OTHER);
        let first_cookie = session_cookie(&first).expect("session cookie");
        assert!(first_cookie.contains("HttpOnly") && first_cookie.contains("SameSite=Lax"), "{first_cookie}");
        assert_eq!(alice.get(app.url(private_path)).send().await.expect("get").status(), StatusCode::OK);

        // Signing in again (the browser still holding its session) gives a new session id and
        // ends the old one, so an id planted before login is worthless.
        let again = log_in_response(&app, &alice, "alice", "correct horse battery").await;
        let cookie = session_cookie(&again).expect("renewed session cookie");
        let pair = |c: &str| c.split(';').next().expect("pair").to_owned();
        assert_ne!(pair(&first_cookie), pair(&cookie));
        let planted = reqwest::Client::new();
        assert_eq!(
            planted.get(app.url(private_path)).header("Cookie", pair(&first_cookie)).send().await.expect("get").status(),
            StatusCode::NOT_FOUND
        );

        // Cookie-authenticated API writes need the CSRF header.
        let response = alice.post(app.url("/api/v1/tokens")).json(&json!({ "name": "x", "role": "reader", "namespaces": [PRIVATE_NS] }))
            .send().await.expect("post");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // Logging out needs the session's CSRF token, then ends the session on the server.
        let replay = cookie.split(';').next().expect("cookie pair").to_owned();
        let response = alice.post(app.url("/logout")).form(&[("csrf_token", "forged")]).send().await.expect("logout");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let audit = admin(&app, Method::GET, "/api/v1/audit?action=login", None).await;
        assert!(audit["items"].as_array().expect("items").iter().any(|e| e["outcome"] == "failed" && e["target"] == "alice"), "{audit}");
        let page = alice.get(app.url("/login")).send().await.expect("page").text().await.expect("html");
        assert!(page.contains("Signed in as alice"), "{page}");
        let token = session_csrf(&page);
        let response = alice.post(app.url("/logout")).form(&[("csrf_token", token.as_str())]).send().await.expect("logout");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(alice.get(app.url(private_path)).send().await.expect("get").status(), StatusCode::NOT_FOUND);
        // The old cookie, replayed by someone who copied it, is worthless after logout.
        let stolen = reqwest::Client::new();
        assert_eq!(
            stolen.get(app.url(private_path)).header("Cookie", &replay).send().await.expect("get").status(),
            StatusCode::NOT_FOUND
        );
    }
}

on_both_backends! {
    async fn repeated_failed_logins_are_throttled(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::POST, "/api/v1/users", Some(json!({ "name": "bob", "password": "correct horse battery" }))).await;
        let browser = browser();
        for _ in 0..5 {
            assert_eq!(log_in(&app, &browser, "bob", "nope nope nope").await, StatusCode::UNAUTHORIZED);
        }
        // Even the right password is refused while throttled.
        assert_eq!(log_in(&app, &browser, "bob", "correct horse battery").await, StatusCode::TOO_MANY_REQUESTS);
        let audit = admin(&app, Method::GET, "/api/v1/audit?action=login", None).await;
        let failed = audit["items"].as_array().expect("items").iter().filter(|e| e["outcome"] == "failed").count();
        assert_eq!(failed, 6);
    }
}

on_both_backends! {
    async fn with_private_by_default_only_public_namespaces_and_grants_open_models(backend: Backend) {
        let app = crate::helpers::spawn_app_with(backend, |s| {
            s.default_visibility = twinhub::domain::access::Visibility::Private;
        })
        .await;
        admin(&app, Method::POST, "/api/v1/models", Some(json!([
            interface("dtmi:com:open:Thing;1", None),
            interface("dtmi:com:closed:Thing;1", None),
        ]))).await;
        assert_eq!(app.get("/dtmi/com/open/thing-1.json").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(model_count(&app, None).await, 0);
        admin(&app, Method::PUT, "/api/v1/namespaces/dtmi:com:open", Some(json!({ "visibility": "public" }))).await;
        assert_eq!(app.get("/dtmi/com/open/thing-1.json").await.status(), StatusCode::OK);
        assert_eq!(app.get("/dtmi/com/closed/thing-1.json").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(model_count(&app, None).await, 1);
        let (reader, _) = mint(&app, "reader", &["dtmi:com:closed"], None).await;
        assert_eq!(model_count(&app, Some(&reader)).await, 2);
    }
}

#[tokio::test]
async fn cookies_are_secure_behind_a_proxy_that_reports_https() {
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| s.behind_proxy = true).await;
    let plain = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .expect("login");
    let cookie = plain.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let proxied = app
        .client
        .get(app.url("/login"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .expect("login");
    let cookie = proxied.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn the_first_admin_is_created_from_the_command_line() {
    let database = crate::helpers::TestDatabase::create(Backend::Sqlite).await;
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("twinhub");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("password");
        child.wait_with_output().expect("output")
    };
    let created = run(
        &[
            "admin",
            "--database-url",
            &database.url,
            "create-user",
            "root",
            "--role",
            "admin",
        ],
        "correct horse battery\n",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let again = run(
        &[
            "admin",
            "--database-url",
            &database.url,
            "create-user",
            "ROOT",
            "--role",
            "admin",
        ],
        "correct horse battery\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let weak = run(
        &[
            "admin",
            "--database-url",
            &database.url,
            "create-user",
            "weak",
            "--role",
            "admin",
        ],
        "short\n",
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));

    let app = crate::helpers::spawn_on(std::sync::Arc::new(database), |_| {}).await;
    let browser = browser();
    assert_eq!(
        log_in(&app, &browser, "root", "correct horse battery").await,
        StatusCode::SEE_OTHER
    );
    let users: Value = browser
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    assert_eq!(users["items"][0]["name"], "root");
}

on_both_backends! {
    async fn database_exports_leave_private_models_out_unless_asked(backend: Backend) {
        let app = spawn_app(backend).await;
        admin(&app, Method::PUT, &format!("/api/v1/namespaces/{PRIVATE_NS}"), Some(json!({ "visibility": "private" }))).await;
        admin(&app, Method::POST, "/api/v1/models", Some(json!([
            interface(&format!("{PUBLIC_NS}:Open;1"), None),
            interface(&format!("{PRIVATE_NS}:Secret;1"), None),
        ]))).await;
        let export = |include_private: bool| {
            let dest = tempfile::tempdir().expect("dir");
            let tree = dest.path().join("tree");
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"));
            command.args(["export", "--database-url", &app.database.url]).arg(&tree);
            if include_private {
                command.arg("--include-private");
            }
            let output = command.output().expect("export");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            (dest, tree)
        };
        let (_anonymous_dir, anonymous) = export(false);
        assert!(anonymous.join("dtmi/com/acme/open-1.json").is_file());
        assert!(!anonymous.join("dtmi/org/hidden/secret-1.json").exists());
        let index = std::fs::read_to_string(anonymous.join("index.json")).expect("index");
        assert!(!index.contains("Secret"), "{index}");
        let (_full_dir, full) = export(true);
        assert!(full.join("dtmi/org/hidden/secret-1.json").is_file());
    }
}

#[tokio::test]
async fn error_pages_keep_the_signed_in_header() {
    let app = spawn_app(Backend::Sqlite).await;
    admin(
        &app,
        Method::POST,
        "/api/v1/users",
        Some(json!({ "name": "erin", "password": "correct horse battery" })),
    )
    .await;
    let browser = browser();
    assert_eq!(
        log_in(&app, &browser, "erin", "correct horse battery").await,
        StatusCode::SEE_OTHER
    );
    let page = browser
        .get(app.url("/models/dtmi:com:example:Nothing%3B1"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Signed in as <strong>erin</strong>") && html.contains("action=\"/logout\""),
        "{html}"
    );
    assert!(html.contains("Not found"), "{html}");
    // Anonymous visitors get the same page with the sign-in link.
    let anonymous = app
        .get("/models/dtmi:com:example:Nothing%3B1")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        anonymous.contains("Sign in") && !anonymous.contains("Signed in as"),
        "{anonymous}"
    );
}

#[tokio::test]
async fn admins_disable_enable_and_reset_passwords_from_the_admin_page() {
    let app = spawn_app(Backend::Sqlite).await;
    for (name, grants) in [
        ("ada", json!([{ "role": "admin", "namespace": "*" }])),
        ("bob", json!([])),
    ] {
        admin(
            &app,
            Method::POST,
            "/api/v1/users",
            Some(json!({ "name": name, "password": "correct horse battery", "grants": grants })),
        )
        .await;
    }
    let ada = browser();
    assert_eq!(
        log_in(&app, &ada, "ada", "correct horse battery").await,
        StatusCode::SEE_OTHER
    );
    let bob = browser();
    assert_eq!(
        log_in(&app, &bob, "bob", "correct horse battery").await,
        StatusCode::SEE_OTHER
    );
    let page = ada
        .get(app.url("/admin"))
        .send()
        .await
        .expect("admin")
        .text()
        .await
        .expect("html");
    let csrf = session_csrf(&page);
    let update = async |fields: &[(&str, &str)]| {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        ada.post(app.url("/admin/users/bob/update"))
            .form(&form)
            .send()
            .await
            .expect("update")
            .status()
    };
    // Disabling ends bob's session and refuses his logins.
    assert_eq!(update(&[("disabled", "true")]).await, StatusCode::SEE_OTHER);
    assert_eq!(
        bob.get(app.url("/api/v1/users/bob"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        log_in(&app, &browser(), "bob", "correct horse battery").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        update(&[("disabled", "false")]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        update(&[("password", "a much better passphrase")]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        log_in(&app, &browser(), "bob", "correct horse battery").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        log_in(&app, &browser(), "bob", "a much better passphrase").await,
        StatusCode::SEE_OTHER
    );
    // A weak password is refused on the page, with the reason.
    let weak = ada
        .post(app.url("/admin/users/bob/update"))
        .form(&[("csrf_token", csrf.as_str()), ("password", "short")])
        .send()
        .await
        .expect("update");
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert!(
        weak.text()
            .await
            .expect("html")
            .contains("at least 12 characters")
    );
    // Without the session's CSRF token nothing changes.
    let forged = ada
        .post(app.url("/admin/users/bob/update"))
        .form(&[("csrf_token", "forged"), ("disabled", "true")])
        .send()
        .await
        .expect("update");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let audit = admin(&app, Method::GET, "/api/v1/audit?action=users.update", None).await;
    assert_eq!(audit["total"], 3, "{audit}");
}

//! Message routing over the API: the built-in endpoint's recent telemetry of a device
//! (`/api/v1/devices/{deviceId}/telemetry`), the routes stored in the database
//! (`/api/v1/hub/routes`, replacing the running ones at once), a route evaluated against a
//! sample message (`…/routes/{name}/test`) or a condition tested without storing a route
//! (`…/routes/test`), and the endpoints the router runs with
//! (`/api/v1/hub/endpoints`). Grants on the scope `hub`: readers read and test, owners manage.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::{Map, Value};
use twinhub_hub::IdentityKey;
use twinhub_routing::{
    EndpointName, Envelope, EventParts, MessageSource, Properties, Route, RouteError, RouteParts,
    StorageError, TelemetryParts, TelemetryStore,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::http::body::json_request;
use crate::http::error::{ApiError, Problem};
use crate::routing::Routing;

/// Largest JSON body of a route or a test message.
const BODY_LIMIT: usize = 256 * 1024;

fn storage(error: StorageError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "routing-storage",
        "Routing storage failed",
        error.to_string(),
    )
}

fn invalid_route(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-route",
        "Invalid route",
        error.to_string(),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TelemetryParams {
    /// How many messages, newest first (1–1000, default 20).
    limit: Option<String>,
}

/// Recent telemetry of a device, newest first: each message as its routing envelope
/// (`systemProperties` under IoT Hub's names, `properties`, `body` or `bodyBase64`).
#[derive(Serialize, ToSchema)]
pub struct TelemetryList {
    #[schema(value_type = Vec<Object>)]
    items: Vec<Envelope>,
}

/// The last telemetry messages the built-in endpoint kept for a device (routes or the
/// fallback must send them to `builtin`; by default the fallback does).
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), TelemetryParams),
    responses(
        (status = 200, description = "Recent telemetry, newest first", body = TelemetryList),
        (status = 400, description = "Bad id or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}/telemetry")]
pub async fn device_telemetry(
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<TelemetryParams>,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let key = IdentityKey::device(path.as_str())
        .map_err(|e| ApiError::bad_request("invalid-device-id", e.to_string()))?;
    let limit = super::parse_bounded("limit", params.limit.as_deref(), 20, 1, 1000)?;
    let items = routing
        .telemetry
        .latest(&key.device_id, usize::try_from(limit).unwrap_or(1000))
        .await
        .map_err(|e| storage(StorageError(e.0)))?;
    Ok(HttpResponse::Ok().json(TelemetryList { items }))
}

/// The running routes: those of the configuration file (`"stored": false`), then those
/// stored through the API.
#[derive(Serialize, ToSchema)]
pub struct RouteList {
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    /// The fallback route, if any.
    #[schema(value_type = Option<Object>)]
    fallback: Option<Value>,
}

fn route_json(route: &Route, stored: bool) -> Value {
    let mut value = serde_json::to_value(route).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("stored".into(), Value::Bool(stored));
    }
    value
}

/// The routes the hub's events go through, in evaluation order.
#[utoipa::path(
    tag = "hub",
    responses(
        (status = 200, description = "The routes", body = RouteList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/hub/routes")]
pub async fn list_routes(
    caller: Caller,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let running = routing.router.routes();
    let configured = routing.settings.routes.len();
    let items = running
        .routes()
        .iter()
        .enumerate()
        .map(|(i, r)| route_json(r, i >= configured))
        .collect();
    let fallback = running
        .fallback()
        .map(|f| serde_json::to_value(f).unwrap_or(Value::Null));
    Ok(HttpResponse::Ok().json(RouteList { items, fallback }))
}

/// Create or replace a stored route; it takes effect at once. The body: `name` (the path's),
/// `source` (`Telemetry`, `twinChangeEvents`, `digitalTwinChangeEvents`,
/// `deviceLifecycleEvents`, `deviceConnectionStateEvents`), `condition` (IoT Hub's routing
/// query syntax), `endpoints`, `enrichments`, `enabled`, `annotateTelemetry`. A route of the
/// configuration file cannot be replaced here.
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "The route's name")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = Object),
        (status = 201, description = "Created", body = Object),
        (status = 400, description = "Not JSON of a route", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad condition, name or unknown endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/hub/routes/{name}")]
pub async fn put_route(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    let value: Value = json_request(&request, payload, BODY_LIMIT, "a route").await?;
    let route: Route = serde_json::from_value(value).map_err(invalid_route)?;
    if route.name() != path.as_str() {
        return Err(invalid_route(format!(
            "the body names route '{}', the path '{}'",
            route.name(),
            path.as_str()
        )));
    }
    if routing
        .settings
        .routes
        .iter()
        .any(|r| r.name().eq_ignore_ascii_case(route.name()))
    {
        return Err(invalid_route(format!(
            "route '{}' comes from the configuration file; change it there",
            route.name()
        )));
    }
    let unknown: Vec<String> = route
        .endpoints()
        .iter()
        .filter(|e| !routing.endpoint_names.contains(e))
        .map(|e| format!("unknown endpoint '{}'", e.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(invalid_route(unknown.join("; ")));
    }
    let created = routing.store.put_route(&route).await.map_err(storage)?;
    routing.reload_routes().await.map_err(invalid_route)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(route_json(&route, true)))
}

/// Delete a stored route; it stops at once.
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "The route's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No stored route of that name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/hub/routes/{name}")]
pub async fn delete_route(
    caller: Caller,
    path: web::Path<String>,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    if !routing.store.delete_route(&path).await.map_err(storage)? {
        return Err(ApiError::not_found(format!(
            "no route '{}' is stored",
            path.as_str()
        )));
    }
    routing.reload_routes().await.map_err(invalid_route)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A sample message to test a route with.
#[derive(Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTestRequest {
    /// The message's source [default: the route's].
    source: Option<String>,
    /// The device the message comes from [default: `test-device`].
    device_id: Option<String>,
    /// The module it comes from (`iothub-connection-module-id`).
    module_id: Option<String>,
    /// The message body (JSON): telemetry, or the event's body.
    #[schema(value_type = Object)]
    body: Option<Value>,
    /// Application properties.
    #[serde(default)]
    properties: BTreeMap<String, String>,
    /// `contentType` [default: `application/json`]; telemetry only.
    content_type: Option<String>,
    /// `contentEncoding` [default: `utf-8`]; telemetry only.
    content_encoding: Option<String>,
    /// `messageId`; telemetry only.
    message_id: Option<String>,
    /// `correlationId`; telemetry only.
    correlation_id: Option<String>,
    /// `userId`; telemetry only.
    user_id: Option<String>,
    /// `dt-subject`, the component; telemetry only.
    component: Option<String>,
    /// `dt-dataschema`, the model id (`$modelId`).
    model_id: Option<String>,
    /// `opType` of an event [default: `updateTwin`, `createDeviceIdentity` or
    /// `deviceConnected`, after the source].
    op_type: Option<String>,
    /// The device twin (`tags`, `properties.desired|reported`) for `$twin` conditions.
    #[schema(value_type = Object)]
    twin: Option<Value>,
}

/// A condition (with its source and enrichments) to evaluate against a sample message,
/// without storing a route.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionTestRequest {
    /// `Telemetry`, `twinChangeEvents`, `digitalTwinChangeEvents`,
    /// `deviceLifecycleEvents` or `deviceConnectionStateEvents` [default: `Telemetry`].
    source: Option<String>,
    /// In IoT Hub's routing query syntax [default: `true`].
    condition: Option<String>,
    /// Enrichments: key → value (static text, `$iothubname`, `$twin.…`).
    #[serde(default)]
    enrichments: BTreeMap<String, String>,
    /// The sample message.
    #[serde(default)]
    message: RouteTestRequest,
}

/// The envelope the sample stands for: telemetry, or an event of `source`.
fn sample_envelope(
    hub: &str,
    default_source: MessageSource,
    sample: RouteTestRequest,
) -> Result<(Envelope, Option<Value>), ApiError> {
    let source = match &sample.source {
        None => default_source,
        Some(name) => MessageSource::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid-body",
                RouteError::UnknownSource(name.clone()).to_string(),
            )
        })?,
    };
    let device_id = sample.device_id.unwrap_or_else(|| "test-device".into());
    let now = chrono::Utc::now();
    let envelope = if source == MessageSource::Telemetry {
        let mut properties = Properties::new();
        for (k, v) in sample.properties {
            properties.set(k, v);
        }
        Envelope::telemetry(
            hub.to_owned(),
            device_id,
            TelemetryParts {
                module_id: sample.module_id,
                content_type: Some(
                    sample
                        .content_type
                        .unwrap_or_else(|| "application/json".into()),
                ),
                content_encoding: Some(sample.content_encoding.unwrap_or_else(|| "utf-8".into())),
                message_id: sample.message_id,
                correlation_id: sample.correlation_id,
                user_id: sample.user_id,
                component: sample.component,
                model_id: sample.model_id,
                properties,
                body: sample
                    .body
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default(),
            },
            now,
        )
    } else {
        let op_type = sample.op_type.unwrap_or_else(|| {
            match source {
                MessageSource::DeviceLifecycleEvents => "createDeviceIdentity",
                MessageSource::DeviceConnectionStateEvents => "deviceConnected",
                _ => "updateTwin",
            }
            .into()
        });
        let mut envelope = Envelope::event(
            hub.to_owned(),
            EventParts {
                source,
                device_id,
                module_id: sample.module_id,
                op_type,
                model_id: sample.model_id,
                body: sample.body.unwrap_or_else(|| Value::Object(Map::new())),
            },
            now,
        );
        for (k, v) in sample.properties {
            envelope.properties.set(k, v);
        }
        envelope
    };
    Ok((envelope, sample.twin))
}

/// The test's answer: the route's verdict and the message's source.
fn test_answer(route: &Route, envelope: &Envelope, twin: Option<&Value>) -> HttpResponse {
    let result = route.test(envelope, twin);
    let mut value = serde_json::to_value(&result).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(
            "source".into(),
            Value::String(envelope.source.as_str().into()),
        );
    }
    HttpResponse::Ok().json(value)
}

/// Evaluate a running route's condition and enrichments against a sample message (of the
/// route's source unless `source` says otherwise).
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "The route's name")),
    request_body(content = RouteTestRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Whether the route matches, the condition's value and the enrichments", body = Object),
        (status = 400, description = "Not JSON of a test message", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No route of that name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/hub/routes/{name}/test")]
pub async fn test_route(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let sample: RouteTestRequest =
        json_request(&request, payload, BODY_LIMIT, "a test message").await?;
    let routes = routing.router.routes();
    let Some(route) = routes.route(&path) else {
        return Err(ApiError::not_found(format!(
            "no route '{}' runs",
            path.as_str()
        )));
    };
    let (envelope, twin) = sample_envelope(&routing.settings.hub_name, route.source(), sample)?;
    Ok(test_answer(route, &envelope, twin.as_ref()))
}

/// Evaluate a condition, with its source and enrichments, against a sample message without
/// storing a route (`twinhub hub route test --condition`). A condition that cannot be read
/// answers 422 with the line and column, as `PUT /hub/routes/{name}` does.
#[utoipa::path(
    tag = "hub",
    request_body(content = ConditionTestRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Whether the condition matches, its value and the enrichments", body = Object),
        (status = 400, description = "Not JSON of a condition test", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad condition, source or enrichment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/hub/routes/test")]
pub async fn test_condition(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let test: ConditionTestRequest =
        json_request(&request, payload, BODY_LIMIT, "a condition test").await?;
    let source = match &test.source {
        None => MessageSource::Telemetry,
        Some(name) => MessageSource::parse(name)
            .ok_or_else(|| invalid_route(RouteError::UnknownSource(name.clone())))?,
    };
    let mut parts = RouteParts::new(
        "condition-test",
        source,
        // The endpoint is never used: a test delivers nothing.
        vec![EndpointName::new(crate::routing::BUILTIN).map_err(invalid_route)?],
    );
    if let Some(condition) = test.condition {
        parts = parts.condition(condition);
    }
    for (key, value) in test.enrichments {
        parts = parts.enrich(key, value);
    }
    let route = Route::new(parts).map_err(invalid_route)?;
    let (envelope, twin) = sample_envelope(&routing.settings.hub_name, source, test.message)?;
    Ok(test_answer(&route, &envelope, twin.as_ref()))
}

/// The endpoints the router runs with, and each lane's counters.
#[utoipa::path(
    tag = "hub",
    responses(
        (status = 200, description = "The endpoints", body = Object),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/hub/endpoints")]
pub async fn list_endpoints(
    caller: Caller,
    routing: web::Data<Routing>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let items: Vec<Value> = routing
        .endpoint_names
        .iter()
        .map(|name| {
            let stats = routing.router.lane_stats(name);
            serde_json::json!({
                "name": name.as_str(),
                "queued": stats.as_ref().map(|s| s.queued),
                "capacity": stats.as_ref().map(|s| s.capacity),
                "inFlight": stats.as_ref().map(|s| s.in_flight),
                "delivered": stats.as_ref().map(|s| s.delivered),
                "retried": stats.as_ref().map(|s| s.retried),
                "deadLettered": stats.as_ref().map(|s| s.dead_lettered),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

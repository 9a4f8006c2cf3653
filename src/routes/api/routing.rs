//! Message routing over the API: the built-in endpoint's recent telemetry of a device
//! (`/api/v1/devices/{deviceId}/telemetry`), the routes stored in the database
//! (`/api/v1/hub/routes`, replacing the running ones at once), a route evaluated against a
//! sample message (`…/routes/{name}/test`), and the endpoints the router runs with
//! (`/api/v1/hub/endpoints`). Grants on the scope `hub`: readers read and test, owners manage.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinhub_hub::IdentityKey;
use twinhub_routing::{
    Envelope, MessageSource, Properties, Route, StorageError, TelemetryParts, TelemetryStore,
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
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTestRequest {
    /// The device the message comes from [default: `test-device`].
    device_id: Option<String>,
    /// The message body (JSON); telemetry only.
    #[schema(value_type = Object)]
    body: Option<Value>,
    /// Application properties.
    #[serde(default)]
    properties: std::collections::BTreeMap<String, String>,
    /// `contentType` [default: `application/json`].
    content_type: Option<String>,
    /// `dt-dataschema`, the model id (`$modelId`).
    model_id: Option<String>,
    /// The device twin (`tags`, `properties.desired|reported`) for `$twin` conditions.
    #[schema(value_type = Object)]
    twin: Option<Value>,
}

/// Evaluate a route's condition and enrichments against a sample telemetry message.
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
    let mut properties = Properties::new();
    for (k, v) in sample.properties {
        properties.set(k, v);
    }
    let envelope = Envelope::telemetry(
        routing.settings.hub_name.clone(),
        sample.device_id.unwrap_or_else(|| "test-device".into()),
        TelemetryParts {
            content_type: Some(
                sample
                    .content_type
                    .unwrap_or_else(|| "application/json".into()),
            ),
            content_encoding: Some("utf-8".into()),
            model_id: sample.model_id,
            properties,
            body: sample
                .body
                .map(|b| b.to_string().into_bytes())
                .unwrap_or_default(),
            ..TelemetryParts::default()
        },
        chrono::Utc::now(),
    );
    let result = route.test(&envelope, sample.twin.as_ref());
    let mut value = serde_json::to_value(&result).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(
            "source".into(),
            Value::String(MessageSource::Telemetry.as_str().into()),
        );
    }
    Ok(HttpResponse::Ok().json(value))
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

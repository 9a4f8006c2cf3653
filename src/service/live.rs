//! Operations that reach a connected device: direct methods (`POST /twins/{id}/methods`,
//! the module form) and the digital-twin API (`GET`/`PATCH /digitaltwins/{id}` and its
//! commands, which become the methods `cmd` and `comp*cmd`). Timeouts follow Azure: 5 to
//! 300 s, 30 by default; `connectTimeoutInSeconds` (0 by default) is how long to wait for an
//! offline device to connect before answering 404 DeviceNotOnline; a device that does not
//! answer in time gives 504.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use twinhub_hub::{CommandResponse, HubError, IdentityKey};

use super::error::HubApiError;
use super::{
    MAX_BODY_BYTES, ServiceState, device_key, if_match, json_body, json_response, module_key,
};
use crate::domain::policy::Right;

/// Largest method payload (Azure's limit), plus room for the envelope.
const MAX_METHOD_BODY: usize = 128 * 1024 + 1024;
const DEFAULT_TIMEOUT_S: u64 = 30;
const MIN_TIMEOUT_S: u64 = 5;
const MAX_TIMEOUT_S: u64 = 300;

fn response_timeout(seconds: Option<u64>) -> Result<Duration, HubApiError> {
    let s = seconds.unwrap_or(DEFAULT_TIMEOUT_S);
    if (MIN_TIMEOUT_S..=MAX_TIMEOUT_S).contains(&s) {
        Ok(Duration::from_secs(s))
    } else {
        Err(HubApiError::argument_invalid(format!(
            "responseTimeoutInSeconds must be from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}, not {s}"
        )))
    }
}

fn connect_timeout(seconds: Option<u64>) -> Result<Duration, HubApiError> {
    let s = seconds.unwrap_or(0);
    if s <= MAX_TIMEOUT_S {
        Ok(Duration::from_secs(s))
    } else {
        Err(HubApiError::argument_invalid(format!(
            "connectTimeoutInSeconds must be from 0 to {MAX_TIMEOUT_S}, not {s}"
        )))
    }
}

/// Invokes a command, waiting up to `connect` for an offline device to come online.
#[expect(
    clippy::too_many_arguments,
    reason = "the facade's command arguments plus the connect wait, passed straight through"
)]
async fn invoke(
    state: &ServiceState,
    key: &IdentityKey,
    component: Option<&str>,
    command: &str,
    payload: Value,
    response: Duration,
    connect: Duration,
    validate: bool,
) -> Result<CommandResponse, HubApiError> {
    let started = Instant::now();
    loop {
        match state
            .hub
            .invoke_command(key, component, command, payload.clone(), response, validate)
            .await
        {
            Err(HubError::DeviceOffline(_)) if started.elapsed() < connect => {
                // The device may be reconnecting; look again shortly.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return Ok(other?),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MethodBody {
    method_name: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    response_timeout_in_seconds: Option<u64>,
    #[serde(default)]
    connect_timeout_in_seconds: Option<u64>,
}

async fn method(
    request: &HttpRequest,
    state: &ServiceState,
    key: IdentityKey,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(request, &[Right::ServiceConnect]).await?;
    let body = json_body(request, payload, MAX_METHOD_BODY).await?;
    let body: MethodBody = serde_json::from_value(body).map_err(|e| {
        HubApiError::argument_invalid(format!(
            "the body must be {{\"methodName\": …, \"payload\": …, \"responseTimeoutInSeconds\": …}}: {e}"
        ))
    })?;
    if body.method_name.is_empty() {
        return Err(HubApiError::argument_invalid("methodName is empty"));
    }
    let response = response_timeout(body.response_timeout_in_seconds)?;
    let connect = connect_timeout(body.connect_timeout_in_seconds)?;
    let (component, command) = twinhub_twin::split_method_name(&body.method_name);
    let answer = invoke(
        state,
        &key,
        component,
        command,
        body.payload,
        response,
        connect,
        false,
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"status": answer.status, "payload": answer.payload}),
    ))
}

#[post("/twins/{device_id}/methods")]
pub async fn invoke_method(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    method(&request, &state, device_key(&path)?, payload).await
}

#[post("/twins/{device_id}/modules/{module_id}/methods")]
pub async fn invoke_module_method(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    method(&request, &state, module_key(&path.0, &path.1)?, payload).await
}

#[get("/digitaltwins/{device_id}")]
pub async fn get_digital_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HubApiError> {
    state
        .authorize(&request, &[Right::ServiceConnect, Right::RegistryRead])
        .await?;
    let key = device_key(&path)?;
    let record = state.hub.twin(&key).await?;
    let document = state.hub.digital_twin(&key).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header(("ETag", record.twin.etag().header_value()))
        .body(document.to_string()))
}

#[patch("/digitaltwins/{device_id}")]
pub async fn patch_digital_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(&request, &[Right::ServiceConnect]).await?;
    let key = device_key(&path)?;
    let patch = json_body(&request, payload, MAX_BODY_BYTES).await?;
    if !patch.is_array() {
        return Err(HubApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigitalTwinJsonPatch",
            400_311,
            "the body must be a JSON Patch array such as [{\"op\": \"add\", \"path\": \"/targetTemperature\", \"value\": 42}]",
        ));
    }
    let condition = if_match(&request)?;
    let record = state
        .hub
        .patch_digital_twin(&key, &patch, condition.as_ref(), true)
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("ETag", record.twin.etag().header_value()))
        .insert_header(("Location", format!("/digitaltwins/{}", key.device_id)))
        .finish())
}

async fn command(
    request: &HttpRequest,
    state: &ServiceState,
    device_id: &str,
    component: Option<&str>,
    command: &str,
    params: &HashMap<String, String>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(request, &[Right::ServiceConnect]).await?;
    let key = device_key(device_id)?;
    let seconds = |name: &str| {
        params
            .get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    HubApiError::argument_invalid(format!(
                        "{name} must be a whole number of seconds"
                    ))
                })
            })
            .transpose()
    };
    let response = response_timeout(seconds("responseTimeoutInSeconds")?)?;
    let connect = connect_timeout(seconds("connectTimeoutInSeconds")?)?;
    let body = crate::http::body::read_body(request, payload, MAX_METHOD_BODY)
        .await
        .map_err(|_| HubApiError::too_large(MAX_METHOD_BODY))?;
    let payload = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            HubApiError::argument_invalid(format!("the command payload is not JSON: {e}"))
        })?
    };
    let answer = invoke(
        state, &key, component, command, payload, response, connect, true,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header(("x-ms-command-statuscode", answer.status.to_string()))
        .insert_header(("x-ms-request-id", uuid::Uuid::new_v4().to_string()))
        .body(answer.payload.to_string()))
}

#[post("/digitaltwins/{device_id}/commands/{command}")]
pub async fn invoke_root_command(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
    params: web::Query<HashMap<String, String>>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    command(&request, &state, &path.0, None, &path.1, &params, payload).await
}

#[post("/digitaltwins/{device_id}/components/{component}/commands/{command}")]
pub async fn invoke_component_command(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String, String)>,
    params: web::Query<HashMap<String, String>>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    command(
        &request,
        &state,
        &path.0,
        Some(&path.1),
        &path.2,
        &params,
        payload,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_timeouts_follow_azure() {
        assert_eq!(
            response_timeout(None).expect("default"),
            Duration::from_secs(30)
        );
        assert!(response_timeout(Some(4)).is_err());
        assert!(response_timeout(Some(301)).is_err());
        assert!(response_timeout(Some(5)).is_ok());
        assert_eq!(connect_timeout(None).expect("default"), Duration::ZERO);
        assert!(connect_timeout(Some(301)).is_err());
    }
}

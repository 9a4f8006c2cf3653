//! `/devices/{id}` and `/devices/{id}/modules/{mid}`: the identity registry as IoT Hub
//! serves it. `PUT` creates without `If-Match` and updates with it, and answers 200 either
//! way (the SDK treats 201 as an error); `DELETE` answers 204.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use serde::Deserialize;
use serde_json::Value;
use twinhub_hub::{
    Authentication, Identity, IdentityKey, IdentityQuery, IdentityStatus, IdentityUpdate,
};

use super::documents::{AuthenticationRequest, IdentityBody, identity_document};
use super::error::HubApiError;
use super::{
    MAX_BODY_BYTES, ServiceState, device_key, if_match, json_body, json_response, module_key,
};
use crate::domain::policy::Right;

/// Most identities one listing returns (IoT Hub's limit for `top`).
const MAX_TOP: usize = 1000;

#[derive(Deserialize)]
pub struct ListParams {
    top: Option<usize>,
}

/// Pending cloud-to-device messages of an identity, for its document.
pub(super) async fn c2d_count(state: &ServiceState, key: &IdentityKey) -> Result<u64, HubApiError> {
    let pending = state
        .hub_store
        .pending_c2d(key, chrono::Utc::now())
        .await
        .map_err(HubApiError::server)?;
    Ok(pending.len() as u64)
}

async fn respond(state: &ServiceState, identity: &Identity) -> Result<HttpResponse, HubApiError> {
    let count = c2d_count(state, &identity.key).await?;
    Ok(json_response(
        StatusCode::OK,
        &identity_document(identity, count),
    ))
}

async fn list(state: &ServiceState, query: IdentityQuery) -> Result<HttpResponse, HubApiError> {
    let page = state.hub.list_identities(&query).await?;
    let mut out = Vec::with_capacity(page.identities.len());
    for identity in &page.identities {
        out.push(identity_document(
            identity,
            c2d_count(state, &identity.key).await?,
        ));
    }
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

#[get("/devices")]
pub async fn list_devices(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(&request, &[Right::RegistryRead]).await?;
    let limit = params.top.unwrap_or(MAX_TOP);
    if !(1..=MAX_TOP).contains(&limit) {
        return Err(HubApiError::argument_invalid(format!(
            "top must be from 1 to {MAX_TOP}"
        )));
    }
    list(
        &state,
        IdentityQuery {
            limit,
            ..IdentityQuery::default()
        },
    )
    .await
}

#[get("/devices/{device_id}/modules")]
pub async fn list_modules(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(&request, &[Right::RegistryRead]).await?;
    let device = device_key(&path)?;
    state.hub.identity(&device).await?;
    list(
        &state,
        IdentityQuery {
            modules_of: Some(device.device_id),
            limit: MAX_TOP,
            ..IdentityQuery::default()
        },
    )
    .await
}

/// Creates or updates the identity `key` from a `PUT` body.
async fn put_identity(
    request: &HttpRequest,
    state: &ServiceState,
    key: IdentityKey,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(request, &[Right::RegistryWrite]).await?;
    let body = json_body(request, payload, MAX_BODY_BYTES).await?;
    let body: IdentityBody = serde_json::from_value(body).map_err(|e| {
        HubApiError::argument_invalid(format!("the identity body is not valid: {e}"))
    })?;
    if body
        .device_id
        .as_deref()
        .is_some_and(|d| d != key.device_id)
    {
        return Err(HubApiError::argument_invalid(
            "deviceId in the body differs from the device id in the path",
        ));
    }
    if key.module_id.is_some() && body.module_id.is_some() && body.module_id != key.module_id {
        return Err(HubApiError::argument_invalid(
            "moduleId in the body differs from the module id in the path",
        ));
    }
    let status = body.status().map_err(HubApiError::argument_invalid)?;
    let authentication = body
        .authentication()
        .map_err(HubApiError::argument_invalid)?;
    let identity = match if_match(request)? {
        None => {
            let given = match authentication {
                AuthenticationRequest::Exactly(a) => Some(a),
                AuthenticationRequest::SasWithoutKeys => None,
            };
            let created = state
                .hub
                .create_identity(
                    key.clone(),
                    given,
                    status.unwrap_or(IdentityStatus::Enabled),
                )
                .await?;
            if body.status_reason.is_some() {
                let update = IdentityUpdate {
                    status_reason: body.status_reason.clone(),
                    ..IdentityUpdate::default()
                };
                state.hub.update_identity(&key, update, None).await?
            } else {
                created
            }
        }
        Some(condition) => {
            let current = state.hub.identity(&key).await?;
            let authentication = match authentication {
                AuthenticationRequest::Exactly(a) => Some(a),
                AuthenticationRequest::SasWithoutKeys => match current.authentication {
                    Authentication::Sas { .. } => None,
                    _ => Some(Authentication::generated_sas()),
                },
            };
            let update = IdentityUpdate {
                status,
                status_reason: body.status_reason.clone(),
                authentication,
                ..IdentityUpdate::default()
            };
            state
                .hub
                .update_identity(&key, update, Some(&condition))
                .await?
        }
    };
    respond(state, &identity).await
}

#[put("/devices/{device_id}")]
pub async fn put_device(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    let key = device_key(&path)?;
    put_identity(&request, &state, key, payload).await
}

#[put("/devices/{device_id}/modules/{module_id}")]
pub async fn put_module(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    let key = module_key(&path.0, &path.1)?;
    put_identity(&request, &state, key, payload).await
}

async fn get_identity(
    request: &HttpRequest,
    state: &ServiceState,
    key: IdentityKey,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(request, &[Right::RegistryRead]).await?;
    let identity = state.hub.identity(&key).await?;
    respond(state, &identity).await
}

#[get("/devices/{device_id}")]
pub async fn get_device(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HubApiError> {
    get_identity(&request, &state, device_key(&path)?).await
}

#[get("/devices/{device_id}/modules/{module_id}")]
pub async fn get_module(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HubApiError> {
    get_identity(&request, &state, module_key(&path.0, &path.1)?).await
}

async fn delete_identity(
    request: &HttpRequest,
    state: &ServiceState,
    key: IdentityKey,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(request, &[Right::RegistryWrite]).await?;
    let condition = if_match(request)?;
    state.hub.delete_identity(&key, condition.as_ref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[delete("/devices/{device_id}")]
pub async fn delete_device(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HubApiError> {
    delete_identity(&request, &state, device_key(&path)?).await
}

#[delete("/devices/{device_id}/modules/{module_id}")]
pub async fn delete_module(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HubApiError> {
    delete_identity(&request, &state, module_key(&path.0, &path.1)?).await
}

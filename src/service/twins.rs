//! `/twins/{id}` and `/twins/{id}/modules/{mid}`: device and module twins. `PATCH` merges
//! tags and desired properties, `PUT` replaces them, both guarded by `If-Match` against the
//! twin etag; a desired change reaches a connected device at once (the hub pushes it).
//! Reported properties belong to the device: a body that carries them (a twin read and sent
//! back) has them ignored. Like IoT Hub, these routes do not validate against the model; the
//! digital-twin routes do.

use actix_web::{HttpRequest, HttpResponse, get, patch, put, web};
use serde_json::Value;
use twinhub_hub::{IdentityKey, TwinUpdate};

use super::devices::c2d_count;
use super::documents::twin_document;
use super::error::HubApiError;
use super::{MAX_BODY_BYTES, ServiceState, device_key, if_match, json_body, module_key};
use crate::domain::policy::Right;

async fn respond(state: &ServiceState, key: &IdentityKey) -> Result<HttpResponse, HubApiError> {
    let identity = state.hub.identity(key).await?;
    let record = state.hub.twin(key).await?;
    let count = c2d_count(state, key).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header(("ETag", record.twin.etag().header_value()))
        .body(twin_document(&identity, &record, count).to_string()))
}

async fn read(
    request: &HttpRequest,
    state: &ServiceState,
    key: IdentityKey,
) -> Result<HttpResponse, HubApiError> {
    state
        .authorize(request, &[Right::ServiceConnect, Right::RegistryRead])
        .await?;
    respond(state, &key).await
}

/// Reads `tags` and `properties.desired` from a twin body.
fn update_from(body: &Value, replace: bool) -> Result<TwinUpdate, HubApiError> {
    let Some(object) = body.as_object() else {
        return Err(HubApiError::argument_invalid(
            "the twin body must be a JSON object with tags and/or properties.desired",
        ));
    };
    let tags = object.get("tags").cloned();
    let desired = match object.get("properties") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => p.get("desired").cloned(),
        Some(_) => {
            return Err(HubApiError::argument_invalid(
                "properties must be an object such as {\"desired\": {...}}",
            ));
        }
    };
    if tags.is_none() && desired.is_none() && !replace {
        return Err(HubApiError::argument_invalid(
            "the patch changes nothing: give tags and/or properties.desired",
        ));
    }
    Ok(TwinUpdate {
        tags,
        desired,
        replace,
    })
}

async fn write(
    request: &HttpRequest,
    state: &ServiceState,
    key: IdentityKey,
    payload: web::Payload,
    replace: bool,
) -> Result<HttpResponse, HubApiError> {
    state.authorize(request, &[Right::ServiceConnect]).await?;
    let body = json_body(request, payload, MAX_BODY_BYTES).await?;
    let update = update_from(&body, replace)?;
    let condition = if_match(request)?;
    state
        .hub
        .update_twin(&key, update, condition.as_ref(), false)
        .await?;
    respond(state, &key).await
}

#[get("/twins/{device_id}")]
pub async fn get_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HubApiError> {
    read(&request, &state, device_key(&path)?).await
}

#[patch("/twins/{device_id}")]
pub async fn patch_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    write(&request, &state, device_key(&path)?, payload, false).await
}

#[put("/twins/{device_id}")]
pub async fn put_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    write(&request, &state, device_key(&path)?, payload, true).await
}

#[get("/twins/{device_id}/modules/{module_id}")]
pub async fn get_module_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HubApiError> {
    read(&request, &state, module_key(&path.0, &path.1)?).await
}

#[patch("/twins/{device_id}/modules/{module_id}")]
pub async fn patch_module_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    write(
        &request,
        &state,
        module_key(&path.0, &path.1)?,
        payload,
        false,
    )
    .await
}

#[put("/twins/{device_id}/modules/{module_id}")]
pub async fn put_module_twin(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    write(
        &request,
        &state,
        module_key(&path.0, &path.1)?,
        payload,
        true,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_twin_sent_back_updates_tags_and_desired_only() {
        let body = json!({
            "deviceId": "d", "etag": "AAAAAAAAAAE=",
            "tags": {"site": "x"},
            "properties": {"desired": {"t": 1}, "reported": {"t": 0}}
        });
        let update = update_from(&body, true).expect("update");
        assert_eq!(update.tags, Some(json!({"site": "x"})));
        assert_eq!(update.desired, Some(json!({"t": 1})));
        assert!(update.replace);
        assert!(update_from(&json!({"deviceId": "d"}), false).is_err());
        assert!(update_from(&json!([1]), false).is_err());
    }
}

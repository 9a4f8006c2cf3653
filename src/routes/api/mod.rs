//! The JSON API under `/api/v1`.

pub mod audit;
pub mod models;
pub mod namespaces;
pub mod tokens;
pub mod users;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

pub fn configure(config: &mut ServiceConfig) {
    config
        .service(models::push_models)
        .service(models::import_models)
        .service(models::list_models)
        .service(models::get_dependencies)
        .service(models::get_dependents)
        .service(models::get_versions)
        .service(models::get_diff)
        .service(models::get_model)
        .service(models::patch_model)
        .service(models::delete_model)
        .service(namespaces::list_namespaces)
        .service(namespaces::get_namespace)
        .service(namespaces::put_namespace)
        .service(tokens::create_token)
        .service(tokens::list_tokens)
        .service(tokens::revoke_token)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::patch_user)
        .service(users::delete_user)
        .service(users::list_grants)
        .service(users::create_grant)
        .service(users::delete_grant)
        .service(audit::audit_log);
}

/// A whole-number query parameter within bounds, `default` when absent.
pub(crate) fn parse_bounded(
    name: &str,
    value: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid-parameter",
            format!("{name} must be a whole number from {min} to {max}, not {text:?}"),
        )),
    }
}

/// Reads a JSON body of at most `limit` bytes into `T`; `expected` shows the shape in errors.
pub(crate) async fn json_request<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    expected: &str,
) -> Result<T, ApiError> {
    require_json(request)?;
    let body = read_body(request, payload, limit).await?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid-body",
            format!("the body must look like {expected}: {e}"),
        )
    })
}

pub(crate) fn require_json(request: &HttpRequest) -> Result<(), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let is_json = content_type.is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(content_type))
    }
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
pub(crate) async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8192).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "unreadable-body",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

//! Reading request bodies: JSON only (415 otherwise), within a byte limit (413 as soon as it
//! is passed, before the whole body arrives), with errors that show the expected shape.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use super::error::ApiError;

/// Reads a JSON body of at most `limit` bytes into `T`; `expected` shows the shape in errors.
pub async fn json_request<T: serde::de::DeserializeOwned>(
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

pub fn require_json(request: &HttpRequest) -> Result<(), ApiError> {
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
pub async fn read_body(
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

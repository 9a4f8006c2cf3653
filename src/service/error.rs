//! Errors of the IoT Hub service API in IoT Hub's own shape, which the Azure service SDKs
//! read: `{"Message": "ErrorCode:DeviceNotFound;…", "ExceptionMessage": "Tracking ID:…"}`
//! with the `iothub-errorcode` header, and the status and numeric code IoT Hub uses for
//! each case. Our own API keeps its RFC 9457 problems (`http/error.rs`); this is the
//! service listener's counterpart.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use twinhub_hub::{HubError, IdentityKey};

use super::sas::TokenError;
use crate::store::StoreError;
use crate::store::service::TwinQueryError;

/// An IoT Hub error response.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HubApiError {
    pub status: StatusCode,
    /// IoT Hub's error code name (`DeviceNotFound`).
    pub code: &'static str,
    /// IoT Hub's numeric code (`404001`).
    pub number: u32,
    pub message: String,
    /// For server errors: logged once, never shown.
    cause: Option<String>,
}

impl HubApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        number: u32,
        message: impl Into<String>,
    ) -> HubApiError {
        HubApiError {
            status,
            code,
            number,
            message: message.into(),
            cause: None,
        }
    }

    pub fn argument_invalid(message: impl Into<String>) -> HubApiError {
        HubApiError::new(StatusCode::BAD_REQUEST, "ArgumentInvalid", 400_004, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> HubApiError {
        HubApiError::new(
            StatusCode::UNAUTHORIZED,
            "IotHubUnauthorizedAccess",
            401_002,
            message,
        )
    }

    pub fn too_large(limit: usize) -> HubApiError {
        HubApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MessageTooLarge",
            413_001,
            format!("the request body is larger than the {limit} bytes allowed"),
        )
    }

    pub fn not_found(key: &IdentityKey) -> HubApiError {
        match &key.module_id {
            None => HubApiError::new(
                StatusCode::NOT_FOUND,
                "DeviceNotFound",
                404_001,
                format!("Device {} is not registered", key.device_id),
            ),
            Some(module) => HubApiError::new(
                StatusCode::NOT_FOUND,
                "ModuleNotFound",
                404_010,
                format!(
                    "Module {module} of device {} is not registered",
                    key.device_id
                ),
            ),
        }
    }

    pub fn server(cause: impl std::fmt::Display) -> HubApiError {
        let mut error = HubApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerError",
            500_001,
            "an unexpected error occurred; nothing was changed",
        );
        error.cause = Some(cause.to_string());
        error
    }
}

impl ResponseError for HubApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let tracking = uuid::Uuid::new_v4().simple().to_string();
        if let Some(cause) = &self.cause {
            tracing::error!(tracking_id = %tracking, error = %cause, "a service API request failed");
        }
        let stamp = chrono::Utc::now().format("%m/%d/%Y %H:%M:%S");
        HttpResponse::build(self.status)
            .insert_header(("iothub-errorcode", self.code))
            .content_type("application/json; charset=utf-8")
            .json(json!({
                "Message": format!("ErrorCode:{};{}", self.code, self.message),
                "ExceptionMessage": format!(
                    "Tracking ID:{tracking}-ErrorCode:{}-TimeStamp:{stamp}",
                    self.number
                ),
            }))
    }
}

impl From<TokenError> for HubApiError {
    fn from(error: TokenError) -> Self {
        HubApiError::unauthorized(error.to_string())
    }
}

impl From<StoreError> for HubApiError {
    fn from(error: StoreError) -> Self {
        HubApiError::server(error)
    }
}

impl From<TwinQueryError> for HubApiError {
    fn from(error: TwinQueryError) -> Self {
        match error {
            TwinQueryError::Compile(e) => {
                HubApiError::argument_invalid(format!("Query is invalid: {e}"))
            }
            TwinQueryError::Store(e) => HubApiError::server(e),
        }
    }
}

impl From<HubError> for HubApiError {
    fn from(error: HubError) -> Self {
        let message = error.to_string();
        match error {
            HubError::NotFound(key) => HubApiError::not_found(&key),
            HubError::AlreadyExists(key) => match key.module_id {
                None => HubApiError::new(
                    StatusCode::CONFLICT,
                    "DeviceAlreadyExists",
                    409_001,
                    message,
                ),
                Some(_) => HubApiError::new(
                    StatusCode::CONFLICT,
                    "ModuleAlreadyExistsOnDevice",
                    409_301,
                    message,
                ),
            },
            HubError::PreconditionFailed { .. } => HubApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                412_002,
                message,
            ),
            HubError::DeviceOffline(_) => {
                HubApiError::new(StatusCode::NOT_FOUND, "DeviceNotOnline", 404_103, message)
            }
            HubError::Timeout { .. } => HubApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                504_101,
                message,
            ),
            HubError::QueueFull { .. } => HubApiError::new(
                StatusCode::FORBIDDEN,
                "DeviceMaximumQueueDepthExceeded",
                403_004,
                message,
            ),
            HubError::ModelViolations { .. } => HubApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidDigitalTwinPatch",
                400_313,
                message,
            ),
            HubError::ModelUnavailable { .. } => HubApiError::new(
                StatusCode::BAD_REQUEST,
                "DigitalTwinModelNotFound",
                400_303,
                message,
            ),
            HubError::InvalidId(_) | HubError::Twin(_) | HubError::Invalid(_) => {
                HubApiError::argument_invalid(message)
            }
            HubError::Store(e) => HubApiError::server(e),
            HubError::Peer { .. } => HubApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                503_001,
                message,
            ),
        }
    }
}

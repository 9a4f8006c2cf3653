//! The one place where errors become HTTP responses: RFC 9457 `application/problem+json` with a
//! `detail` a person can act on, plus `errors` for validation issues. Unexpected errors answer
//! an opaque 500 that carries a request id, and are logged once, here, with their cause.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;
use twinhub_hub::HubError;
use twinhub_twin::Violation;

use crate::auth::AuthError;
use crate::authz::{AuthzError, Denied};
use crate::domain::batch::BatchError;
use crate::domain::issue::Issue;
use crate::repository::inspect::InspectError;
use crate::repository::publish::PushError;
use crate::store::StoreError;

/// The body of every error response.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:twinhub:problem:model-not-found`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    pub status: u16,
    /// What went wrong in this case and how to fix it.
    pub detail: String,
    /// Each validation problem, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Issue>,
    /// Models that depend on the one a request concerns (for refused deletes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependents: Vec<String>,
    /// Quote this when reporting an unexpected error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error on its way to becoming a problem response (boxed: errors travel through every
/// handler's `Result`, which should stay small).
#[derive(Debug)]
pub struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<Issue>,
    dependents: Vec<String>,
    /// Set for unexpected errors: logged, never shown.
    cause: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Parts {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            dependents: Vec::new(),
            cause: None,
        }))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The short summary of the kind of problem.
    pub fn title(&self) -> &'static str {
        self.0.title
    }

    /// For unexpected errors: logs the cause once, under a new request id, and returns that
    /// id for the response. `None` for errors that are the client's.
    pub fn log_unexpected(&self, message: &str) -> Option<String> {
        self.0.cause.as_ref().map(|cause| {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::error!(request_id = %id, error = %cause, "{message}");
            id
        })
    }

    /// Validation issues attached to the error.
    pub fn errors(&self) -> &[Issue] {
        &self.0.errors
    }

    pub fn with_errors(mut self, errors: Vec<Issue>) -> Self {
        self.0.errors = errors;
        self
    }

    /// Prefixes the JSON pointers of the attached issues: for errors found in a part of the
    /// request body (a twin's desired properties at `/properties/desired`).
    pub fn under_pointer(mut self, prefix: &str) -> Self {
        for issue in &mut self.0.errors {
            if let Some(pointer) = &issue.pointer {
                issue.pointer = Some(format!("{prefix}{pointer}"));
            }
        }
        self
    }

    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, slug, "Bad request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn model_not_found(dtmi: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "model-not-found",
            "Model not found",
            format!(
                "no model {dtmi} is stored; DTMIs are case-sensitive, and GET /api/v1/models?q=… searches"
            ),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn too_many_requests(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            detail,
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!(
                "the request body is larger than the limit of {limit} bytes; split the push into smaller batches"
            ),
        )
    }

    pub fn unsupported_media_type(found: Option<&str>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!(
                "send the body as JSON with Content-Type: application/json (got {})",
                found.map_or("no Content-Type".to_owned(), |f| format!("{f:?}"))
            ),
        )
    }

    /// An error that is not the client's fault; its cause is logged and not disclosed.
    pub fn unexpected(cause: impl fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "an unexpected error occurred; nothing was changed. Quote the requestId when reporting it",
        );
        error.0.cause = Some(cause.to_string());
        error
    }

    fn problem(&self, request_id: Option<String>) -> Problem {
        let parts = &self.0;
        Problem {
            problem_type: format!("urn:twinhub:problem:{}", parts.slug),
            title: parts.title.to_owned(),
            status: parts.status.as_u16(),
            detail: parts.detail.clone(),
            errors: parts.errors.clone(),
            dependents: parts.dependents.clone(),
            request_id,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.status, self.0.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = self.log_unexpected("request failed unexpectedly");
        let mut response = HttpResponse::build(self.0.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if self.0.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"twinhub\""),
            ));
        }
        response.body(serde_json::to_string(&self.problem(request_id)).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(dtmi) => Self::model_not_found(&dtmi),
            StoreError::Absent(_) => Self::not_found(error.to_string()),
            StoreError::Conflict(detail) => {
                Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
            }
            StoreError::HasDependents { dtmi, dependents } => {
                let mut api = Self::new(
                    StatusCode::CONFLICT,
                    "model-has-dependents",
                    "Model has dependents",
                    format!(
                        "{dtmi} cannot be deleted while {} model(s) depend on it ({}); delete those first",
                        dependents.len(),
                        dependents.join(", ")
                    ),
                );
                api.0.dependents = dependents;
                api
            }
            StoreError::InvalidTransition { .. } => Self::new(
                StatusCode::CONFLICT,
                "invalid-state-transition",
                "Invalid state transition",
                error.to_string(),
            ),
            StoreError::Database(_) | StoreError::Migration(_) | StoreError::Corrupt(_) => {
                Self::unexpected(error)
            }
        }
    }
}

impl From<PushError> for ApiError {
    fn from(error: PushError) -> Self {
        let summary = |issues: &[Issue]| match issues {
            [only] => only.message.clone(),
            [first, ..] => format!(
                "{} (and {} more, listed in errors)",
                first.message,
                issues.len() - 1
            ),
            [] => String::new(),
        };
        match error {
            PushError::Batch(BatchError::TooManyModels { .. }) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-models",
                "Too many models in one push",
                error.to_string(),
            ),
            PushError::Batch(BatchError::InvalidJson { line, column, .. }) => {
                let detail = error.to_string();
                Self::bad_request("invalid-json", detail.clone()).with_errors(vec![
                    Issue::repository("invalidJson", detail).position(line, column),
                ])
            }
            PushError::Batch(batch) => Self::bad_request("unreadable-body", batch.to_string()),
            PushError::Invalid(issues) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-model",
                "Invalid model",
                format!(
                    "{}; nothing was stored. {}",
                    error_count(&issues),
                    summary(&issues)
                ),
            )
            .with_errors(issues),
            PushError::UnknownDependencies(issues) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-dependency",
                "Unknown dependency",
                format!("{}; nothing was stored", summary(&issues)),
            )
            .with_errors(issues),
            PushError::Conflict(issues) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict with stored models",
                format!("{}; nothing was stored", summary(&issues)),
            )
            .with_errors(issues),
            PushError::Forbidden(_) => Self::forbidden(format!(
                "{error}: pushing needs the publisher role on each model's namespace; ask an owner of the namespace"
            )),
            PushError::Cycle(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dependency-cycle",
                "Dependency cycle",
                error.to_string(),
            ),
            PushError::Store(store) => store.into(),
            PushError::Internal(_) => Self::unexpected(error),
        }
    }
}

fn error_count(issues: &[Issue]) -> String {
    match issues.len() {
        1 => "the model breaks 1 rule".to_owned(),
        n => format!("the push breaks {n} rules"),
    }
}

impl From<InspectError> for ApiError {
    fn from(error: InspectError) -> Self {
        match error {
            InspectError::Store(store) => store.into(),
            unparsable => Self::unexpected(unparsable),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(detail) => Self::unauthorized(detail),
            AuthError::Forbidden(detail) => Self::forbidden(detail),
            AuthError::Store(store) => store.into(),
            AuthError::Internal(_) => Self::unexpected(error),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(error: Denied) -> Self {
        match error {
            Denied::Unauthenticated => Self::unauthorized(error.to_string()),
            Denied::ModelHidden(dtmi) => Self::model_not_found(&dtmi),
            Denied::Forbidden(detail) => Self::forbidden(detail),
        }
    }
}

/// The device hub's refusals. Model violations list each one with the model element and
/// the JSON pointer into what was checked.
impl From<HubError> for ApiError {
    fn from(error: HubError) -> Self {
        let detail = error.to_string();
        match error {
            HubError::NotFound(key) => Self::new(
                StatusCode::NOT_FOUND,
                "identity-not-found",
                "Identity not found",
                format!("{key} is not registered; GET /api/v1/devices lists the devices"),
            ),
            HubError::AlreadyExists(_) => Self::new(
                StatusCode::CONFLICT,
                "identity-exists",
                "Identity exists",
                detail,
            ),
            HubError::InvalidId(_) => Self::bad_request("invalid-identity-id", detail),
            HubError::PreconditionFailed { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                detail,
            ),
            HubError::Twin(_) => Self::bad_request("invalid-twin-change", detail),
            HubError::ModelViolations {
                model_id,
                violations,
            } => {
                let issues = violations.iter().map(violation_issue).collect::<Vec<_>>();
                let first = issues
                    .first()
                    .map(|i| i.message.clone())
                    .unwrap_or_default();
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "model-violation",
                    "The device's model forbids this",
                    format!(
                        "{} of model {model_id} refused; nothing was changed. {first}{}",
                        match issues.len() {
                            1 => "1 violation".to_owned(),
                            n => format!("{n} violations"),
                        },
                        if issues.len() > 1 {
                            " (the others are in errors)"
                        } else {
                            ""
                        }
                    ),
                )
                .with_errors(issues)
            }
            HubError::ModelUnavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model-unavailable",
                "Model unavailable",
                format!("{detail}; retry, or send ?validate=false to skip the check"),
            ),
            HubError::DeviceOffline(_) => Self::new(
                StatusCode::NOT_FOUND,
                "device-offline",
                "Device not connected",
                format!("{detail}: commands reach connected devices only; retry when it is"),
            ),
            HubError::Timeout { .. } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "device-timeout",
                "Device did not answer",
                format!("{detail}; a longer ?timeout= (up to 300) may help"),
            ),
            HubError::QueueFull { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue-full",
                "Message queue full",
                format!("{detail}; wait until the device takes them or they expire"),
            ),
            HubError::Peer { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "instance-unavailable",
                "Instance serving the device failed",
                format!("{detail}; retry, the device may reconnect to another instance"),
            ),
            HubError::Invalid(_) => Self::bad_request("invalid-request", detail),
            HubError::Store(_) => Self::unexpected(detail),
        }
    }
}

fn violation_issue(violation: &Violation) -> Issue {
    let kind = serde_json::to_value(&violation.kind)
        .ok()
        .and_then(|v| v.get("kind").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "violation".to_owned());
    let mut issue = Issue::repository(&format!("model:{kind}"), violation.to_string())
        .at(violation.pointer.clone());
    if let Some(element) = &violation.element {
        issue = issue.about(element.to_string());
    }
    issue
}

/// Reloading the access policy after a write failed: the write stands, the answer is 500.
impl From<AuthzError> for ApiError {
    fn from(error: AuthzError) -> Self {
        Self::unexpected(error)
    }
}

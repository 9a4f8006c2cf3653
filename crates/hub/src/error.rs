//! [`HubError`]: why a registry, twin or device operation of the [`crate::Hub`] failed, each
//! variant one thing the caller (the HTTP API) answers differently.

use std::time::Duration;

use twinhub_twin::{Etag, TwinError, Violation};

use crate::identity::{IdentityKey, IdentityKeyError};
use crate::store::HubStoreError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0} is not registered")]
    NotFound(IdentityKey),
    #[error("{0} is already registered")]
    AlreadyExists(IdentityKey),
    #[error(transparent)]
    InvalidId(#[from] IdentityKeyError),
    /// `If-Match` named another etag than the current one.
    #[error("{key} has etag {current}, not the one If-Match names; read it again and retry")]
    PreconditionFailed { key: IdentityKey, current: Etag },
    #[error(transparent)]
    Twin(#[from] TwinError),
    /// The change breaks the device's model (unless the caller asked not to validate).
    #[error("the change does not fit model {model_id}: {}", list(violations))]
    ModelViolations {
        model_id: String,
        violations: Vec<Violation>,
    },
    /// The device's model could not be loaded to validate against.
    #[error("model {model_id} could not be loaded to validate the change: {reason}")]
    ModelUnavailable { model_id: String, reason: String },
    /// The device is not connected (or not listening for what was asked).
    #[error("{0} is not connected")]
    DeviceOffline(IdentityKey),
    #[error("{key} did not answer within {} s", after.as_secs())]
    Timeout { key: IdentityKey, after: Duration },
    #[error("{key} already has {limit} pending cloud-to-device messages")]
    QueueFull { key: IdentityKey, limit: usize },
    /// The instance serving the device failed to run the request it was forwarded.
    #[error("instance {instance}, which serves the device, failed: {reason}")]
    Peer { instance: String, reason: String },
    /// A request the hub refuses as such (wrong shape, out of range, not applicable).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(HubStoreError),
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<HubStoreError> for HubError {
    fn from(e: HubStoreError) -> HubError {
        match e {
            HubStoreError::NotFound(key) => HubError::NotFound(key),
            HubStoreError::AlreadyExists(key) => HubError::AlreadyExists(key),
            HubStoreError::QueueFull { key, limit } => HubError::QueueFull { key, limit },
            other => HubError::Store(other),
        }
    }
}

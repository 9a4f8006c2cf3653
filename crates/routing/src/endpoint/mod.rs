//! Endpoints: where routed messages go. Each kind implements [`Endpoint`]; the router's lanes
//! call [`Endpoint::deliver`] and retry what fails with a [`DeliveryError::Retryable`], and
//! dead-letter what fails for good ([`DeliveryError::Permanent`]) or too often.
//!
//! An endpoint must be safe to call again with an envelope it has already accepted (the lane
//! redelivers after a restart or a lost acknowledgement): NATS de-duplicates on the envelope
//! id, a webhook receives the CloudEvents `id`, the built-in store skips ids it has.

pub mod builtin;
pub mod nats;
pub mod webhook;

use async_trait::async_trait;

use crate::envelope::Envelope;

/// Why a delivery failed, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The endpoint is unreachable, overloaded or failed on its side; try again later.
    #[error("{0}")]
    Retryable(String),
    /// The endpoint refused this message; sending it again will not help.
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retryable(_))
    }
}

/// A destination for routed messages.
#[async_trait]
pub trait Endpoint: Send + Sync + 'static {
    /// The kind, for logs and metrics: `nats`, `webhook`, `builtin`, …
    fn kind(&self) -> &'static str;

    /// Delivers one envelope; `Ok` once the endpoint has accepted it (JetStream ack, HTTP 2xx,
    /// store commit).
    async fn deliver(&self, envelope: &Envelope) -> Result<(), DeliveryError>;
}

//! twinhub-routing: what the device hub does with a message once it has it. Each message or
//! event becomes an [`Envelope`] that keeps IoT Hub's property names; routes (a source, a
//! condition in IoT Hub's routing query syntax, enrichments) pick the endpoints; telemetry can
//! be annotated with what the device's model says about it; and lanes deliver to NATS
//! JetStream, webhooks and the built-in store at least once: a message is acknowledged to the
//! device only after it is durably queued in the outbox, and a slow endpoint holds back only
//! its own lane.
//!
//! The crate does not know the hub: the caller hands in envelopes with the device's twin and
//! model, and implements the storage traits ([`Outbox`], [`DeadLetters`], [`TelemetryStore`])
//! over its database; memory implementations live here for tests and single-process use.

pub mod envelope;

pub use envelope::{
    Envelope, EventParts, MessageSource, Properties, SystemProperties, TelemetryParts,
};
pub mod route;

pub use route::{
    Delivery, EndpointName, Enrichment, EnrichmentValue, FallbackRoute, Route, RouteError,
    RouteParts, RouteSet, RouteTest, RoutedMessage,
};
pub mod annotate;

pub use annotate::{TelemetryAnnotation, annotate_telemetry, apply_annotation};
pub mod endpoint;

pub use endpoint::builtin::{BuiltinEndpoint, MemoryTelemetryStore, TelemetryStore};
pub use endpoint::nats::{NatsConfig, NatsEndpoint};
pub use endpoint::webhook::{WebhookConfig, WebhookEndpoint};
pub use endpoint::{DeliveryError, Endpoint};
pub mod group_commit;
pub mod lane;
pub mod outbox;
pub mod router;

pub use group_commit::{GroupAppend, GroupCommit};
pub use lane::{LaneConfig, LaneStats, RetryPolicy};
pub use outbox::{
    DeadLetter, DeadLetters, EntryId, MemoryDeadLetters, MemoryOutbox, NewEntry, Outbox,
    OutboxEntry, StorageError,
};
pub use router::{RouteFailure, RouteInput, Routed, Router, RouterBuilder, RouterError};

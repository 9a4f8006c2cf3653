//! twinhub-hub: the device side of twinhub. It keeps the registry of device and module
//! identities, authenticates them (SAS tokens, X.509 by thumbprint or by CA), runs the IoT Hub
//! MQTT 3.1.1 endpoint over TLS that the unmodified Azure IoT device SDKs speak, keeps their
//! persistent sessions, and applies what devices and back ends do to the twins in
//! `twinhub-twin`. There is no HTTP here: the root package serves the hub through its API.
//!
//! Persistence goes through [`HubStore`]; the root package implements it on SQLite and
//! PostgreSQL next to the model repository, and [`MemoryHubStore`] serves tests.
//!
//! The root package uses [`Hub`] only: registry and twin operations, direct methods and
//! cloud-to-device messages, and [`Hub::serve_mqtt`] with a TLS configuration from [`tls`]
//! (a certificate of its own, or the development CA of [`devca`]). Models come in through a
//! [`ModelSource`]; what happens goes out through an [`EventSink`]. Several instances on one
//! database reach each other through [`Peers`] (see [`cluster`]).

pub mod cluster;
mod config;
pub mod conformance;
pub mod devca;
mod error;
mod events;
mod hub;
mod identity;
mod memory;
mod models;
mod mqtt;
pub mod sas;
mod store;
pub mod tls;

pub use cluster::{NoPeers, PeerCallError, PeerMethodCall, PeerNotice, Peers};
pub use config::HubConfig;
pub use error::HubError;
pub use events::{EventSink, EventSinkError, EventSource, HubEvent, NoEvents};
pub use hub::{CommandResponse, Hub, IdentityUpdate, KeyChoice, MAX_PAGE, OutgoingC2d, TwinUpdate};
pub use identity::{
    Authentication, ConnectionState, Identity, IdentityKey, IdentityKeyError, IdentityStatus,
    generate_symmetric_key,
};
pub use memory::MemoryHubStore;
pub use models::{ModelSource, ModelSourceError, NoModels};
pub use store::{
    C2dMessage, HubStore, HubStoreError, IdentityPage, IdentityQuery, SessionRecord, Subscription,
    TwinRecord,
};

//! Several hub instances on one database: what one instance tells the others ([`PeerNotice`],
//! broadcast) and asks of the one serving a device ([`PeerMethodCall`], request and reply),
//! through [`Peers`]. The root package implements `Peers` over NATS; without it a hub runs
//! alone with [`NoPeers`].
//!
//! Which instance serves an identity's connection is recorded in the [`crate::HubStore`]
//! (`claim_connection`); the notices only tell the owner to act now rather than later, so a
//! lost notice delays a desired push or a cloud-to-device message until the device's next
//! twin GET or reconnect but never loses it: both live in the database.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinhub_twin::DesiredUpdate;

use crate::hub::CommandResponse;
use crate::identity::IdentityKey;

/// What an instance tells every other one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PeerNotice {
    /// `instance` now serves the identity's connection: any other connection of it closes.
    Connected { key: IdentityKey, instance: String },
    /// A desired-properties change for a device no connection here serves: the instance
    /// serving it pushes `update`.
    Desired {
        key: IdentityKey,
        update: DesiredUpdate,
    },
    /// New cloud-to-device messages wait for the device.
    CloudToDevice { key: IdentityKey },
    /// The identity (with its modules, when `family`) was disabled or deleted.
    Disconnect { key: IdentityKey, family: bool },
}

/// A direct method for the instance that serves the identity's connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerMethodCall {
    pub key: IdentityKey,
    /// The method name as the device sees it (`command` or `component*command`).
    pub name: String,
    pub payload: Value,
    /// How long the device has to answer.
    pub timeout_ms: u64,
}

/// Why a method call through another instance has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "detail", rename_all = "camelCase")]
pub enum PeerCallError {
    /// The instance is gone, or no longer serves the device.
    #[error("the device is not connected to any instance")]
    Offline,
    /// The device did not answer in time.
    #[error("the device did not answer in time")]
    Timeout,
    #[error("the instance serving the device failed: {0}")]
    Failed(String),
}

/// How an instance reaches the others.
#[async_trait]
pub trait Peers: Send + Sync {
    /// Sends `notice` to every other instance; best effort (failures are logged).
    async fn notify(&self, notice: &PeerNotice);

    /// Asks `instance` to call a direct method on the device it serves.
    async fn call_method(
        &self,
        instance: &str,
        call: &PeerMethodCall,
    ) -> Result<CommandResponse, PeerCallError>;
}

/// A hub without peers: it runs alone.
pub struct NoPeers;

#[async_trait]
impl Peers for NoPeers {
    async fn notify(&self, _notice: &PeerNotice) {}

    async fn call_method(
        &self,
        _instance: &str,
        _call: &PeerMethodCall,
    ) -> Result<CommandResponse, PeerCallError> {
        Err(PeerCallError::Offline)
    }
}

//! The [`Hub`] facade: everything the root package (the HTTP API, the CLI) does with the hub
//! goes through it — the registry of identities, twins and digital twins, direct methods and
//! cloud-to-device messages — and [`Hub::serve_mqtt`] runs the device endpoint on the same
//! state. A `Hub` is cheap to clone (an `Arc` inside).
//!
//! State lives in the [`HubStore`]; the only state kept here is what exists while devices are
//! connected: which connection task serves which identity, and the direct-method calls waiting
//! for their answers. Twin writes are compare-and-swap on the twin version and retried on a
//! conflict, so a back end and a device writing at once never lose each other's changes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use twinhub_twin::{
    DesiredUpdate, DeviceModel, Etag, IfMatch, Timestamp, Twin, digital_twin, digital_twin_changes,
    digital_twin_patch_to_desired, method_name, validate_command, validate_desired,
    validate_reported,
};

use crate::cluster::{NoPeers, PeerCallError, PeerMethodCall, PeerNotice, Peers};
use crate::config::HubConfig;
use crate::error::HubError;
use crate::events::{EventSink, EventSource, HubEvent, NoEvents};
use crate::identity::{
    Authentication, Identity, IdentityKey, IdentityStatus, generate_symmetric_key,
};
use crate::models::ModelSource;
use crate::store::{C2dMessage, HubStore, HubStoreError, IdentityPage, IdentityQuery, TwinRecord};
use crate::tls::DeviceCaVerifier;

/// How often a compare-and-swap write is retried after losing to a concurrent writer.
const CAS_ATTEMPTS: usize = 16;
/// The longest page [`Hub::list_identities`] returns.
pub const MAX_PAGE: usize = 1000;

/// The device hub. See the module documentation.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn HubStore>,
    models: Arc<dyn ModelSource>,
    events: Arc<dyn EventSink>,
    peers: Arc<dyn Peers>,
    config: HubConfig,
    device_ca: DeviceCaVerifier,
    live: Live,
}

/// Which symmetric key of an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyChoice {
    Primary,
    Secondary,
    /// Both keys (for regeneration; a connection string then uses the primary key).
    Both,
}

/// A change to an identity; `None` fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct IdentityUpdate {
    pub status: Option<IdentityStatus>,
    pub status_reason: Option<String>,
    /// Replaces the authentication (keys or thumbprints) as given.
    pub authentication: Option<Authentication>,
    /// Generates fresh symmetric keys (SAS identities only), after `authentication`.
    pub regenerate: Option<KeyChoice>,
}

/// A change to a twin from the back end. With `replace`, each section given replaces the
/// stored one (a section not given stays); otherwise each is a JSON merge patch (`null`
/// deletes).
#[derive(Clone, Debug, Default)]
pub struct TwinUpdate {
    pub tags: Option<Value>,
    pub desired: Option<Value>,
    pub replace: bool,
}

/// A device's answer to a direct method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandResponse {
    /// The status the device answered with (`$iothub/methods/res/{status}`).
    pub status: i32,
    /// Its JSON payload (`null` for an empty body; a body that is not JSON as a string).
    pub payload: Value,
}

/// A cloud-to-device message to send.
#[derive(Clone, Debug, Default)]
pub struct OutgoingC2d {
    pub body: Vec<u8>,
    /// Application properties (a `None` value is sent as a key without `=`).
    pub properties: Vec<(String, Option<String>)>,
    /// Generated when not given.
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// The configured default when not given; at most the configured maximum.
    pub ttl: Option<Duration>,
}

impl Hub {
    pub fn new(store: Arc<dyn HubStore>, models: Arc<dyn ModelSource>, config: HubConfig) -> Hub {
        let device_ca = DeviceCaVerifier::new(&config.device_ca_roots).unwrap_or_else(|error| {
            tracing::error!(%error, "device CA certificates unusable; CA-signed devices cannot connect");
            DeviceCaVerifier::none()
        });
        Hub {
            inner: Arc::new(Inner {
                store,
                models,
                events: Arc::new(NoEvents),
                peers: Arc::new(NoPeers),
                config,
                device_ca,
                live: Live::default(),
            }),
        }
    }

    /// The hub with `sink` receiving its events. Call before cloning the hub or serving.
    pub fn with_events(self, sink: Arc<dyn EventSink>) -> Hub {
        self.rebuilt(|inner| inner.events = sink)
    }

    /// The hub coordinating with other instances on the same database through `peers`.
    /// Call before cloning the hub or serving; feed what the peers send to
    /// [`Hub::on_peer_notice`] and [`Hub::on_peer_method`].
    pub fn with_peers(self, peers: Arc<dyn Peers>) -> Hub {
        self.rebuilt(|inner| inner.peers = peers)
    }

    fn rebuilt(self, change: impl FnOnce(&mut Inner)) -> Hub {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            // Already shared: build a fresh state around the same parts (nothing is live yet
            // in any caller that follows the documented order).
            Err(shared) => Inner {
                store: shared.store.clone(),
                models: shared.models.clone(),
                events: shared.events.clone(),
                peers: shared.peers.clone(),
                config: shared.config.clone(),
                device_ca: shared.device_ca.clone(),
                live: Live::default(),
            },
        };
        change(&mut inner);
        Hub {
            inner: Arc::new(inner),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &dyn HubStore {
        self.inner.store.as_ref()
    }

    /// How many identities are connected right now.
    pub fn connected_count(&self) -> usize {
        self.inner.live.connections().len()
    }

    /// Whether `key` has a live MQTT connection.
    pub fn is_connected(&self, key: &IdentityKey) -> bool {
        self.inner.live.connections().contains_key(key)
    }

    /// Runs the MQTT endpoint on a bound listener until `shutdown` resolves; then closes every
    /// connection it opened.
    pub async fn serve_mqtt(
        &self,
        listener: tokio::net::TcpListener,
        tls: Arc<rustls::ServerConfig>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        crate::mqtt::serve(self.clone(), listener, tls, shutdown).await
    }

    // ----- registry -----

    /// Registers a device or module. `None` authentication generates SAS keys.
    pub async fn create_identity(
        &self,
        key: IdentityKey,
        authentication: Option<Authentication>,
        status: IdentityStatus,
    ) -> Result<Identity, HubError> {
        let authentication = match authentication {
            None => Authentication::generated_sas(),
            Some(given) => checked_authentication(given)?,
        };
        let now = now();
        let mut identity = Identity::new(key, authentication, now);
        identity.status = status;
        let twin = TwinRecord::new(Twin::new(None, now));
        self.store().create_identity(&identity, &twin).await?;
        tracing::info!(identity = %identity.key, "identity created");
        self.emit(HubEvent::operation(
            EventSource::DeviceLifecycleEvents,
            identity.key.clone(),
            now,
            "createDeviceIdentity",
            "deviceLifecycleNotification",
            lifecycle_body(&identity, &twin.twin),
        ))
        .await;
        Ok(identity)
    }

    pub async fn identity(&self, key: &IdentityKey) -> Result<Identity, HubError> {
        self.store()
            .identity(key)
            .await?
            .ok_or_else(|| HubError::NotFound(key.clone()))
    }

    /// Changes an identity's status or credentials. Disabling it disconnects it.
    pub async fn update_identity(
        &self,
        key: &IdentityKey,
        update: IdentityUpdate,
        if_match: Option<&IfMatch>,
    ) -> Result<Identity, HubError> {
        let authentication = update
            .authentication
            .clone()
            .map(checked_authentication)
            .transpose()?;
        for _ in 0..CAS_ATTEMPTS {
            let mut identity = self.identity(key).await?;
            check_precondition(key, if_match, Etag::from_counter(identity.etag))?;
            let expected = identity.etag;
            if let Some(status) = update.status {
                identity.status = status;
            }
            if let Some(reason) = &update.status_reason {
                identity.status_reason = Some(reason.clone());
            }
            if let Some(auth) = &authentication {
                identity.authentication = auth.clone();
            }
            if let Some(which) = update.regenerate {
                regenerate(&mut identity.authentication, which)?;
            }
            identity.etag += 1;
            identity.updated = now();
            match self.store().update_identity(&identity, expected).await {
                Ok(()) => {
                    if !identity.is_enabled() {
                        self.inner.live.disconnect(key, "the identity was disabled");
                        self.notify_peers(PeerNotice::Disconnect {
                            key: key.clone(),
                            family: false,
                        })
                        .await;
                    }
                    return Ok(identity);
                }
                Err(HubStoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contention(key))
    }

    /// Deletes an identity (a device with its modules) and disconnects it.
    pub async fn delete_identity(
        &self,
        key: &IdentityKey,
        if_match: Option<&IfMatch>,
    ) -> Result<(), HubError> {
        let identity = self.identity(key).await?;
        check_precondition(key, if_match, Etag::from_counter(identity.etag))?;
        if !self.store().delete_identity(key).await? {
            return Err(HubError::NotFound(key.clone()));
        }
        tracing::info!(identity = %key, "identity deleted");
        self.inner
            .live
            .disconnect_family(key, "the identity was deleted");
        self.notify_peers(PeerNotice::Disconnect {
            key: key.clone(),
            family: true,
        })
        .await;
        let now = now();
        self.emit(HubEvent::operation(
            EventSource::DeviceLifecycleEvents,
            key.clone(),
            now,
            "deleteDeviceIdentity",
            "deviceLifecycleNotification",
            lifecycle_body(&identity, &Twin::new(None, now)),
        ))
        .await;
        Ok(())
    }

    /// Devices (or one device's modules), ordered by id, `query.limit` clamped to 1..=1000.
    pub async fn list_identities(&self, query: &IdentityQuery) -> Result<IdentityPage, HubError> {
        let mut query = query.clone();
        query.limit = query.limit.clamp(1, MAX_PAGE);
        Ok(self.store().list_identities(&query).await?)
    }

    /// A device connection string for `identity`: with the chosen key for SAS identities
    /// (`Both` means the primary), with `x509=true` for certificate identities.
    pub fn connection_string(&self, identity: &Identity, which: KeyChoice) -> Option<String> {
        let host = self.inner.config.host_names.first()?;
        let mut out = format!("HostName={host};DeviceId={}", identity.key.device_id);
        if let Some(module) = &identity.key.module_id {
            out.push_str(&format!(";ModuleId={module}"));
        }
        match &identity.authentication {
            Authentication::Sas {
                primary_key,
                secondary_key,
            } => {
                let key = match which {
                    KeyChoice::Secondary => secondary_key,
                    KeyChoice::Primary | KeyChoice::Both => primary_key,
                };
                out.push_str(&format!(";SharedAccessKey={key}"));
            }
            Authentication::SelfSigned { .. } | Authentication::CertificateAuthority => {
                out.push_str(";x509=true");
            }
        }
        Some(out)
    }

    // ----- twins -----

    pub async fn twin(&self, key: &IdentityKey) -> Result<TwinRecord, HubError> {
        self.store()
            .twin(key)
            .await?
            .ok_or_else(|| HubError::NotFound(key.clone()))
    }

    /// Changes tags and desired properties; a desired change is pushed to the connected
    /// device at once. With `validate`, a desired change the device's model forbids is
    /// refused with [`HubError::ModelViolations`].
    pub async fn update_twin(
        &self,
        key: &IdentityKey,
        update: TwinUpdate,
        if_match: Option<&IfMatch>,
        validate: bool,
    ) -> Result<TwinRecord, HubError> {
        if update.tags.is_none() && update.desired.is_none() {
            let record = self.twin(key).await?;
            check_precondition(key, if_match, record.twin.etag())?;
            return Ok(record);
        }
        let mut checked_model: Option<Option<String>> = None;
        for _ in 0..CAS_ATTEMPTS {
            let mut record = self.twin(key).await?;
            check_precondition(key, if_match, record.twin.etag())?;
            let model_id = record.twin.model_id().map(str::to_owned);
            if validate
                && let Some(desired) = &update.desired
                && checked_model.as_ref() != Some(&model_id)
            {
                // Validate once per model id seen (it only changes when the device reconnects).
                if let Some(model) = self.model_of(&record.twin, true).await? {
                    let violations = validate_desired(&model, desired);
                    if !violations.is_empty() {
                        return Err(HubError::ModelViolations {
                            model_id: model.root().to_owned(),
                            violations,
                        });
                    }
                }
                checked_model = Some(model_id);
            }
            let expected = record.twin.version();
            let before = record.twin.clone();
            let limits = &self.inner.config.twin_limits;
            let now = now();
            if let Some(tags) = &update.tags {
                if update.replace {
                    record.twin.replace_tags(tags, limits)?;
                } else {
                    record.twin.patch_tags(tags, limits)?;
                }
            }
            let pushed = match &update.desired {
                Some(desired) if update.replace => {
                    Some(record.twin.replace_desired(desired, now, limits)?)
                }
                Some(desired) => Some(record.twin.patch_desired(desired, now, limits)?),
                None => None,
            };
            match self.store().update_twin(key, expected, &record).await {
                Ok(()) => {}
                Err(HubStoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            if let Some(update) = &pushed
                && !self.inner.live.push_desired(key, update)
            {
                self.notify_peers(PeerNotice::Desired {
                    key: key.clone(),
                    update: update.clone(),
                })
                .await;
            }
            let op = if update.replace {
                "replaceTwin"
            } else {
                "updateTwin"
            };
            self.twin_changed(key, &before, &record.twin, op, &update, pushed.as_ref())
                .await;
            return Ok(record);
        }
        Err(contention(key))
    }

    /// The digital twin (IoT Plug and Play view) of an identity's twin.
    pub async fn digital_twin(&self, key: &IdentityKey) -> Result<Value, HubError> {
        let record = self.twin(key).await?;
        let model = self.model_of(&record.twin, false).await?;
        Ok(digital_twin(&key.device_id, &record.twin, model.as_deref()))
    }

    /// Applies a digital-twin JSON Patch as a desired-properties change.
    pub async fn patch_digital_twin(
        &self,
        key: &IdentityKey,
        json_patch: &Value,
        if_match: Option<&IfMatch>,
        validate: bool,
    ) -> Result<TwinRecord, HubError> {
        for _ in 0..CAS_ATTEMPTS {
            let record = self.twin(key).await?;
            check_precondition(key, if_match, record.twin.etag())?;
            let model = self.model_of(&record.twin, validate).await?;
            let desired =
                digital_twin_patch_to_desired(&record.twin, model.as_deref(), json_patch)?;
            let update = TwinUpdate {
                tags: None,
                desired: Some(desired),
                replace: false,
            };
            // Pin the precondition to the twin the patch was computed from, so a concurrent
            // change makes us recompute rather than apply a stale difference.
            let pinned = IfMatch::Tags(vec![record.twin.etag().to_string()]);
            match self.update_twin(key, update, Some(&pinned), validate).await {
                Err(HubError::PreconditionFailed { .. }) => continue,
                other => return other,
            }
        }
        Err(contention(key))
    }

    // ----- live device operations -----

    /// Calls a direct method (`command`, or `component*command`) on the connected identity and
    /// waits up to `timeout` for its answer. With `validate`, a command or payload the model
    /// forbids is refused before anything is sent.
    pub async fn invoke_command(
        &self,
        key: &IdentityKey,
        component: Option<&str>,
        command: &str,
        payload: Value,
        timeout: Duration,
        validate: bool,
    ) -> Result<CommandResponse, HubError> {
        let record = self.twin(key).await?;
        if validate && let Some(model) = self.model_of(&record.twin, true).await? {
            validate_command(&model, component, command, &payload).map_err(|violations| {
                HubError::ModelViolations {
                    model_id: model.root().to_owned(),
                    violations,
                }
            })?;
        }
        let body = serde_json::to_vec(&payload)
            .map_err(|e| HubError::Invalid(format!("the payload cannot be serialised: {e}")))?;
        let limit = self.inner.config.max_method_payload_bytes;
        if body.len() > limit {
            return Err(HubError::Invalid(format!(
                "the command payload has {} bytes; at most {limit} are allowed",
                body.len()
            )));
        }
        let name = method_name(component, command);
        if !self.inner.live.serves(key) {
            return self.call_through_peer(key, name, payload, timeout).await;
        }
        self.call_here(key, name, body, timeout).await
    }

    /// Calls a method on a connection this instance serves.
    async fn call_here(
        &self,
        key: &IdentityKey,
        name: String,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<CommandResponse, HubError> {
        let (rid, answer) = self.inner.live.call_method(key, name, body)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(HubError::DeviceOffline(key.clone())),
            Err(_) => {
                self.inner.live.forget_method(key, &rid);
                Err(HubError::Timeout {
                    key: key.clone(),
                    after: timeout,
                })
            }
        }
    }

    /// Calls a method on a connection another instance serves, through that instance.
    async fn call_through_peer(
        &self,
        key: &IdentityKey,
        name: String,
        payload: Value,
        timeout: Duration,
    ) -> Result<CommandResponse, HubError> {
        let owner = self.store().connection_owner(key).await?;
        let Some(owner) = owner.filter(|owner| *owner != self.inner.config.instance_id) else {
            return Err(HubError::DeviceOffline(key.clone()));
        };
        let call = PeerMethodCall {
            key: key.clone(),
            name,
            payload,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        match self.inner.peers.call_method(&owner, &call).await {
            Ok(response) => Ok(response),
            Err(PeerCallError::Offline) => Err(HubError::DeviceOffline(key.clone())),
            Err(PeerCallError::Timeout) => Err(HubError::Timeout {
                key: key.clone(),
                after: timeout,
            }),
            Err(PeerCallError::Failed(reason)) => Err(HubError::Peer {
                instance: owner,
                reason,
            }),
        }
    }

    /// Queues a cloud-to-device message for a device; a connected device gets it at once,
    /// others when they connect (until it expires).
    pub async fn send_c2d(
        &self,
        key: &IdentityKey,
        message: OutgoingC2d,
    ) -> Result<C2dMessage, HubError> {
        if key.is_module() {
            return Err(HubError::Invalid(
                "cloud-to-device messages go to devices, not to modules".into(),
            ));
        }
        let config = &self.inner.config;
        if message.body.len() > config.c2d_max_bytes {
            return Err(HubError::Invalid(format!(
                "the message body has {} bytes; at most {} are allowed",
                message.body.len(),
                config.c2d_max_bytes
            )));
        }
        let ttl = message.ttl.unwrap_or(config.c2d_default_ttl);
        if ttl.is_zero() || ttl > config.c2d_max_ttl {
            return Err(HubError::Invalid(format!(
                "the message expiry must be between 1 s and {} s, not {} s",
                config.c2d_max_ttl.as_secs(),
                ttl.as_secs()
            )));
        }
        if let Some((name, _)) = message.properties.iter().find(|(k, _)| k.is_empty()) {
            return Err(HubError::Invalid(format!(
                "message property name {name:?} is empty; give every property a name"
            )));
        }
        self.identity(key).await?;
        let enqueued = now();
        let expires = enqueued
            + chrono::Duration::from_std(ttl)
                .map_err(|_| HubError::Invalid("the message expiry is out of range".into()))?;
        let stored = C2dMessage {
            message_id: message.message_id.unwrap_or_else(random_message_id),
            correlation_id: message.correlation_id,
            user_id: None,
            content_type: message.content_type,
            content_encoding: message.content_encoding,
            properties: message.properties,
            body: message.body,
            enqueued,
            expires,
            delivery_count: 0,
        };
        self.store()
            .enqueue_c2d(key, &stored, config.c2d_max_pending)
            .await?;
        if !self.inner.live.notify_c2d(key) {
            self.notify_peers(PeerNotice::CloudToDevice { key: key.clone() })
                .await;
        }
        Ok(stored)
    }

    /// How many cloud-to-device messages wait for `key` (unexpired, not yet acknowledged).
    pub async fn pending_c2d_count(&self, key: &IdentityKey) -> Result<usize, HubError> {
        self.identity(key).await?;
        Ok(self.store().pending_c2d(key, now()).await?.len())
    }

    // ----- other instances -----

    /// Acts on what another instance announced.
    pub async fn on_peer_notice(&self, notice: PeerNotice) {
        let live = &self.inner.live;
        match notice {
            PeerNotice::Connected { key, instance } => {
                if instance == self.inner.config.instance_id {
                    return;
                }
                // Serialised with this instance's own connects (register + claim), so a
                // connection that came back here after the other instance's is never dropped
                // for it: the store knows who won last.
                let _serial = live.state_lock(&key).lock().await;
                if !live.serves(&key) {
                    return;
                }
                match self.store().connection_owner(&key).await {
                    Ok(Some(owner)) if owner == self.inner.config.instance_id => {}
                    Ok(_) => {
                        live.disconnect(&key, "the identity connected through another instance")
                    }
                    Err(error) => {
                        tracing::warn!(identity = %key, %error, "connection owner not read");
                    }
                }
            }
            PeerNotice::Desired { key, update } => {
                live.push_desired(&key, &update);
            }
            PeerNotice::CloudToDevice { key } => {
                live.notify_c2d(&key);
            }
            PeerNotice::Disconnect { key, family: true } => {
                live.disconnect_family(&key, "the identity was deleted");
            }
            PeerNotice::Disconnect { key, family: false } => {
                live.disconnect(&key, "the identity was disabled");
            }
        }
    }

    /// Runs a method call another instance forwarded to a connection served here.
    pub async fn on_peer_method(
        &self,
        call: PeerMethodCall,
    ) -> Result<CommandResponse, PeerCallError> {
        let body = serde_json::to_vec(&call.payload)
            .map_err(|e| PeerCallError::Failed(format!("the payload cannot be serialised: {e}")))?;
        let timeout = Duration::from_millis(call.timeout_ms);
        match self.call_here(&call.key, call.name, body, timeout).await {
            Ok(response) => Ok(response),
            Err(HubError::DeviceOffline(_)) => Err(PeerCallError::Offline),
            Err(HubError::Timeout { .. }) => Err(PeerCallError::Timeout),
            Err(other) => Err(PeerCallError::Failed(other.to_string())),
        }
    }

    pub(crate) async fn notify_peers(&self, notice: PeerNotice) {
        self.inner.peers.notify(&notice).await;
    }

    pub(crate) fn instance_id(&self) -> &str {
        &self.inner.config.instance_id
    }

    // ----- for the MQTT endpoint -----

    pub(crate) fn live(&self) -> &Live {
        &self.inner.live
    }

    pub(crate) fn device_ca(&self) -> &DeviceCaVerifier {
        &self.inner.device_ca
    }

    /// Puts the model id a device announced in CONNECT on its twin (clearing it when the
    /// device announced none) and returns the twin.
    pub(crate) async fn device_model_id(
        &self,
        key: &IdentityKey,
        model_id: Option<String>,
    ) -> Result<TwinRecord, HubError> {
        for _ in 0..CAS_ATTEMPTS {
            let mut record = self.twin(key).await?;
            if record.twin.model_id() == model_id.as_deref() {
                return Ok(record);
            }
            let before = record.twin.clone();
            let expected = record.twin.version();
            record.twin.set_model_id(model_id.clone());
            match self.store().update_twin(key, expected, &record).await {
                Ok(()) => {
                    tracing::info!(identity = %key, model.id = ?model_id, "model id set from CONNECT");
                    self.digital_twin_changed(key, &before, &record.twin).await;
                    return Ok(record);
                }
                Err(HubStoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contention(key))
    }

    /// Applies a device's reported-properties merge patch. Values that break the model are
    /// kept and flagged (`reported_flags`, `violation_count`); a patch the twin refuses
    /// (not an object, limits) is an error. Returns the new reported `$version`.
    pub(crate) async fn device_reported(
        &self,
        key: &IdentityKey,
        patch: &Value,
        model: Option<&DeviceModel>,
    ) -> Result<u64, HubError> {
        let violations = model
            .map(|m| validate_reported(m, patch))
            .unwrap_or_default();
        for _ in 0..CAS_ATTEMPTS {
            let mut record = self.twin(key).await?;
            let before = record.twin.clone();
            let expected = record.twin.version();
            let version =
                record
                    .twin
                    .patch_reported(patch, now(), &self.inner.config.twin_limits)?;
            reflag(&mut record, patch, &violations);
            match self.store().update_twin(key, expected, &record).await {
                Ok(()) => {}
                Err(HubStoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            if !violations.is_empty() {
                tracing::info!(
                    identity = %key,
                    violations = violations.len(),
                    "reported properties break the model; kept and flagged"
                );
            }
            let body = json!({
                "version": record.twin.version(),
                "properties": { "reported": merge_with_version(patch, version) },
            });
            self.emit(HubEvent::operation(
                EventSource::TwinChangeEvents,
                key.clone(),
                now(),
                "updateTwin",
                "twinChangeNotification",
                body.to_string().into_bytes(),
            ))
            .await;
            self.digital_twin_changed(key, &before, &record.twin).await;
            return Ok(version);
        }
        Err(contention(key))
    }

    /// Counts one telemetry message that broke the model on the identity's twin.
    pub(crate) async fn count_violation(&self, key: &IdentityKey) -> Result<(), HubError> {
        for _ in 0..CAS_ATTEMPTS {
            let mut record = self.twin(key).await?;
            let expected = record.twin.version();
            record.violation_count += 1;
            match self.store().update_twin(key, expected, &record).await {
                Ok(()) => return Ok(()),
                Err(HubStoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contention(key))
    }

    /// The device's model when its twin names one and the repository has it. A failure to
    /// load it is an error only when the caller is about to validate with it.
    pub(crate) async fn model_of(
        &self,
        twin: &Twin,
        required: bool,
    ) -> Result<Option<Arc<DeviceModel>>, HubError> {
        let Some(model_id) = twin.model_id() else {
            return Ok(None);
        };
        match self.inner.models.model(model_id).await {
            Ok(model) => Ok(model),
            Err(reason) if required => Err(HubError::ModelUnavailable {
                model_id: model_id.to_owned(),
                reason: reason.to_string(),
            }),
            Err(reason) => {
                tracing::warn!(model.id = %model_id, error = %reason, "device model unavailable");
                Ok(None)
            }
        }
    }

    /// Hands an event to the sink; a failure is logged here, once.
    pub(crate) async fn emit(&self, event: HubEvent) {
        let source = event.source;
        let key = event.key.clone();
        if let Err(error) = self.inner.events.publish(event).await {
            tracing::warn!(identity = %key, source = source.as_str(), %error, "event not delivered");
        }
    }

    /// Hands an event to the sink and reports whether it took it.
    pub(crate) async fn try_emit(&self, event: HubEvent) -> bool {
        let key = event.key.clone();
        match self.inner.events.publish(event).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(identity = %key, %error, "telemetry not delivered to the event sink");
                false
            }
        }
    }

    /// Emits the twin-change and digital-twin-change events of a committed change.
    pub(crate) async fn twin_changed(
        &self,
        key: &IdentityKey,
        before: &Twin,
        after: &Twin,
        op_type: &str,
        update: &TwinUpdate,
        desired: Option<&DesiredUpdate>,
    ) {
        let now = now();
        let mut body = Map::new();
        body.insert("version".into(), Value::from(after.version()));
        if update.tags.is_some() {
            body.insert("tags".into(), Value::Object(after.tags().clone()));
        }
        if let Some(desired) = desired {
            body.insert("properties".into(), json!({ "desired": desired.patch }));
        }
        self.emit(HubEvent::operation(
            EventSource::TwinChangeEvents,
            key.clone(),
            now,
            op_type,
            "twinChangeNotification",
            Value::Object(body).to_string().into_bytes(),
        ))
        .await;
        self.digital_twin_changed(key, before, after).await;
    }

    /// Emits a digital-twin change event when the digital twin moved.
    pub(crate) async fn digital_twin_changed(
        &self,
        key: &IdentityKey,
        before: &Twin,
        after: &Twin,
    ) {
        let model = self.model_of(after, false).await.ok().flatten();
        let ops = digital_twin_changes(
            &digital_twin(&key.device_id, before, model.as_deref()),
            &digital_twin(&key.device_id, after, model.as_deref()),
        );
        if ops.as_array().is_some_and(Vec::is_empty) {
            return;
        }
        let mut event = HubEvent::operation(
            EventSource::DigitalTwinChangeEvents,
            key.clone(),
            now(),
            "updateTwin",
            "digitalTwinChangeNotification",
            ops.to_string().into_bytes(),
        );
        event.content_type = Some("application/json-patch+json".into());
        event.model_id = after.model_id().map(str::to_owned);
        self.emit(event).await;
    }
}

pub(crate) fn now() -> Timestamp {
    chrono::Utc::now()
}

/// Replaces the flags of the properties a reported patch touched with its violations, and
/// counts the patch when it had any.
fn reflag(record: &mut TwinRecord, patch: &Value, violations: &[twinhub_twin::Violation]) {
    if let Some(members) = patch.as_object() {
        let mut touched = Vec::new();
        for (name, value) in members {
            let pointer = pointer_token("", name);
            match value.as_object() {
                Some(inner) if twinhub_twin::pnp::is_component(value) => {
                    touched.extend(inner.keys().map(|k| pointer_token(&pointer, k)));
                }
                _ => touched.push(pointer),
            }
        }
        record.reported_flags.retain(|flagged, _| {
            !touched
                .iter()
                .any(|t| flagged == t || flagged.starts_with(&format!("{t}/")))
        });
    }
    for violation in violations {
        let value = serde_json::to_value(violation).unwrap_or(Value::Null);
        let mut flag = Map::new();
        flag.insert("message".into(), Value::String(violation.to_string()));
        flag.insert("violation".into(), value);
        record
            .reported_flags
            .insert(violation.pointer.clone(), Value::Object(flag));
    }
    if !violations.is_empty() {
        record.violation_count += 1;
    }
}

/// Appends an RFC 6901 token to a pointer.
fn pointer_token(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// A reported patch with the section's new `$version`, as change events show it.
fn merge_with_version(patch: &Value, version: u64) -> Value {
    let mut out = patch.as_object().cloned().unwrap_or_default();
    out.insert("$version".into(), Value::from(version));
    Value::Object(out)
}

fn check_precondition(
    key: &IdentityKey,
    if_match: Option<&IfMatch>,
    current: Etag,
) -> Result<(), HubError> {
    match if_match {
        Some(m) if !m.matches(&current) => Err(HubError::PreconditionFailed {
            key: key.clone(),
            current,
        }),
        _ => Ok(()),
    }
}

fn contention(key: &IdentityKey) -> HubError {
    HubError::Store(HubStoreError::Conflict(key.clone()))
}

/// Checks given credentials: SAS keys are base64 of 16 to 64 bytes, thumbprints are the hex
/// of a SHA-1 (40 digits) or SHA-256 (64 digits) digest, kept in upper case.
fn checked_authentication(auth: Authentication) -> Result<Authentication, HubError> {
    match auth {
        Authentication::Sas {
            primary_key,
            secondary_key,
        } => {
            for (which, key) in [("primary", &primary_key), ("secondary", &secondary_key)] {
                let length = BASE64.decode(key).map(|b| b.len()).map_err(|_| {
                    HubError::Invalid(format!(
                        "the {which} key is not base64; give base64 of 16 to 64 random bytes, \
                         or leave the keys out to have them generated"
                    ))
                })?;
                if !(16..=64).contains(&length) {
                    return Err(HubError::Invalid(format!(
                        "the {which} key has {length} bytes; symmetric keys must have 16 to 64"
                    )));
                }
            }
            Ok(Authentication::Sas {
                primary_key,
                secondary_key,
            })
        }
        Authentication::SelfSigned {
            primary_thumbprint,
            secondary_thumbprint,
        } => Ok(Authentication::SelfSigned {
            primary_thumbprint: checked_thumbprint("primary", &primary_thumbprint)?,
            secondary_thumbprint: secondary_thumbprint
                .as_deref()
                .map(|t| checked_thumbprint("secondary", t))
                .transpose()?,
        }),
        Authentication::CertificateAuthority => Ok(Authentication::CertificateAuthority),
    }
}

fn checked_thumbprint(which: &str, thumbprint: &str) -> Result<String, HubError> {
    let bare: String = thumbprint.chars().filter(|c| *c != ':').collect();
    if !matches!(bare.len(), 40 | 64) || !bare.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(HubError::Invalid(format!(
            "the {which} thumbprint {thumbprint:?} is not a SHA-1 (40 hex digits) or SHA-256 \
             (64 hex digits) certificate thumbprint"
        )));
    }
    Ok(bare.to_ascii_uppercase())
}

fn regenerate(auth: &mut Authentication, which: KeyChoice) -> Result<(), HubError> {
    let Authentication::Sas {
        primary_key,
        secondary_key,
    } = auth
    else {
        return Err(HubError::Invalid(
            "only identities authenticated with SAS keys have keys to regenerate".into(),
        ));
    };
    if matches!(which, KeyChoice::Primary | KeyChoice::Both) {
        *primary_key = generate_symmetric_key();
    }
    if matches!(which, KeyChoice::Secondary | KeyChoice::Both) {
        *secondary_key = generate_symmetric_key();
    }
    Ok(())
}

/// A message id as IoT Hub generates them: a random UUID (version 4) in its text form.
fn random_message_id() -> String {
    use rand::RngCore as _;
    let mut b = [0_u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The body of a lifecycle event: the identity's twin as IoT Hub sends it.
fn lifecycle_body(identity: &Identity, twin: &Twin) -> Vec<u8> {
    let mut body = twin.service_document();
    body.insert(
        "deviceId".into(),
        Value::String(identity.key.device_id.clone()),
    );
    if let Some(module) = &identity.key.module_id {
        body.insert("moduleId".into(), Value::String(module.clone()));
    }
    Value::Object(body).to_string().into_bytes()
}

// ----- live connections -----

/// FNV-1a: a stable, cheap hash to pick a lock stripe.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the hub asks of the task serving a connection.
#[derive(Debug)]
pub(crate) enum ToConnection {
    /// Push a desired-properties change.
    Desired(DesiredUpdate),
    /// Send a direct-method request.
    Method {
        name: String,
        rid: String,
        payload: Vec<u8>,
    },
    /// New cloud-to-device messages are queued.
    C2d,
    /// Close the connection.
    Disconnect(&'static str),
}

/// The hub's side of one live connection.
#[derive(Clone, Debug)]
pub(crate) struct LiveConnection {
    /// Unique per connection (a reconnect of the same identity gets a new one).
    pub id: u64,
    pub tx: mpsc::UnboundedSender<ToConnection>,
    /// Whether the session subscribes to `$iothub/methods/POST/#` (IoT Hub answers "device
    /// not online" to a method call otherwise).
    pub methods: Arc<AtomicBool>,
}

type MethodWaiters = HashMap<(IdentityKey, String), oneshot::Sender<CommandResponse>>;

/// How many locks serialise connection-state changes (by identity hash).
const STATE_STRIPES: usize = 64;

/// Who is connected, and the direct-method calls waiting for answers.
pub(crate) struct Live {
    connections: Mutex<HashMap<IdentityKey, LiveConnection>>,
    methods: Mutex<MethodWaiters>,
    next_id: AtomicU64,
    /// Held while a connection registers or deregisters and records its connection state,
    /// so a takeover's "connected" is never overwritten by its predecessor's "disconnected".
    state_locks: Vec<tokio::sync::Mutex<()>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            connections: Mutex::default(),
            methods: Mutex::default(),
            next_id: AtomicU64::new(0),
            state_locks: (0..STATE_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }
}

/// Locks a mutex even if a thread panicked while holding it: the maps stay consistent,
/// since every critical section is a single insert or remove.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Live {
    fn connections(&self) -> MutexGuard<'_, HashMap<IdentityKey, LiveConnection>> {
        lock(&self.connections)
    }

    /// The lock serialising `key`'s connection-state changes.
    pub fn state_lock(&self, key: &IdentityKey) -> &tokio::sync::Mutex<()> {
        let index = (fnv(&key.to_string()) as usize) % self.state_locks.len();
        &self.state_locks[index]
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Makes `connection` the one serving `key`; the one it replaces is told to close.
    pub fn register(&self, key: &IdentityKey, connection: LiveConnection) {
        let old = self.connections().insert(key.clone(), connection);
        if let Some(old) = old {
            // A send fails only when the old task is already gone, which is what we want.
            let _ = old.tx.send(ToConnection::Disconnect(
                "a new connection took over the identity",
            ));
        }
    }

    /// Forgets `key`'s connection if it is still connection `id` (not a successor).
    pub fn deregister(&self, key: &IdentityKey, id: u64) -> bool {
        let mut connections = self.connections();
        if connections.get(key).is_some_and(|c| c.id == id) {
            connections.remove(key);
            true
        } else {
            false
        }
    }

    fn send(&self, key: &IdentityKey, message: ToConnection) -> bool {
        match self.connections().get(key) {
            Some(c) => c.tx.send(message).is_ok(),
            None => false,
        }
    }

    pub fn disconnect(&self, key: &IdentityKey, reason: &'static str) {
        self.send(key, ToConnection::Disconnect(reason));
    }

    /// Disconnects `key` and, for a device, its modules.
    pub fn disconnect_family(&self, key: &IdentityKey, reason: &'static str) {
        for (k, c) in self.connections().iter() {
            if k == key || (!key.is_module() && k.device_id == key.device_id) {
                let _ = c.tx.send(ToConnection::Disconnect(reason));
            }
        }
    }

    /// Whether a connection of `key` is served here.
    pub fn serves(&self, key: &IdentityKey) -> bool {
        self.connections().contains_key(key)
    }

    /// Hands a desired change to `key`'s connection; `false` when none is served here.
    pub fn push_desired(&self, key: &IdentityKey, update: &DesiredUpdate) -> bool {
        self.send(key, ToConnection::Desired(update.clone()))
    }

    /// Tells `key`'s connection that messages wait; `false` when none is served here.
    pub fn notify_c2d(&self, key: &IdentityKey) -> bool {
        self.send(key, ToConnection::C2d)
    }

    /// Sends a method request to `key`'s connection and returns the call's request id and
    /// the receiver of its answer.
    fn call_method(
        &self,
        key: &IdentityKey,
        name: String,
        payload: Vec<u8>,
    ) -> Result<(String, oneshot::Receiver<CommandResponse>), HubError> {
        let connection = self
            .connections()
            .get(key)
            .filter(|c| c.methods.load(Ordering::Acquire))
            .cloned()
            .ok_or_else(|| HubError::DeviceOffline(key.clone()))?;
        let rid = format!("{:x}", self.next_id());
        let (tx, rx) = oneshot::channel();
        lock(&self.methods).insert((key.clone(), rid.clone()), tx);
        let sent = connection.tx.send(ToConnection::Method {
            name,
            rid: rid.clone(),
            payload,
        });
        if sent.is_err() {
            self.forget_method(key, &rid);
            return Err(HubError::DeviceOffline(key.clone()));
        }
        Ok((rid, rx))
    }

    fn forget_method(&self, key: &IdentityKey, rid: &str) {
        lock(&self.methods).remove(&(key.clone(), rid.to_owned()));
    }

    /// Delivers a device's method answer; `false` when no call of `key` waits for `rid`.
    pub fn answer_method(&self, key: &IdentityKey, rid: &str, response: CommandResponse) -> bool {
        let waiter = lock(&self.methods).remove(&(key.clone(), rid.to_owned()));
        match waiter {
            Some(tx) => tx.send(response).is_ok(),
            None => false,
        }
    }
}

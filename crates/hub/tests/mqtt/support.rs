//! Test harness: a real [`Hub`] on a [`MemoryHubStore`] serving MQTT over TLS on its own
//! `127.0.0.N` (with that IP in the development server certificate), devices as `rumqttc`
//! clients speaking TLS 1.2 like the Python SDK, and an event sink that records.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rumqttc::{
    AsyncClient, ConnAck, ConnectionError, Event, EventLoop, Incoming, MqttOptions, Publish, QoS,
    SubAck, TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use twinhub_hub::{
    EventSink, EventSinkError, Hub, HubConfig, HubEvent, IdentityKey, IdentityStatus,
    MemoryHubStore, ModelSource, ModelSourceError, NoModels, Peers, devca, sas, tls,
};
use twinhub_twin::DeviceModel;

/// Longest wait for anything in a test; only guards against hangs, never asserts timing.
const HANG_GUARD: Duration = Duration::from_secs(30);

pub const HOST: &str = "localhost";

pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, future).await {
        Ok(value) => value,
        Err(_) => panic!("gave up waiting for {what}"),
    }
}

/// Records every event and wakes waiters.
#[derive(Default)]
pub struct RecordingSink {
    events: Mutex<Vec<HubEvent>>,
    notify: Notify,
}

#[async_trait]
impl EventSink for RecordingSink {
    async fn publish(&self, event: HubEvent) -> Result<(), EventSinkError> {
        self.events.lock().expect("lock").push(event);
        self.notify.notify_waiters();
        Ok(())
    }
}

impl RecordingSink {
    /// The first recorded event matching `predicate`, waiting for it if needed.
    pub async fn wait_for(&self, predicate: impl Fn(&HubEvent) -> bool) -> HubEvent {
        within("an event", async {
            loop {
                let notified = self.notify.notified();
                if let Some(e) = self
                    .events
                    .lock()
                    .expect("lock")
                    .iter()
                    .find(|e| predicate(e))
                {
                    return e.clone();
                }
                notified.await;
            }
        })
        .await
    }

    pub fn all(&self) -> Vec<HubEvent> {
        self.events.lock().expect("lock").clone()
    }
}

/// Models by id, for tests that validate.
#[derive(Default)]
pub struct Models(pub HashMap<String, Arc<DeviceModel>>);

#[async_trait]
impl ModelSource for Models {
    async fn model(&self, model_id: &str) -> Result<Option<Arc<DeviceModel>>, ModelSourceError> {
        Ok(self.0.get(model_id).cloned())
    }
}

pub struct TestHub {
    pub hub: Hub,
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub dir: tempfile::TempDir,
    pub events: Arc<RecordingSink>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestHub {
    /// A hub on `127.0.0.{n}` with default limits and no models.
    pub async fn start(n: u8) -> TestHub {
        TestHub::start_with(n, Arc::new(NoModels), |_| {}).await
    }

    pub async fn start_with(
        n: u8,
        models: Arc<dyn ModelSource>,
        configure: impl FnOnce(&mut HubConfig),
    ) -> TestHub {
        TestHub::start_on(n, Arc::new(MemoryHubStore::new()), models, None, configure).await
    }

    /// A hub on `127.0.0.{n}` over `store`, which other hubs may share, with `peers` to reach
    /// them.
    pub async fn start_on(
        n: u8,
        store: Arc<MemoryHubStore>,
        models: Arc<dyn ModelSource>,
        peers: Option<Arc<dyn Peers>>,
        configure: impl FnOnce(&mut HubConfig),
    ) -> TestHub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ip = format!("127.0.0.{n}");
        let dir = tempfile::tempdir().expect("tempdir");
        let files =
            devca::write_dev_ca(dir.path(), &[HOST.to_owned(), ip.clone()]).expect("dev CA");
        let ca_pem = std::fs::read_to_string(&files.ca_cert).expect("ca");
        let server = tls::server_config_from_files(&files.server_cert, &files.server_key)
            .expect("server config");
        let mut config = HubConfig {
            host_names: vec![HOST.to_owned()],
            device_ca_roots: tls::parse_certificates(ca_pem.as_bytes(), "ca").expect("roots"),
            ..HubConfig::default()
        };
        configure(&mut config);
        let events = Arc::new(RecordingSink::default());
        let mut hub = Hub::new(store, models, config).with_events(events.clone());
        if let Some(peers) = peers {
            hub = hub.with_peers(peers);
        }
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = hub.clone();
        let task = tokio::spawn(async move {
            serving
                .serve_mqtt(listener, server, async {
                    let _ = stopped.await;
                })
                .await
        });
        TestHub {
            hub,
            addr,
            ca_pem,
            dir,
            events,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Registers a SAS device and returns its key and primary key.
    pub async fn sas_device(&self, id: &str) -> (IdentityKey, String) {
        let key = IdentityKey::device(id).expect("id");
        self.sas_identity(key).await
    }

    pub async fn sas_identity(&self, key: IdentityKey) -> (IdentityKey, String) {
        let identity = self
            .hub
            .create_identity(key.clone(), None, IdentityStatus::Enabled)
            .await
            .expect("create");
        let twinhub_hub::Authentication::Sas { primary_key, .. } = identity.authentication else {
            panic!("generated SAS");
        };
        (key, primary_key)
    }

    /// Connection options for a SAS identity, with a token valid for an hour and the user
    /// name the Python SDK sends.
    pub fn sas_options(
        &self,
        key: &IdentityKey,
        sas_key: &str,
        model_id: Option<&str>,
    ) -> MqttOptions {
        let expiry = unix_now() + 3600;
        let token = sas::identity_token(HOST, key, sas_key, expiry).expect("token");
        self.options(key, &user_name(key, model_id), &token, None)
    }

    /// Connection options with any user name and password, and optionally a client
    /// certificate (PEM cert, PEM key).
    pub fn options(
        &self,
        key: &IdentityKey,
        user: &str,
        password: &str,
        client_cert: Option<(&str, &str)>,
    ) -> MqttOptions {
        let mut options = MqttOptions::new(
            key.to_string(),
            self.addr.ip().to_string(),
            self.addr.port(),
        );
        options.set_credentials(user, password);
        options.set_clean_session(false);
        options.set_keep_alive(Duration::from_secs(60));
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(self.client_tls(client_cert)),
        )));
        options
    }

    pub fn client_tls(&self, client_cert: Option<(&str, &str)>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.expect("ca pem")).expect("root");
        }
        // TLS 1.2 only, as the Python device SDK.
        let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("versions")
            .with_root_certificates(roots);
        match client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cert");
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
                builder
                    .with_client_auth_cert(chain, key)
                    .expect("client auth")
            }
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            within("the hub to stop", task)
                .await
                .expect("join")
                .expect("serve");
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970")
}

/// The user name the Python SDK sends (with a model id as PnP devices do).
pub fn user_name(key: &IdentityKey, model_id: Option<&str>) -> String {
    let mut query = "api-version=2020-09-30&DeviceClientType=rumqttc-test".to_owned();
    if let Some(model) = model_id {
        query.push_str("&model-id=");
        query.push_str(&model.replace(':', "%3A").replace(';', "%3B"));
    }
    format!("{HOST}/{key}/?{query}")
}

/// A device: a rumqttc client whose event loop runs in a task, its events in a channel.
pub struct Device {
    pub client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    pump: JoinHandle<()>,
}

impl Device {
    pub fn start(options: MqttOptions) -> Device {
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(eventloop, tx));
        Device {
            client,
            events,
            pump,
        }
    }

    /// Starts the device and waits for its CONNACK.
    pub async fn connect(options: MqttOptions) -> (Device, ConnAck) {
        let mut device = Device::start(options);
        let ack = device.connack().await.expect("connected");
        (device, ack)
    }

    async fn next(&mut self) -> Result<Event, ConnectionError> {
        within("a device event", self.events.recv())
            .await
            .expect("the event loop task ended")
    }

    /// The CONNACK, or why the connection failed.
    pub async fn connack(&mut self) -> Result<ConnAck, ConnectionError> {
        loop {
            match self.next().await? {
                Event::Incoming(Incoming::ConnAck(ack)) => return Ok(ack),
                _ => continue,
            }
        }
    }

    /// The next PUBLISH from the hub.
    pub async fn publish(&mut self) -> Publish {
        loop {
            match self.next().await {
                Ok(Event::Incoming(Incoming::Publish(p))) => return p,
                Ok(_) => continue,
                Err(e) => panic!("connection failed while waiting for a PUBLISH: {e}"),
            }
        }
    }

    /// The next PUBLISH whose topic starts with `prefix`.
    /// Takes the next direct-method request and answers it with `status` and `body`;
    /// returns the request (its topic names the method).
    pub async fn answer_method(&mut self, status: u16, body: &str) -> Publish {
        let request = self.publish_on("$iothub/methods/POST/").await;
        let rid = request
            .topic
            .split_once("/?$rid=")
            .map(|(_, rid)| rid.to_owned())
            .expect("method topic with $rid");
        self.client
            .publish(
                format!("$iothub/methods/res/{status}/?$rid={rid}"),
                QoS::AtLeastOnce,
                false,
                body.to_owned(),
            )
            .await
            .expect("answer");
        request
    }

    pub async fn publish_on(&mut self, prefix: &str) -> Publish {
        loop {
            let p = self.publish().await;
            if p.topic.starts_with(prefix) {
                return p;
            }
        }
    }

    pub async fn suback(&mut self) -> SubAck {
        loop {
            match self.next().await {
                Ok(Event::Incoming(Incoming::SubAck(ack))) => return ack,
                Ok(_) => continue,
                Err(e) => panic!("connection failed while waiting for a SUBACK: {e}"),
            }
        }
    }

    pub async fn puback(&mut self) -> u16 {
        loop {
            match self.next().await {
                Ok(Event::Incoming(Incoming::PubAck(ack))) => return ack.pkid,
                Ok(_) => continue,
                Err(e) => panic!("connection failed while waiting for a PUBACK: {e}"),
            }
        }
    }

    /// Waits until the hub closes the connection; returns the error the client saw.
    pub async fn closed(&mut self) -> ConnectionError {
        loop {
            match self.next().await {
                Ok(_) => continue,
                Err(e) => return e,
            }
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str) -> SubAck {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        self.suback().await
    }

    /// Drops the connection without DISCONNECT (as a network failure would).
    pub async fn kill(self) {
        self.pump.abort();
        let _ = self.pump.await;
    }
}

async fn pump(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Result<Event, ConnectionError>>) {
    loop {
        let event = eventloop.poll().await;
        let failed = event.is_err();
        if tx.send(event).is_err() || failed {
            return;
        }
    }
}

/// A small PnP model: a thermostat root with a writable `targetTemperature`, a read-only
/// `maxTempSinceLastReboot`, telemetry `temperature` and command `getMaxMinReport`, and a
/// component `thermostat1` of the same interface.
pub const CONTROLLER: &str = "dtmi:com:example:Controller;1";

pub fn models() -> Arc<Models> {
    let thermostat = r#"{
      "@context": "dtmi:dtdl:context;2",
      "@id": "dtmi:com:example:Thermostat;1",
      "@type": "Interface",
      "contents": [
        {"@type": "Telemetry", "name": "temperature", "schema": "double"},
        {"@type": "Property", "name": "targetTemperature", "schema": "double", "writable": true},
        {"@type": "Property", "name": "maxTempSinceLastReboot", "schema": "double"},
        {"@type": "Command", "name": "getMaxMinReport",
         "request": {"name": "since", "schema": "dateTime"},
         "response": {"name": "report", "schema": "double"}}
      ]
    }"#;
    let controller = r#"{
      "@context": "dtmi:dtdl:context;2",
      "@id": "dtmi:com:example:Controller;1",
      "@type": "Interface",
      "extends": "dtmi:com:example:Thermostat;1",
      "contents": [
        {"@type": "Component", "name": "thermostat1", "schema": "dtmi:com:example:Thermostat;1"}
      ]
    }"#;
    let model = DeviceModel::from_documents(&[thermostat, controller], CONTROLLER).expect("model");
    let mut map = HashMap::new();
    map.insert(CONTROLLER.to_owned(), Arc::new(model));
    Arc::new(Models(map))
}

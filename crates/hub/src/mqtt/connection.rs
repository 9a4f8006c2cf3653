//! One device connection, from the TLS handshake to its close: CONNECT and authentication
//! (SAS token or client certificate), the persistent session, then a single task that reads
//! the device's packets, takes the hub's requests for it (desired pushes, method calls,
//! cloud-to-device messages, disconnects) and writes what results.
//!
//! Everything a device may do wrong closes its connection without touching anything else:
//! malformed or oversize packets, QoS 2, a topic that is not its own, a silent peer (1.5 ×
//! keepalive) or an expired token. A refused CONNECT gets its CONNACK code first: 1 for a
//! protocol other than MQTT 3.1.1, 2 for a client id that is no identity key, 4 for a user
//! name or password that cannot be read, 5 for credentials that do not prove the identity.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as CodecError, Protocol, QoS};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use twinhub_twin::{DesiredUpdate, DeviceModel, pnp, validate_telemetry};

use super::topics::{self, Bag, Feature, Inbound};
use crate::cluster::PeerNotice;
use crate::error::HubError;
use crate::events::{EventSource, HubEvent};
use crate::hub::{CommandResponse, Hub, LiveConnection, ToConnection, now};
use crate::identity::{Authentication, Identity, IdentityKey};
use crate::sas;
use crate::store::{C2dMessage, SessionRecord, Subscription};
use crate::tls::ClientCertificate;

/// How long a write to a device may take before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often, at most, a connection records activity in the store.
const ACTIVITY_INTERVAL: Duration = Duration::from_secs(60);

type Stream = TlsStream<TcpStream>;

/// Why a connection ended (for the log).
#[derive(Debug, thiserror::Error)]
enum Close {
    #[error("the device closed the connection")]
    PeerClosed,
    #[error("the device sent DISCONNECT")]
    Disconnect,
    #[error("the hub is shutting down")]
    Shutdown,
    #[error("nothing received for 1.5 times the keepalive")]
    KeepAlive,
    #[error("the SAS token expired")]
    TokenExpired,
    #[error("{0}")]
    Hub(&'static str),
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("I/O: {0}")]
    Io(std::io::Error),
}

/// Serves one accepted TCP connection until it closes.
pub(crate) async fn run(
    hub: Hub,
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shutdown: watch::Receiver<bool>,
) {
    // Setting up needs far more future state than an idle connection; boxed, it is freed
    // once the session runs instead of staying in every connection's task.
    if let Some((stream, conn, rx, rbuf)) = Box::pin(establish(&hub, tcp, peer, acceptor)).await {
        session(stream, conn, rx, rbuf, shutdown, peer).await;
    }
}

type Established = (
    Stream,
    Conn,
    mpsc::UnboundedReceiver<ToConnection>,
    BytesMut,
);

/// TLS, CONNECT, authentication and the session set-up; `None` when the connection was
/// refused (and answered, where MQTT has an answer).
async fn establish(
    hub: &Hub,
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
) -> Option<Established> {
    let opened = tokio::time::timeout(hub.config().connect_timeout, open(hub, tcp, acceptor)).await;
    let (mut stream, connect, rbuf) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(reason)) => {
            tracing::debug!(%peer, %reason, "connection closed before CONNECT");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "no TLS handshake and CONNECT in time");
            return None;
        }
    };
    let accepted = match accept(hub, &stream, &connect).await {
        Ok(accepted) => accepted,
        Err((code, reason)) => {
            tracing::warn!(%peer, client.id = %connect.client_id, code = ?code, %reason, "CONNECT refused");
            let mut out = BytesMut::new();
            if write_packet(&mut out, Packet::ConnAck(ConnAck::new(code, false))).is_ok() {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                    stream.write_all(&out).await?;
                    stream.shutdown().await
                })
                .await;
            }
            return None;
        }
    };
    let key = accepted.identity.key.clone();
    match Conn::start(hub, accepted, &connect).await {
        Ok((conn, rx)) => {
            tracing::info!(%peer, identity = %key, session.present = conn.session_present, "device connected");
            Some((stream, conn, rx, rbuf))
        }
        Err(error) => {
            tracing::error!(%peer, identity = %key, %error, "session could not be set up");
            let mut out = BytesMut::new();
            let refusal = ConnAck::new(ConnectReturnCode::ServiceUnavailable, false);
            if write_packet(&mut out, Packet::ConnAck(refusal)).is_ok() {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&out)).await;
            }
            None
        }
    }
}

/// Serves an established connection until it ends, then sends the will if due and records
/// the disconnection.
async fn session(
    mut stream: Stream,
    mut conn: Conn,
    rx: mpsc::UnboundedReceiver<ToConnection>,
    rbuf: BytesMut,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
) {
    let key = conn.key.clone();
    let close = conn.serve(&mut stream, rbuf, rx, shutdown).await;
    match &close {
        Close::PeerClosed | Close::Disconnect | Close::Shutdown => {
            tracing::info!(%peer, identity = %key, reason = %close, "device disconnected");
        }
        _ => tracing::warn!(%peer, identity = %key, reason = %close, "device connection closed"),
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.shutdown()).await;
    // MQTT sends the will when a connection ends without DISCONNECT; not when the hub ended
    // it on purpose (takeover, a disabled or deleted identity) or is shutting down.
    if !matches!(close, Close::Disconnect | Close::Shutdown | Close::Hub(_))
        && let Some((bag, body)) = conn.will.take()
        && let Err(reason) = Box::pin(conn.on_telemetry(bag, &body)).await
    {
        tracing::warn!(%peer, identity = %key, %reason, "will message not delivered");
    }
    Box::pin(conn.finish()).await;
}

/// The CONNECT's will when its topic is the identity's telemetry (the only will IoT Hub
/// accepts), marked `iothub-messagetype=Will` as IoT Hub marks it.
fn will_of(key: &IdentityKey, connect: &rumqttc::mqttbytes::v4::Connect) -> Option<(Bag, Bytes)> {
    let will = connect.last_will.as_ref()?;
    match topics::parse_inbound(key, &will.topic) {
        Ok(Inbound::Telemetry(mut bag)) => {
            bag.push(("iothub-messagetype".into(), Some("Will".into())));
            Some((bag, will.message.clone()))
        }
        _ => {
            tracing::info!(identity = %key, topic = %will.topic, "will on a topic other than telemetry ignored");
            None
        }
    }
}

/// TLS handshake, then the first packet, which must be CONNECT.
async fn open(
    hub: &Hub,
    tcp: TcpStream,
    acceptor: TlsAcceptor,
) -> Result<(Stream, rumqttc::mqttbytes::v4::Connect, BytesMut), String> {
    let mut stream = acceptor
        .accept(tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let mut rbuf = BytesMut::with_capacity(1024);
    loop {
        match Packet::read(&mut rbuf, hub.config().max_packet_bytes) {
            Ok(Packet::Connect(connect)) if connect.protocol == Protocol::V4 => {
                return Ok((stream, connect, rbuf));
            }
            Ok(Packet::Connect(_)) => {
                refuse_protocol(&mut stream).await;
                return Err("MQTT 5; only 3.1.1 is served".into());
            }
            Ok(other) => return Err(format!("first packet is not CONNECT but {other:?}")),
            Err(CodecError::InsufficientBytes(needed)) => {
                rbuf.reserve(needed);
                let n = stream
                    .read_buf(&mut rbuf)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed by the peer".into());
                }
            }
            Err(CodecError::InvalidProtocolLevel(level)) => {
                refuse_protocol(&mut stream).await;
                return Err(format!(
                    "MQTT protocol level {level}; only 4 (3.1.1) is served"
                ));
            }
            Err(e) => return Err(format!("malformed CONNECT: {e}")),
        }
    }
}

/// Answers CONNACK 1 (unacceptable protocol version), as MQTT 3.1.1 asks before closing.
async fn refuse_protocol(stream: &mut Stream) {
    let mut out = BytesMut::new();
    let refusal = ConnAck::new(ConnectReturnCode::RefusedProtocolVersion, false);
    if write_packet(&mut out, Packet::ConnAck(refusal)).is_ok() {
        let _ = stream.write_all(&out).await;
        let _ = stream.flush().await;
    }
}

/// What a successful CONNECT established.
struct Accepted {
    identity: Identity,
    model_id: Option<String>,
    token_expiry: Option<u64>,
}

type Refusal = (ConnectReturnCode, String);

/// Authenticates a CONNECT.
async fn accept(
    hub: &Hub,
    stream: &Stream,
    connect: &rumqttc::mqttbytes::v4::Connect,
) -> Result<Accepted, Refusal> {
    use ConnectReturnCode::{BadClientId, BadUserNamePassword, NotAuthorized, ServiceUnavailable};
    let key = IdentityKey::from_client_id(&connect.client_id)
        .map_err(|e| (BadClientId, e.to_string()))?;
    let login = connect
        .login
        .as_ref()
        .ok_or((BadUserNamePassword, "no user name".to_owned()))?;
    let user = topics::parse_user_name(
        &login.username,
        &connect.client_id,
        &hub.config().host_names,
    )
    .ok_or_else(|| {
        (
            BadUserNamePassword,
            "the user name is not {host}/{clientId}/?{query} for this hub".to_owned(),
        )
    })?;
    let identity = hub
        .store()
        .identity(&key)
        .await
        .map_err(|e| (ServiceUnavailable, e.to_string()))?
        .ok_or_else(|| (NotAuthorized, format!("{key} is not registered")))?;
    if !identity.is_enabled() {
        return Err((NotAuthorized, format!("{key} is disabled")));
    }
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(ClientCertificate::from_chain);
    let token_expiry = match &identity.authentication {
        Authentication::Sas {
            primary_key,
            secondary_key,
        } => {
            if login.password.is_empty() {
                return Err((BadUserNamePassword, "no SAS token as password".into()));
            }
            let now = u64::try_from(now().timestamp()).unwrap_or(0);
            let token = sas::verify_identity_token(
                &login.password,
                &key,
                &[primary_key, secondary_key],
                &hub.config().host_names,
                now,
            )
            .map_err(|e| (NotAuthorized, e.to_string()))?;
            Some(token.expiry)
        }
        Authentication::SelfSigned {
            primary_thumbprint,
            secondary_thumbprint,
        } => {
            let cert = certificate.ok_or((
                NotAuthorized,
                "no client certificate was presented".to_owned(),
            ))?;
            let known = std::iter::once(primary_thumbprint).chain(secondary_thumbprint);
            if !known.into_iter().any(|t| cert.has_thumbprint(t)) {
                return Err((
                    NotAuthorized,
                    format!("certificate {} is not registered for {key}", cert.sha1),
                ));
            }
            None
        }
        Authentication::CertificateAuthority => {
            let cert = certificate.ok_or((
                NotAuthorized,
                "no client certificate was presented".to_owned(),
            ))?;
            hub.device_ca()
                .verify(&cert)
                .map_err(|e| (NotAuthorized, format!("certificate chain: {e}")))?;
            if cert.common_name.as_deref() != Some(key.device_id.as_str()) {
                return Err((
                    NotAuthorized,
                    format!(
                        "certificate CN {:?} is not the device id {:?}",
                        cert.common_name, key.device_id
                    ),
                ));
            }
            None
        }
    };
    Ok(Accepted {
        identity,
        model_id: user.model_id,
        token_expiry,
    })
}

/// The state of one accepted connection.
struct Conn {
    hub: Hub,
    key: IdentityKey,
    id: u64,
    client_id: String,
    persistent: bool,
    session_present: bool,
    subscriptions: HashMap<Feature, (String, QoS)>,
    methods: Arc<AtomicBool>,
    model: Option<Arc<DeviceModel>>,
    last_desired: u64,
    /// How long the device may stay silent (1.5 × keepalive).
    keepalive: Duration,
    token_deadline: Option<Instant>,
    /// QoS 1 messages sent and not yet acknowledged: packet id → C2D message id.
    inflight: HashMap<u16, String>,
    c2d_inflight: HashSet<String>,
    next_pkid: u16,
    last_activity: Option<Instant>,
    /// The CONNECT's will, as a telemetry message (bag, body) to send if the connection ends
    /// without DISCONNECT.
    will: Option<(Bag, Bytes)>,
    out: BytesMut,
}

impl Conn {
    /// Registers the connection (taking over from a predecessor), restores or clears the
    /// session, puts the model id on the twin and queues the CONNACK.
    async fn start(
        hub: &Hub,
        accepted: Accepted,
        connect: &rumqttc::mqttbytes::v4::Connect,
    ) -> Result<(Conn, mpsc::UnboundedReceiver<ToConnection>), HubError> {
        let key = accepted.identity.key.clone();
        let live = hub.live();
        let id = live.next_id();
        let (tx, rx) = mpsc::unbounded_channel();
        let methods = Arc::new(AtomicBool::new(false));
        {
            let _serial = live.state_lock(&key).lock().await;
            live.register(
                &key,
                LiveConnection {
                    id,
                    tx,
                    methods: methods.clone(),
                },
            );
            if let Err(e) = hub
                .store()
                .claim_connection(&key, hub.instance_id(), now())
                .await
            {
                live.deregister(&key, id);
                return Err(e.into());
            }
        }
        hub.notify_peers(PeerNotice::Connected {
            key: key.clone(),
            instance: hub.instance_id().to_owned(),
        })
        .await;
        // Whatever fails from here on must not leave the identity registered as connected.
        let set_up = async {
            let client_id = connect.client_id.clone();
            let persistent = !connect.clean_session;
            let mut subscriptions = HashMap::new();
            let session_present = if persistent {
                match hub.store().session(&client_id).await? {
                    Some(session) => {
                        for s in session.subscriptions {
                            if let Some(feature) = topics::feature_of(&key, &s.filter) {
                                let qos = if s.qos == 0 {
                                    QoS::AtMostOnce
                                } else {
                                    QoS::AtLeastOnce
                                };
                                subscriptions.insert(feature, (s.filter, qos));
                            }
                        }
                        true
                    }
                    None => {
                        hub.store()
                            .save_session(&client_id, &SessionRecord::default())
                            .await?;
                        false
                    }
                }
            } else {
                hub.store().delete_session(&client_id).await?;
                false
            };
            methods.store(
                subscriptions.contains_key(&Feature::Methods),
                Ordering::Release,
            );
            let record = hub.device_model_id(&key, accepted.model_id).await?;
            let model = hub.model_of(&record.twin, false).await?;
            let token_deadline = accepted.token_expiry.map(|expiry| {
                let left = expiry.saturating_sub(u64::try_from(now().timestamp()).unwrap_or(0));
                Instant::now() + Duration::from_secs(left)
            });
            let keepalive = silence_limit(connect.keep_alive);
            let mut conn = Conn {
                hub: hub.clone(),
                key: key.clone(),
                id,
                client_id,
                persistent,
                session_present,
                subscriptions,
                methods: methods.clone(),
                model,
                last_desired: record.twin.desired_version(),
                keepalive,
                token_deadline,
                inflight: HashMap::new(),
                c2d_inflight: HashSet::new(),
                next_pkid: 0,
                last_activity: None,
                will: will_of(&key, connect),
                out: BytesMut::with_capacity(256),
            };
            conn.queue(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::Success,
                session_present,
            )));
            hub.emit(conn.connection_event("deviceConnected")).await;
            conn.deliver_c2d().await;
            Ok::<_, HubError>(conn)
        };
        match set_up.await {
            Ok(conn) => Ok((conn, rx)),
            Err(error) => {
                let _serial = live.state_lock(&key).lock().await;
                if live.deregister(&key, id)
                    && let Err(e) = hub
                        .store()
                        .release_connection(&key, hub.instance_id(), now())
                        .await
                {
                    tracing::error!(identity = %key, error = %e, "disconnection not recorded");
                }
                Err(error)
            }
        }
    }

    fn connection_event(&self, op: &str) -> HubEvent {
        HubEvent::operation(
            EventSource::DeviceConnectionStateEvents,
            self.key.clone(),
            now(),
            op,
            "deviceConnectionStateNotification",
            json!({ "sequenceNumber": format!("{:016x}", self.id) })
                .to_string()
                .into_bytes(),
        )
    }

    /// The read / request / write loop.
    async fn serve(
        &mut self,
        stream: &mut Stream,
        mut rbuf: BytesMut,
        mut rx: mpsc::UnboundedReceiver<ToConnection>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Close {
        let max_packet = self.hub.config().max_packet_bytes;
        let mut last_read = Instant::now();
        loop {
            // Packets already buffered (CONNECT may have arrived with more behind it).
            loop {
                match Packet::read(&mut rbuf, max_packet) {
                    Ok(packet) => {
                        if let Err(close) = Box::pin(self.on_packet(packet)).await {
                            let _ = self.flush(stream).await;
                            return close;
                        }
                    }
                    Err(CodecError::InsufficientBytes(needed)) => {
                        rbuf.reserve(needed);
                        break;
                    }
                    Err(e) => {
                        let _ = self.flush(stream).await;
                        return Close::Protocol(format!("unreadable packet: {e}"));
                    }
                }
            }
            if let Err(close) = self.flush(stream).await {
                return close;
            }
            let silent_until = last_read + self.keepalive;
            let token = self.token_deadline;
            tokio::select! {
                _ = shutdown.changed() => return Close::Shutdown,
                request = rx.recv() => match request {
                    Some(request) => {
                        if let Err(close) = Box::pin(self.on_request(request)).await {
                            let _ = self.flush(stream).await;
                            return close;
                        }
                    }
                    None => return Close::Hub("the hub dropped the connection"),
                },
                read = stream.read_buf(&mut rbuf) => match read {
                    Ok(0) => return Close::PeerClosed,
                    Ok(_) => last_read = Instant::now(),
                    Err(e) => return Close::Io(e),
                },
                () = tokio::time::sleep_until(silent_until) => return Close::KeepAlive,
                () = sleep_until(token), if token.is_some() => return Close::TokenExpired,
            }
        }
    }

    async fn flush(&mut self, stream: &mut Stream) -> Result<(), Close> {
        if self.out.is_empty() {
            return Ok(());
        }
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            stream.write_all(&self.out).await?;
            stream.flush().await
        })
        .await;
        self.out.clear();
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Close::Io(e)),
            Err(_) => Err(Close::Protocol("the device stopped reading".into())),
        }
    }

    fn queue(&mut self, packet: Packet) {
        if let Err(e) = write_packet(&mut self.out, packet) {
            tracing::error!(identity = %self.key, error = %e, "packet not encodable; dropped");
        }
    }

    fn publish(&mut self, topic: String, qos: QoS, payload: Bytes, dup: bool) -> u16 {
        let pkid = if qos == QoS::AtMostOnce {
            0
        } else {
            self.allocate_pkid()
        };
        self.queue(Packet::Publish(Publish {
            dup,
            qos,
            retain: false,
            topic,
            pkid,
            payload,
        }));
        pkid
    }

    fn allocate_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
            if !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }

    fn subscribed(&self, feature: Feature) -> Option<QoS> {
        self.subscriptions.get(&feature).map(|(_, qos)| *qos)
    }

    async fn on_packet(&mut self, packet: Packet) -> Result<(), Close> {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish).await,
            Packet::PubAck(ack) => {
                if let Some(message_id) = self.inflight.remove(&ack.pkid) {
                    self.c2d_inflight.remove(&message_id);
                    if let Err(error) = self.hub.store().complete_c2d(&self.key, &message_id).await
                    {
                        tracing::error!(identity = %self.key, %error, "C2D acknowledgement not recorded");
                    }
                    self.deliver_c2d().await;
                }
                Ok(())
            }
            Packet::Subscribe(subscribe) => {
                let mut codes = Vec::with_capacity(subscribe.filters.len());
                for filter in subscribe.filters {
                    match topics::feature_of(&self.key, &filter.path) {
                        Some(feature) => {
                            let qos = match filter.qos {
                                QoS::AtMostOnce => QoS::AtMostOnce,
                                _ => QoS::AtLeastOnce,
                            };
                            self.subscriptions.insert(feature, (filter.path, qos));
                            codes.push(SubscribeReasonCode::Success(qos));
                        }
                        None => {
                            tracing::warn!(identity = %self.key, filter = %filter.path, "subscription refused");
                            codes.push(SubscribeReasonCode::Failure);
                        }
                    }
                }
                self.subscriptions_changed().await?;
                self.queue(Packet::SubAck(SubAck::new(subscribe.pkid, codes)));
                self.deliver_c2d().await;
                Ok(())
            }
            Packet::Unsubscribe(unsubscribe) => {
                self.subscriptions
                    .retain(|_, (filter, _)| !unsubscribe.topics.contains(filter));
                self.subscriptions_changed().await?;
                self.queue(Packet::UnsubAck(UnsubAck::new(unsubscribe.pkid)));
                Ok(())
            }
            Packet::PingReq => {
                self.queue(Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect => Err(Close::Disconnect),
            Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_) => {
                Err(Close::Protocol("QoS 2 is not supported".into()))
            }
            other => Err(Close::Protocol(format!("unexpected packet {other:?}"))),
        }
    }

    async fn subscriptions_changed(&mut self) -> Result<(), Close> {
        self.methods.store(
            self.subscriptions.contains_key(&Feature::Methods),
            Ordering::Release,
        );
        if !self.persistent {
            return Ok(());
        }
        let mut subscriptions: Vec<Subscription> = self
            .subscriptions
            .values()
            .map(|(filter, qos)| Subscription {
                filter: filter.clone(),
                qos: *qos as u8,
            })
            .collect();
        subscriptions.sort_by(|a, b| a.filter.cmp(&b.filter));
        self.hub
            .store()
            .save_session(&self.client_id, &SessionRecord { subscriptions })
            .await
            .map_err(|e| {
                tracing::error!(identity = %self.key, error = %e, "session not saved");
                Close::Hub("the session could not be saved")
            })
    }

    async fn on_publish(&mut self, publish: Publish) -> Result<(), Close> {
        if publish.qos == QoS::ExactlyOnce {
            return Err(Close::Protocol(
                "QoS 2 PUBLISH; IoT Hub accepts QoS 0 and 1".into(),
            ));
        }
        let inbound = topics::parse_inbound(&self.key, &publish.topic)
            .map_err(|e| Close::Protocol(e.to_string()))?;
        self.record_activity().await;
        let acknowledge = match inbound {
            Inbound::Telemetry(bag) => self.on_telemetry(bag, &publish.payload).await?,
            Inbound::TwinGet { rid } => {
                let (status, body) = match self.hub.twin(&self.key).await {
                    Ok(record) => (200, record.twin.device_document().to_string()),
                    Err(e) => error_response(&self.key, &e),
                };
                self.twin_response(status, &rid, None, body);
                true
            }
            Inbound::ReportedPatch { rid } => {
                let patch = serde_json::from_slice::<Value>(&publish.payload);
                let result = match patch {
                    Ok(patch) => {
                        self.hub
                            .device_reported(&self.key, &patch, self.model.as_deref())
                            .await
                    }
                    Err(e) => Err(HubError::Invalid(format!(
                        "the reported patch is not JSON: {e}"
                    ))),
                };
                match result {
                    Ok(version) => self.twin_response(204, &rid, Some(version), String::new()),
                    Err(e) => {
                        let (status, body) = error_response(&self.key, &e);
                        self.twin_response(status, &rid, None, body);
                    }
                }
                true
            }
            Inbound::MethodResponse { status, rid } => {
                let payload = method_payload(&publish.payload);
                if !self.hub.live().answer_method(
                    &self.key,
                    &rid,
                    CommandResponse { status, payload },
                ) {
                    tracing::info!(identity = %self.key, rid = %rid, "method answer for no waiting call");
                }
                true
            }
        };
        if acknowledge && publish.qos == QoS::AtLeastOnce {
            self.queue(Packet::PubAck(PubAck::new(publish.pkid)));
        }
        Ok(())
    }

    fn twin_response(&mut self, status: u16, rid: &str, version: Option<u64>, body: String) {
        // IoT Hub sends twin responses, desired updates and method requests at QoS 0,
        // whatever the subscription granted (hub-protocol.md §3.3).
        if self.subscribed(Feature::TwinResponses).is_some() {
            let topic = topics::twin_response_topic(status, rid, version);
            self.publish(topic, QoS::AtMostOnce, Bytes::from(body), false);
        }
    }

    /// Hands a telemetry message to the event sink. Returns whether to acknowledge it.
    async fn on_telemetry(&mut self, bag: Bag, payload: &Bytes) -> Result<bool, Close> {
        let limit = self.hub.config().max_message_bytes;
        if payload.len() > limit {
            return Err(Close::Protocol(format!(
                "telemetry of {} bytes; at most {limit} are accepted",
                payload.len()
            )));
        }
        let mut event = HubEvent {
            source: EventSource::Telemetry,
            key: self.key.clone(),
            time: now(),
            op_type: None,
            message_schema: None,
            message_id: None,
            correlation_id: None,
            user_id: None,
            content_type: None,
            content_encoding: None,
            properties: Vec::new(),
            component: None,
            model_id: self.model.as_ref().map(|m| m.root().to_owned()),
            body: payload.to_vec(),
            violations: Vec::new(),
        };
        for (k, v) in bag {
            match k.as_str() {
                "$.mid" => event.message_id = v,
                "$.cid" => event.correlation_id = v,
                "$.uid" => event.user_id = v,
                "$.ct" => event.content_type = v,
                "$.ce" => event.content_encoding = v,
                pnp::TELEMETRY_COMPONENT_PROPERTY => event.component = v,
                _ => event.properties.push((k, v)),
            }
        }
        if let Some(model) = &self.model {
            event.violations = match serde_json::from_slice::<Value>(payload) {
                Ok(body) => validate_telemetry(model, event.component.as_deref(), &body),
                Err(_) => validate_telemetry(
                    model,
                    event.component.as_deref(),
                    &Value::String(String::from_utf8_lossy(payload).into_owned()),
                ),
            };
            if !event.violations.is_empty()
                && let Err(error) = self.hub.count_violation(&self.key).await
            {
                tracing::warn!(identity = %self.key, %error, "telemetry violation not counted");
            }
        }
        if self.hub.try_emit(event).await {
            Ok(true)
        } else {
            // Not acknowledged: the device sends it again after reconnecting.
            Err(Close::Hub("the event sink refused telemetry"))
        }
    }

    async fn record_activity(&mut self) {
        if self
            .last_activity
            .is_some_and(|at| at.elapsed() < ACTIVITY_INTERVAL)
        {
            return;
        }
        self.last_activity = Some(Instant::now());
        if let Err(error) = self.hub.store().record_activity(&self.key, now()).await {
            tracing::warn!(identity = %self.key, %error, "activity not recorded");
        }
    }

    async fn on_request(&mut self, request: ToConnection) -> Result<(), Close> {
        match request {
            ToConnection::Desired(update) => {
                self.push_desired(update).await;
                Ok(())
            }
            ToConnection::Method { name, rid, payload } => {
                if self.subscribed(Feature::Methods).is_some() {
                    let topic = topics::method_topic(&name, &rid);
                    self.publish(topic, QoS::AtMostOnce, Bytes::from(payload), false);
                }
                Ok(())
            }
            ToConnection::C2d => {
                self.deliver_c2d().await;
                Ok(())
            }
            ToConnection::Disconnect(reason) => Err(Close::Hub(reason)),
        }
    }

    /// Sends a desired change in `$version` order: a change right after the last one sent
    /// goes as it is; one that skips ahead (an earlier one is still on its way) sends the
    /// whole desired section instead; one already covered is dropped.
    async fn push_desired(&mut self, update: DesiredUpdate) {
        if update.version <= self.last_desired {
            return;
        }
        if self.subscribed(Feature::DesiredUpdates).is_none() {
            // The device reads the twin when it subscribes; nothing to catch up on.
            self.last_desired = update.version;
            return;
        }
        let (version, body) = if update.version == self.last_desired + 1 {
            (update.version, update.patch)
        } else {
            match self.hub.twin(&self.key).await {
                Ok(record) => {
                    let document = record.twin.device_document();
                    (
                        record.twin.desired_version(),
                        document.get("desired").cloned().unwrap_or(Value::Null),
                    )
                }
                Err(error) => {
                    tracing::error!(identity = %self.key, %error, "desired state not pushed");
                    return;
                }
            }
        };
        self.last_desired = version;
        self.publish(
            topics::desired_topic(version),
            QoS::AtMostOnce,
            Bytes::from(body.to_string()),
            false,
        );
    }

    /// Sends the pending cloud-to-device messages not yet in flight, up to the in-flight
    /// limit, when the session subscribes to them.
    async fn deliver_c2d(&mut self) {
        let Some(qos) = self.subscribed(Feature::CloudToDevice) else {
            return;
        };
        let limit = self.hub.config().max_inflight;
        if self.inflight.len() >= limit {
            return;
        }
        let pending = match self.hub.store().pending_c2d(&self.key, now()).await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::error!(identity = %self.key, %error, "pending C2D messages not read");
                return;
            }
        };
        for message in pending {
            if self.inflight.len() >= limit {
                break;
            }
            if self.c2d_inflight.contains(&message.message_id) {
                continue;
            }
            let topic = topics::c2d_topic(&self.key.device_id, &c2d_bag(&self.key, &message));
            let dup = message.delivery_count > 0;
            let pkid = self.publish(topic, qos, Bytes::from(message.body.clone()), dup);
            if let Err(error) = self
                .hub
                .store()
                .mark_c2d_sent(&self.key, &message.message_id)
                .await
            {
                tracing::warn!(identity = %self.key, %error, "C2D delivery not counted");
            }
            if qos == QoS::AtMostOnce {
                // Nothing will acknowledge it: sent is done.
                if let Err(error) = self
                    .hub
                    .store()
                    .complete_c2d(&self.key, &message.message_id)
                    .await
                {
                    tracing::error!(identity = %self.key, %error, "C2D completion not recorded");
                }
            } else {
                self.c2d_inflight.insert(message.message_id.clone());
                self.inflight.insert(pkid, message.message_id);
            }
        }
    }

    /// Deregisters the connection (unless a successor took over) and records the
    /// disconnection.
    async fn finish(self) {
        let live = self.hub.live();
        let _serial = live.state_lock(&self.key).lock().await;
        if !live.deregister(&self.key, self.id) {
            return;
        }
        let released = self
            .hub
            .store()
            .release_connection(&self.key, self.hub.instance_id(), now())
            .await;
        match released {
            Ok(true) => {
                self.hub
                    .emit(self.connection_event("deviceDisconnected"))
                    .await;
            }
            // Another instance took the identity over (its connection stands), or it was
            // deleted.
            Ok(false) | Err(crate::store::HubStoreError::NotFound(_)) => {}
            Err(error) => {
                tracing::error!(identity = %self.key, %error, "disconnection not recorded");
            }
        }
    }
}

/// IoT Hub's longest keepalive, used for 0 ("none") and anything longer, so that a dead
/// connection is always noticed.
const MAX_KEEPALIVE_SECONDS: u16 = 1767;

/// How long a connection may stay silent: 1.5 × its keepalive.
fn silence_limit(keep_alive: u16) -> Duration {
    let seconds = match keep_alive {
        0 => MAX_KEEPALIVE_SECONDS,
        k => k.min(MAX_KEEPALIVE_SECONDS),
    };
    Duration::from_millis(u64::from(seconds) * 1500)
}

fn write_packet(out: &mut BytesMut, packet: Packet) -> Result<usize, CodecError> {
    packet.write(out, usize::MAX)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The status and body of a twin response for a failed operation.
fn error_response(key: &IdentityKey, error: &HubError) -> (u16, String) {
    let status = match error {
        HubError::Twin(_) | HubError::Invalid(_) => 400,
        HubError::NotFound(_) => 404,
        _ => {
            tracing::error!(identity = %key, %error, "twin operation failed");
            500
        }
    };
    let body = json!({ "errorCode": status, "message": error.to_string() });
    (status, body.to_string())
}

/// A method answer's payload: JSON, `null` when empty, the text otherwise.
fn method_payload(payload: &[u8]) -> Value {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

/// The property bag of a C2D message as IoT Hub sends it.
fn c2d_bag(key: &IdentityKey, message: &C2dMessage) -> String {
    use std::borrow::Cow;
    let to = format!("/devices/{}/messages/deviceBound", key.device_id);
    let mut bag: Vec<(Cow<'_, str>, Option<Cow<'_, str>>)> = vec![
        ("$.mid".into(), Some(message.message_id.as_str().into())),
        ("$.to".into(), Some(to.into())),
    ];
    let system = [
        ("$.cid", &message.correlation_id),
        ("$.uid", &message.user_id),
        ("$.ct", &message.content_type),
        ("$.ce", &message.content_encoding),
    ];
    for (name, value) in system {
        if let Some(value) = value {
            bag.push((name.into(), Some(value.as_str().into())));
        }
    }
    for (name, value) in &message.properties {
        bag.push((name.as_str().into(), value.as_deref().map(Cow::from)));
    }
    topics::encode_bag(&bag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HubConfig;
    use crate::hub::TwinUpdate;
    use crate::identity::IdentityStatus;
    use crate::memory::MemoryHubStore;
    use crate::models::NoModels;

    async fn connection(hub: &Hub, key: &IdentityKey) -> Conn {
        let mut subscriptions = HashMap::new();
        subscriptions.insert(
            Feature::DesiredUpdates,
            (
                "$iothub/twin/PATCH/properties/desired/#".to_owned(),
                QoS::AtLeastOnce,
            ),
        );
        Conn {
            hub: hub.clone(),
            key: key.clone(),
            id: 1,
            client_id: key.to_string(),
            persistent: true,
            session_present: false,
            subscriptions,
            methods: Arc::new(AtomicBool::new(false)),
            model: None,
            last_desired: 1,
            keepalive: Duration::from_secs(60),
            token_deadline: None,
            inflight: HashMap::new(),
            c2d_inflight: HashSet::new(),
            next_pkid: 0,
            last_activity: None,
            will: None,
            out: BytesMut::new(),
        }
    }

    fn sent(conn: &mut Conn) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Ok(Packet::Publish(p)) = Packet::read(&mut conn.out, usize::MAX) {
            let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
            out.push((p.topic, body));
        }
        out
    }

    #[test]
    fn the_silence_limit_is_one_and_a_half_keepalives_capped_as_iot_hub_caps_it() {
        assert_eq!(silence_limit(30), Duration::from_secs(45));
        assert_eq!(silence_limit(0), Duration::from_millis(1767 * 1500));
        assert_eq!(silence_limit(u16::MAX), Duration::from_millis(1767 * 1500));
    }

    #[tokio::test]
    async fn desired_changes_reach_the_device_in_version_order() {
        let hub = Hub::new(
            Arc::new(MemoryHubStore::new()),
            Arc::new(NoModels),
            HubConfig::default(),
        );
        let key = IdentityKey::device("d1").expect("id");
        hub.create_identity(key.clone(), None, IdentityStatus::Enabled)
            .await
            .expect("create");
        let mut updates = Vec::new();
        for (name, value) in [("a", 1), ("b", 2), ("a", 3)] {
            let update = TwinUpdate {
                desired: Some(json!({ name: value })),
                ..TwinUpdate::default()
            };
            hub.update_twin(&key, update.clone(), None, false)
                .await
                .expect("update");
            let record = hub.twin(&key).await.expect("twin");
            let mut patch = json!({ name: value });
            patch["$version"] = json!(record.twin.desired_version());
            updates.push(DesiredUpdate {
                version: record.twin.desired_version(),
                patch,
            });
        }
        let mut conn = connection(&hub, &key).await;
        // Version 3 arrives before version 2: the device gets the whole section at 3...
        conn.push_desired(updates[1].clone()).await;
        assert_eq!(
            sent(&mut conn),
            vec![(
                "$iothub/twin/PATCH/properties/desired/?$version=4".to_owned(),
                json!({"a": 3, "b": 2, "$version": 4})
            )]
        );
        // ...and the late ones are dropped, being covered.
        conn.push_desired(updates[0].clone()).await;
        conn.push_desired(updates[2].clone()).await;
        assert!(sent(&mut conn).is_empty());

        let mut conn = connection(&hub, &key).await;
        conn.push_desired(updates[0].clone()).await;
        assert_eq!(
            sent(&mut conn),
            vec![(
                "$iothub/twin/PATCH/properties/desired/?$version=2".to_owned(),
                json!({"a": 1, "$version": 2})
            )]
        );
    }
}

//! Scale-out over NATS (`--nats-url`): [`NatsPeers`], the hub's [`Peers`] for instances that
//! share one database. Notices (a takeover, a desired change, a cloud-to-device message, a
//! disabled or deleted identity) are broadcast on `twinhub.cluster.{hub}.notice`; a direct
//! method for a device another instance serves is a NATS request on that instance's own
//! subject, `twinhub.cluster.{hub}.method.{hex of its id}`, answered with the device's
//! response. Which instance serves a device is in the database (the hub's store), so a lost
//! notice only delays what the database already holds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use twinhub_hub::{CommandResponse, Hub, PeerCallError, PeerMethodCall, PeerNotice, Peers};

/// How much longer than the device's own timeout a forwarded call waits for the instance
/// serving it, so the device's timeout, not the transport's, decides.
const FORWARD_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {reason}; start it or fix --nats-url")]
    Connect { url: String, reason: String },
    #[error("cannot subscribe to {subject} on NATS: {reason}")]
    Subscribe { subject: String, reason: String },
}

/// A notice with its sender, so an instance skips its own.
#[derive(Serialize, Deserialize)]
struct NoticeEnvelope {
    from: String,
    notice: PeerNotice,
}

/// This instance's link to the others.
pub struct NatsPeers {
    client: async_nats::Client,
    notices: String,
    methods_prefix: String,
    instance: String,
}

/// What the other instances send this one, to hand to the hub with [`NatsPeers::serve`].
pub struct Inbound {
    notices: async_nats::Subscriber,
    methods: async_nats::Subscriber,
}

impl NatsPeers {
    /// Connects to NATS and subscribes to the notices and to this instance's method subject.
    pub async fn connect(
        url: &str,
        hub_name: &str,
        instance: &str,
    ) -> Result<(Arc<NatsPeers>, Inbound), ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("twinhub {instance}"))
            .connect(url)
            .await
            .map_err(|e| ClusterError::Connect {
                url: crate::config::redact_url(url),
                reason: e.to_string(),
            })?;
        let peers = NatsPeers {
            client,
            notices: format!("twinhub.cluster.{hub_name}.notice"),
            methods_prefix: format!("twinhub.cluster.{hub_name}.method"),
            instance: instance.to_owned(),
        };
        let subscribe = |subject: String| {
            let client = peers.client.clone();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| ClusterError::Subscribe {
                        subject,
                        reason: e.to_string(),
                    })
            }
        };
        let inbound = Inbound {
            notices: subscribe(peers.notices.clone()).await?,
            methods: subscribe(peers.method_subject(instance)).await?,
        };
        tracing::info!(%instance, "scale-out over NATS: listening for the other instances");
        Ok((Arc::new(peers), inbound))
    }

    /// Instance ids hold `/`, `:` and dots; hex keeps each a single subject token.
    fn method_subject(&self, instance: &str) -> String {
        format!("{}.{}", self.methods_prefix, hex::encode(instance))
    }

    /// Hands what the other instances send to `hub`, until the connection closes for good.
    pub fn serve(self: &Arc<Self>, hub: Hub, inbound: Inbound) {
        let Inbound {
            mut notices,
            mut methods,
        } = inbound;
        let me = self.instance.clone();
        let notice_hub = hub.clone();
        tokio::spawn(async move {
            while let Some(message) = notices.next().await {
                match serde_json::from_slice::<NoticeEnvelope>(&message.payload) {
                    Ok(envelope) if envelope.from == me => {}
                    Ok(envelope) => notice_hub.on_peer_notice(envelope.notice).await,
                    Err(error) => tracing::warn!(%error, "unreadable notice from another instance"),
                }
            }
        });
        let client = self.client.clone();
        tokio::spawn(async move {
            while let Some(message) = methods.next().await {
                let Some(reply) = message.reply.clone() else {
                    continue;
                };
                let hub = hub.clone();
                let client = client.clone();
                // Each call waits for its device; one slow device must not hold up others.
                tokio::spawn(async move {
                    let answer = match serde_json::from_slice::<PeerMethodCall>(&message.payload) {
                        Ok(call) => hub.on_peer_method(call).await,
                        Err(error) => Err(PeerCallError::Failed(format!(
                            "the forwarded call is unreadable: {error}"
                        ))),
                    };
                    let body = serde_json::to_vec(&answer).unwrap_or_default();
                    if let Err(error) = client.publish(reply, body.into()).await {
                        tracing::warn!(%error, "the answer to a forwarded method was not sent");
                    }
                });
            }
        });
    }
}

#[async_trait]
impl Peers for NatsPeers {
    async fn notify(&self, notice: &PeerNotice) {
        let envelope = NoticeEnvelope {
            from: self.instance.clone(),
            notice: notice.clone(),
        };
        let body = match serde_json::to_vec(&envelope) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "notice not serialised");
                return;
            }
        };
        if let Err(error) = self.client.publish(self.notices.clone(), body.into()).await {
            tracing::warn!(%error, "notice to the other instances not sent");
        }
    }

    async fn call_method(
        &self,
        instance: &str,
        call: &PeerMethodCall,
    ) -> Result<CommandResponse, PeerCallError> {
        let body = serde_json::to_vec(call)
            .map_err(|e| PeerCallError::Failed(format!("the call cannot be serialised: {e}")))?;
        let request = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(
                Duration::from_millis(call.timeout_ms).saturating_add(FORWARD_MARGIN),
            ));
        let answer = self
            .client
            .send_request(self.method_subject(instance), request)
            .await
            .map_err(|error| match error.kind() {
                async_nats::RequestErrorKind::NoResponders => PeerCallError::Offline,
                async_nats::RequestErrorKind::TimedOut => PeerCallError::Timeout,
                _ => PeerCallError::Failed(error.to_string()),
            })?;
        serde_json::from_slice::<Result<CommandResponse, PeerCallError>>(&answer.payload)
            .map_err(|e| PeerCallError::Failed(format!("unreadable answer from {instance}: {e}")))?
    }
}

/// The default instance id: stable across restarts of the same deployment (host name and
/// MQTT address), so a restart releases the connections its predecessor recorded.
pub fn default_instance_id(hub_bind: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "twinhub".to_owned());
    if hub_bind.port() == 0 {
        // A port picked at bind time names nothing stable; keep instances apart at least.
        return format!("{host}/{hub_bind}/{:08x}", rand::random::<u32>());
    }
    format!("{host}/{hub_bind}")
}

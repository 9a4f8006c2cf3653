//! Message routing wired into twinhub (issue 12): the `[routing]` settings (endpoints, routes,
//! fallback), the [`Router`] started over the database's outbox at startup, and
//! [`RoutingSink`], the hub's [`EventSink`] that turns each [`HubEvent`] into a routing
//! [`Envelope`] (with the device's twin when a route looks at `$twin`, and its model when a
//! route annotates telemetry) and hands it to the router. The hub acknowledges a device's
//! QoS 1 telemetry only after the sink returns, and the router returns only once every
//! matching copy is in the outbox, so an acknowledged message survives a crash.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinhub_hub::{EventSink, EventSinkError, EventSource, HubEvent, HubStore, ModelSource};
use twinhub_routing::{
    BuiltinEndpoint, EndpointName, EnrichmentValue, Envelope, EventParts, FallbackRoute,
    GroupAppend, GroupCommit, LaneConfig, MessageSource, NatsConfig, NatsEndpoint, Properties,
    RetryPolicy, Route, RouteInput, RouteSet, Router, TelemetryParts, WebhookConfig,
    WebhookEndpoint,
};

use crate::store::{RoutingStore, SqlTelemetryStore};

/// The most outbox entries (or stored telemetry messages) one group commit takes.
const GROUP_COMMIT_ENTRIES: usize = 512;
/// Deliveries in flight at once on the built-in endpoint's lane.
const BUILTIN_CONCURRENCY: usize = 128;

/// The name of the built-in endpoint, always present.
pub const BUILTIN: &str = "builtin";

/// `[routing]` in the TOML file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// The hub's name: `$iothubname`, and the second token of NATS subjects.
    pub hub_name: String,
    /// Telemetry messages the built-in endpoint keeps per device.
    pub telemetry_keep: usize,
    /// `[[routing.endpoints]]`, beside the built-in one.
    pub endpoints: Vec<EndpointSettings>,
    /// `[[routing.routes]]`, evaluated before the routes stored through the API.
    pub routes: Vec<Route>,
    /// `[routing.fallback]`: telemetry that matches no route. Without routes or fallback,
    /// telemetry goes to the built-in endpoint (IoT Hub's default fallback).
    pub fallback: Option<FallbackRoute>,
}

impl Default for RoutingSettings {
    fn default() -> RoutingSettings {
        RoutingSettings {
            hub_name: "twinhub".to_owned(),
            telemetry_keep: 100,
            endpoints: Vec::new(),
            routes: Vec::new(),
            fallback: None,
        }
    }
}

/// One endpoint: `kind = "nats"` (`url`, `stream`, `subject_prefix`) or `kind = "webhook"`
/// (`url`, `secret`), with the lane's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    pub name: String,
    pub kind: EndpointKind,
    /// NATS server URL or webhook URL.
    pub url: String,
    /// JetStream stream (NATS; created if missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// First subject token (NATS) [default: `twinhub`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_prefix: Option<String>,
    /// HMAC-SHA256 key of the `X-Twinhub-Signature` header (webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Attempts before a copy is dead-lettered [default: 8].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The wait after the first failure, doubling after each [default: 200 ms].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff_ms: Option<u64>,
    /// Deliveries in flight at once [default: 16].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Copies queued in memory before devices wait (backpressure) [default: 1024].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
    /// Time one delivery may take: the whole webhook request, answer included [default:
    /// 10 000 ms], or JetStream's acknowledgement of a publish [default: 5 000 ms].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    Nats,
    Webhook,
}

impl EndpointSettings {
    fn lane(&self) -> LaneConfig {
        let defaults = LaneConfig::default();
        let retry = RetryPolicy::default();
        LaneConfig {
            capacity: self.capacity.unwrap_or(defaults.capacity),
            concurrency: self.concurrency.unwrap_or(defaults.concurrency),
            retry: RetryPolicy {
                max_attempts: self.max_attempts.unwrap_or(retry.max_attempts).max(1),
                initial_backoff: self
                    .initial_backoff_ms
                    .map_or(retry.initial_backoff, Duration::from_millis),
                ..retry
            },
            // The endpoint's own timeout answers first; this only catches a delivery stuck
            // elsewhere.
            attempt_timeout: self.timeout_ms.map_or(defaults.attempt_timeout, |ms| {
                defaults
                    .attempt_timeout
                    .max(Duration::from_millis(ms) + Duration::from_secs(5))
            }),
        }
    }

    /// `timeout_ms` as a duration; zero would fail every delivery, so it is refused.
    fn timeout(&self) -> Result<Option<Duration>, RoutingSetupError> {
        match self.timeout_ms {
            Some(0) => Err(RoutingSetupError::Endpoint {
                name: self.name.clone(),
                reason: "`timeout_ms` must be at least 1 (it is the time one delivery may take)"
                    .into(),
            }),
            other => Ok(other.map(Duration::from_millis)),
        }
    }
}

/// Routing could not start.
#[derive(Debug, thiserror::Error)]
pub enum RoutingSetupError {
    #[error("routing endpoint '{name}': {reason}")]
    Endpoint { name: String, reason: String },
    #[error("routing: {0}")]
    Routes(String),
    #[error("routing storage: {0}")]
    Storage(#[from] twinhub_routing::StorageError),
    #[error("routing: {0}")]
    Router(#[from] twinhub_routing::RouterError),
}

/// The running router and what the API needs beside it.
pub struct Routing {
    pub router: Arc<Router>,
    pub store: Arc<dyn RoutingStore>,
    pub telemetry: SqlTelemetryStore,
    pub settings: RoutingSettings,
    /// Every configured endpoint's name, the built-in one included.
    pub endpoint_names: Vec<EndpointName>,
}

impl Routing {
    /// Connects the endpoints (configured, then stored), checks the routes (configured,
    /// then stored) and starts the router, which replays what the outbox still holds.
    pub async fn start(
        settings: RoutingSettings,
        store: Arc<dyn RoutingStore>,
    ) -> Result<Routing, RoutingSetupError> {
        let telemetry = SqlTelemetryStore::new(store.clone(), settings.telemetry_keep);
        let mut endpoints = settings.endpoints.clone();
        for (name, document) in store.endpoints().await? {
            let stored: EndpointSettings =
                serde_json::from_value(document).map_err(|e| RoutingSetupError::Endpoint {
                    name: name.clone(),
                    reason: format!("stored definition unreadable: {e}"),
                })?;
            endpoints.push(stored);
        }
        let routes = route_set(&settings, store.routes().await?)?;
        let builtin = endpoint_name(BUILTIN)?;
        // One transaction for the messages that arrive while the previous one commits.
        let outbox = Arc::new(GroupCommit::new(store.clone(), GROUP_COMMIT_ENTRIES));
        let mut builder = Router::builder(routes, outbox, store.clone()).endpoint(
            builtin.clone(),
            Arc::new(BuiltinEndpoint::new(Arc::new(GroupAppend::new(
                Arc::new(telemetry.clone()),
                GROUP_COMMIT_ENTRIES,
            )))),
            // Its deliveries are database writes that the group commit batches, so the more
            // in flight, the fewer transactions.
            LaneConfig {
                concurrency: BUILTIN_CONCURRENCY,
                ..LaneConfig::default()
            },
        );
        let mut names = vec![builtin];
        for endpoint in &endpoints {
            let name = endpoint_name(&endpoint.name)?;
            let connected = connect(endpoint, &settings.hub_name).await?;
            builder = builder.endpoint(name.clone(), connected, endpoint.lane());
            names.push(name);
        }
        let router = builder.start().await?;
        Ok(Routing {
            router: Arc::new(router),
            store,
            telemetry,
            settings,
            endpoint_names: names,
        })
    }

    /// Replaces the running routes with the configured ones followed by the stored ones.
    pub async fn reload_routes(&self) -> Result<(), RoutingSetupError> {
        let routes = route_set(&self.settings, self.store.routes().await?)?;
        self.router.set_routes(routes)?;
        Ok(())
    }
}

fn endpoint_name(name: &str) -> Result<EndpointName, RoutingSetupError> {
    EndpointName::new(name).map_err(|e| RoutingSetupError::Endpoint {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

/// The configured routes, then the stored ones; the default fallback is the built-in store.
pub fn route_set(
    settings: &RoutingSettings,
    stored: Vec<Route>,
) -> Result<RouteSet, RoutingSetupError> {
    let mut routes = settings.routes.clone();
    routes.extend(stored);
    let fallback = match &settings.fallback {
        Some(f) => Some(f.clone()),
        None => Some(FallbackRoute {
            endpoints: vec![endpoint_name(BUILTIN)?],
            enabled: true,
        }),
    };
    RouteSet::new(routes, fallback).map_err(|e| RoutingSetupError::Routes(e.to_string()))
}

async fn connect(
    endpoint: &EndpointSettings,
    hub_name: &str,
) -> Result<Arc<dyn twinhub_routing::Endpoint>, RoutingSetupError> {
    let failed = |reason: String| RoutingSetupError::Endpoint {
        name: endpoint.name.clone(),
        reason,
    };
    match endpoint.kind {
        EndpointKind::Nats => {
            let stream = endpoint
                .stream
                .clone()
                .ok_or_else(|| failed("a NATS endpoint needs `stream`".into()))?;
            let mut config = NatsConfig::new(&endpoint.url, stream, hub_name);
            if let Some(prefix) = &endpoint.subject_prefix {
                config.subject_prefix.clone_from(prefix);
            }
            if let Some(timeout) = endpoint.timeout()? {
                config.ack_timeout = timeout;
            }
            let connected = NatsEndpoint::connect(config)
                .await
                .map_err(|e| failed(e.to_string()))?;
            Ok(Arc::new(connected))
        }
        EndpointKind::Webhook => {
            let mut config = WebhookConfig::new(&endpoint.url);
            if let Some(secret) = &endpoint.secret {
                config = config.secret(secret);
            }
            if let Some(timeout) = endpoint.timeout()? {
                config.timeout = timeout;
            }
            let hook = WebhookEndpoint::new(config).map_err(|e| failed(e.to_string()))?;
            Ok(Arc::new(hook))
        }
    }
}

/// The hub's event sink: every event becomes an envelope handed to the router.
pub struct RoutingSink {
    router: Arc<Router>,
    twins: Arc<dyn HubStore>,
    models: Arc<dyn ModelSource>,
    hub_name: String,
}

impl RoutingSink {
    pub fn new(
        router: Arc<Router>,
        twins: Arc<dyn HubStore>,
        models: Arc<dyn ModelSource>,
        hub_name: impl Into<String>,
    ) -> RoutingSink {
        RoutingSink {
            router,
            twins,
            models,
            hub_name: hub_name.into(),
        }
    }
}

#[async_trait]
impl EventSink for RoutingSink {
    async fn publish(&self, event: HubEvent) -> Result<(), EventSinkError> {
        let key = event.key.clone();
        let envelope = envelope(&self.hub_name, event);
        let routes = self.router.routes();
        let relevant: Vec<&Route> = routes
            .routes()
            .iter()
            .filter(|r| r.enabled() && r.source() == envelope.source)
            .collect();
        let mut input = RouteInput::new(envelope);
        // The twin and the model cost a read each, so only when a route uses them.
        if relevant.iter().any(|r| uses_twin(r))
            && let Some(record) = self.twins.twin(&key).await?
        {
            input = input.twin(Value::Object(record.twin.service_document()));
        }
        if relevant.iter().any(|r| r.annotate_telemetry())
            && let Some(model_id) = input.envelope.model_id().map(str::to_owned)
        {
            match self.models.model(&model_id).await {
                Ok(Some(model)) => input = input.model(model),
                Ok(None) => {}
                // Annotation is optional: the message still goes out, unannotated.
                Err(error) => {
                    tracing::warn!(%model_id, %error, "cannot load the model to annotate telemetry")
                }
            }
        }
        self.router.route(input).await?;
        Ok(())
    }
}

fn uses_twin(route: &Route) -> bool {
    route.condition().contains("$twin")
        || route
            .enrichments()
            .iter()
            .any(|e| matches!(e.value, EnrichmentValue::Twin { .. }))
}

fn source(source: EventSource) -> MessageSource {
    match source {
        EventSource::Telemetry => MessageSource::Telemetry,
        EventSource::TwinChangeEvents => MessageSource::TwinChangeEvents,
        EventSource::DigitalTwinChangeEvents => MessageSource::DigitalTwinChangeEvents,
        EventSource::DeviceLifecycleEvents => MessageSource::DeviceLifecycleEvents,
        EventSource::DeviceConnectionStateEvents => MessageSource::DeviceConnectionStateEvents,
    }
}

/// The routing envelope of a hub event, keeping IoT Hub's names.
pub fn envelope(hub_name: &str, event: HubEvent) -> Envelope {
    match event.source {
        EventSource::Telemetry => {
            let mut properties = Properties::new();
            for (k, v) in event.properties {
                properties.set(k, v.unwrap_or_default());
            }
            Envelope::telemetry(
                hub_name,
                event.key.device_id.clone(),
                TelemetryParts {
                    module_id: event.key.module_id.clone(),
                    content_type: event.content_type,
                    content_encoding: event.content_encoding,
                    message_id: event.message_id,
                    correlation_id: event.correlation_id,
                    user_id: event.user_id,
                    component: event.component,
                    model_id: event.model_id,
                    properties,
                    body: event.body,
                },
                event.time,
            )
        }
        other => {
            // Event bodies are JSON the hub wrote; anything else is kept as a JSON string.
            let body = serde_json::from_slice(&event.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&event.body).into_owned())
            });
            Envelope::event(
                hub_name,
                EventParts {
                    source: source(other),
                    device_id: event.key.device_id.clone(),
                    module_id: event.key.module_id.clone(),
                    op_type: event.op_type.unwrap_or_default(),
                    model_id: event.model_id,
                    body,
                },
                event.time,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(toml_text: &str) -> EndpointSettings {
        toml::from_str(toml_text).expect("an endpoint table")
    }

    #[test]
    fn an_endpoint_timeout_reaches_the_lane_and_a_zero_timeout_is_refused() {
        let hook = endpoint(
            "name = \"slow\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\ntimeout_ms = 60000",
        );
        assert_eq!(
            hook.timeout().expect("valid"),
            Some(Duration::from_secs(60))
        );
        // The lane waits longer than the request, so the request's own timeout answers.
        assert_eq!(hook.lane().attempt_timeout, Duration::from_secs(65));

        let quick = endpoint("name = \"q\"\nkind = \"nats\"\nurl = \"nats://x\"\ntimeout_ms = 500");
        assert_eq!(
            quick.timeout().expect("valid"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            quick.lane().attempt_timeout,
            LaneConfig::default().attempt_timeout
        );

        let zero =
            endpoint("name = \"z\"\nkind = \"webhook\"\nurl = \"http://x/\"\ntimeout_ms = 0");
        let error = zero.timeout().expect_err("zero is refused").to_string();
        assert!(
            error.contains("'z'") && error.contains("timeout_ms"),
            "{error}"
        );
    }
}

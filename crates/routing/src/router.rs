//! The router: from an envelope (with its device's twin and model) to durably queued copies,
//! one per matching endpoint, each delivered by that endpoint's lane.
//!
//! [`Router::route`] resolves once every copy is in the [`Outbox`]: the hub acknowledges the
//! device's message (QoS 1 PUBACK) only then, so a crash afterwards loses nothing, as the
//! lanes deliver whatever the outbox still holds when the next router starts. It first waits
//! for room in each target lane, which is the backpressure of a slow endpoint; dropping the
//! future before it resolves enqueues nothing the device was told about (the device sends
//! again). Dropping the [`Router`] stops its lanes at once, as a crash would;
//! [`Router::shutdown`] lets them settle first.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use twinhub_twin::DeviceModel;

use crate::annotate::{annotate_telemetry, apply_annotation};
use crate::endpoint::Endpoint;
use crate::envelope::{Envelope, MessageSource};
use crate::lane::{self, Counters, LaneConfig, LaneContext, LaneStats};
use crate::outbox::{DeadLetters, NewEntry, Outbox, OutboxEntry, StorageError};
use crate::route::{EndpointName, RouteError, RouteSet};

/// The router could not start, or a route set does not fit it.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("the routes do not fit the endpoints: {}", list(.0))]
    Routes(Vec<RouteError>),
    #[error("endpoint '{0}' is configured twice")]
    DuplicateEndpoint(EndpointName),
    #[error("reading the outbox for endpoint '{endpoint}': {source}")]
    Outbox {
        endpoint: EndpointName,
        source: StorageError,
    },
}

fn list(errors: &[RouteError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A message could not be accepted; the hub must not acknowledge it.
#[derive(Debug, thiserror::Error)]
pub enum RouteFailure {
    #[error("the outbox cannot store the message: {0}")]
    Outbox(#[from] StorageError),
    #[error("the router is shut down")]
    Closed,
    #[error("route to unknown endpoint '{0}'")]
    UnknownEndpoint(EndpointName),
}

/// A message to route, with what the routes may look at.
#[derive(Clone, Debug)]
pub struct RouteInput {
    pub envelope: Envelope,
    /// The device's twin as the service API shows it, for `$twin` conditions and enrichments.
    pub twin: Option<Value>,
    /// The device's model, for routes that annotate telemetry.
    pub model: Option<Arc<DeviceModel>>,
}

impl RouteInput {
    pub fn new(envelope: Envelope) -> RouteInput {
        RouteInput {
            envelope,
            twin: None,
            model: None,
        }
    }

    pub fn twin(mut self, twin: Value) -> RouteInput {
        self.twin = Some(twin);
        self
    }

    pub fn model(mut self, model: Arc<DeviceModel>) -> RouteInput {
        self.model = Some(model);
        self
    }
}

/// What [`Router::route`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    /// The endpoints that will receive a copy (none: no route matched).
    pub endpoints: Vec<EndpointName>,
}

struct Lane {
    queue: mpsc::Sender<OutboxEntry>,
    capacity: usize,
    counters: Arc<Counters>,
}

/// Builds a [`Router`].
pub struct RouterBuilder {
    routes: RouteSet,
    endpoints: Vec<(EndpointName, Arc<dyn Endpoint>, LaneConfig)>,
    outbox: Arc<dyn Outbox>,
    dead_letters: Arc<dyn DeadLetters>,
}

impl RouterBuilder {
    pub fn endpoint(
        mut self,
        name: EndpointName,
        endpoint: Arc<dyn Endpoint>,
        config: LaneConfig,
    ) -> RouterBuilder {
        self.endpoints.push((name, endpoint, config));
        self
    }

    /// Checks the routes against the endpoints, starts one lane per endpoint and hands each
    /// the copies its endpoint still has in the outbox.
    pub async fn start(self) -> Result<Router, RouterError> {
        let names: Vec<EndpointName> = self.endpoints.iter().map(|(n, _, _)| n.clone()).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(RouterError::DuplicateEndpoint(n.clone()));
            }
        }
        self.routes
            .check_endpoints(&names)
            .map_err(RouterError::Routes)?;
        let mut tasks = JoinSet::new();
        let mut lanes = HashMap::new();
        for (name, endpoint, config) in self.endpoints {
            let pending =
                self.outbox
                    .pending(&name)
                    .await
                    .map_err(|source| RouterError::Outbox {
                        endpoint: name.clone(),
                        source,
                    })?;
            let capacity = config.capacity.max(1);
            let (tx, rx) = mpsc::channel(capacity);
            let counters = Arc::new(Counters::default());
            if !pending.is_empty() {
                tracing::info!(
                    endpoint = %name, count = pending.len(),
                    "replaying copies left in the outbox"
                );
                // The replay may exceed the queue; a task feeds it in as room frees up.
                let replay = tx.clone();
                tasks.spawn(async move {
                    for entry in pending {
                        if replay.send(entry).await.is_err() {
                            break;
                        }
                    }
                });
            }
            let ctx = Arc::new(LaneContext {
                name: name.clone(),
                endpoint,
                outbox: self.outbox.clone(),
                dead_letters: self.dead_letters.clone(),
                config,
                counters: counters.clone(),
            });
            tasks.spawn(lane::run(ctx, rx));
            lanes.insert(
                name,
                Lane {
                    queue: tx,
                    capacity,
                    counters,
                },
            );
        }
        Ok(Router {
            routes: RwLock::new(Arc::new(self.routes)),
            lanes,
            outbox: self.outbox,
            tasks,
        })
    }
}

/// Routes messages to endpoint lanes; see the module documentation.
pub struct Router {
    routes: RwLock<Arc<RouteSet>>,
    lanes: HashMap<EndpointName, Lane>,
    outbox: Arc<dyn Outbox>,
    /// The lanes and replay feeders; dropping the set aborts them.
    tasks: JoinSet<()>,
}

impl Router {
    pub fn builder(
        routes: RouteSet,
        outbox: Arc<dyn Outbox>,
        dead_letters: Arc<dyn DeadLetters>,
    ) -> RouterBuilder {
        RouterBuilder {
            routes,
            endpoints: Vec::new(),
            outbox,
            dead_letters,
        }
    }

    /// The routes in force.
    pub fn routes(&self) -> Arc<RouteSet> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the routes; messages already accepted keep their copies.
    pub fn set_routes(&self, routes: RouteSet) -> Result<(), RouterError> {
        let known: Vec<EndpointName> = self.lanes.keys().cloned().collect();
        routes
            .check_endpoints(&known)
            .map_err(RouterError::Routes)?;
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routes);
        Ok(())
    }

    /// Routes one message: waits for room in each target lane, stores the copies in the
    /// outbox, and hands them to the lanes. `Ok` means the message is safe to acknowledge.
    pub async fn route(&self, input: RouteInput) -> Result<Routed, RouteFailure> {
        let RouteInput {
            envelope,
            twin,
            model,
        } = input;
        let routes = self.routes();
        let deliveries = routes.deliveries(&envelope, twin.as_ref());
        if deliveries.is_empty() {
            return Ok(Routed {
                endpoints: Vec::new(),
            });
        }
        let annotation = match (&model, envelope.source) {
            (Some(model), MessageSource::Telemetry) if deliveries.iter().any(|d| d.annotate) => {
                Some(annotate_telemetry(model, &envelope))
            }
            _ => None,
        };
        let mut slots = Vec::with_capacity(deliveries.len());
        for d in &deliveries {
            let lane = self
                .lanes
                .get(&d.endpoint)
                .ok_or_else(|| RouteFailure::UnknownEndpoint(d.endpoint.clone()))?;
            slots.push(
                lane.queue
                    .reserve()
                    .await
                    .map_err(|_| RouteFailure::Closed)?,
            );
        }
        let entries: Vec<NewEntry> = deliveries
            .iter()
            .map(|d| {
                let mut copy = d.apply(&envelope);
                if let (true, Some(a)) = (d.annotate, &annotation) {
                    apply_annotation(&mut copy, a);
                }
                NewEntry {
                    endpoint: d.endpoint.clone(),
                    envelope: copy,
                }
            })
            .collect();
        let now = Utc::now();
        let ids = self.outbox.enqueue(&entries, now).await?;
        for ((slot, entry), id) in slots.into_iter().zip(entries).zip(ids) {
            slot.send(OutboxEntry {
                id,
                endpoint: entry.endpoint,
                envelope: entry.envelope,
                enqueued_at: now,
            });
        }
        Ok(Routed {
            endpoints: deliveries.into_iter().map(|d| d.endpoint).collect(),
        })
    }

    /// Stops accepting messages and gives the lanes up to `grace` to settle what they hold;
    /// whatever is still unsettled then stays in the outbox for the next start.
    pub async fn shutdown(mut self, grace: std::time::Duration) {
        // Closing the queues lets each lane finish its queue and its deliveries, then end.
        self.lanes.clear();
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "lanes not settled in time; the rest stays in the outbox"
            );
        }
    }

    /// Each lane's counters, sorted by endpoint name.
    pub fn stats(&self) -> Vec<LaneStats> {
        let mut out: Vec<LaneStats> = self
            .lanes
            .iter()
            .map(|(name, lane)| LaneStats {
                endpoint: name.clone(),
                queued: lane.capacity - lane.queue.capacity(),
                capacity: lane.capacity,
                in_flight: lane.counters.in_flight.load(Ordering::Relaxed),
                delivered: lane.counters.delivered.load(Ordering::Relaxed),
                retried: lane.counters.retried.load(Ordering::Relaxed),
                dead_lettered: lane.counters.dead_lettered.load(Ordering::Relaxed),
            })
            .collect();
        out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        out
    }

    /// One lane's counters.
    pub fn lane_stats(&self, endpoint: &EndpointName) -> Option<LaneStats> {
        self.stats().into_iter().find(|s| &s.endpoint == endpoint)
    }
}

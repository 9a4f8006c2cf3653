//! Helpers shared by the tests: sample envelopes and twins.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use twinhub_routing::envelope::EventParts;
use twinhub_routing::{EndpointName, Envelope, MessageSource, Properties, TelemetryParts};

pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

pub fn endpoint(name: &str) -> EndpointName {
    EndpointName::new(name).expect("valid endpoint name")
}

/// JSON telemetry from `device`, with application properties.
pub fn telemetry(device: &str, body: Value, properties: &[(&str, &str)]) -> Envelope {
    Envelope::telemetry(
        "hub1",
        device,
        TelemetryParts {
            content_type: Some("application/json".into()),
            content_encoding: Some("utf-8".into()),
            properties: properties.iter().copied().collect::<Properties>(),
            body: body.to_string().into_bytes(),
            ..TelemetryParts::default()
        },
        at(1_700_000_000),
    )
}

pub fn twin_change(device: &str) -> Envelope {
    Envelope::event(
        "hub1",
        EventParts {
            source: MessageSource::TwinChangeEvents,
            device_id: device.into(),
            module_id: None,
            op_type: "updateTwin".into(),
            model_id: None,
            body: json!({"version": 4, "properties": {"reported": {"fw": "1.2", "$version": 3}}}),
        },
        at(1_700_000_000),
    )
}

/// A twin as the service API shows it.
pub fn twin() -> Value {
    json!({
        "deviceId": "d1",
        "tags": {"site": "berlin", "floor": 3, "location": {"lat": 52.5}},
        "properties": {
            "desired": {"interval": 10, "$version": 2},
            "reported": {"fw": "1.2", "$version": 5}
        }
    })
}

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, watch};
use twinhub_routing::{DeliveryError, Endpoint};

/// An endpoint in memory: records what it accepts, answers from a script first (then `Ok`),
/// and can be stalled (every delivery waits until it is released).
#[derive(Default)]
pub struct Recorder {
    accepted: Mutex<Vec<Envelope>>,
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    attempts: Mutex<u32>,
    stalled: Mutex<Option<watch::Receiver<bool>>>,
    changed: Notify,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// The next answers, before it accepts everything.
    pub fn script(&self, answers: Vec<Result<(), DeliveryError>>) {
        self.script.lock().expect("lock").extend(answers);
    }

    /// Stalls every delivery until the returned sender sends `false`.
    pub fn stall(&self) -> watch::Sender<bool> {
        let (tx, rx) = watch::channel(true);
        *self.stalled.lock().expect("lock") = Some(rx);
        tx
    }

    pub fn accepted(&self) -> Vec<Envelope> {
        self.accepted.lock().expect("lock").clone()
    }

    pub fn attempts(&self) -> u32 {
        *self.attempts.lock().expect("lock")
    }

    /// Waits until `pred` holds for the accepted envelopes; panics after `limit`, so a bug
    /// fails the test instead of hanging it.
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&[Envelope]) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if pred(&self.accepted()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("condition not reached; accepted {}", self.accepted().len());
            }
        }
    }
}

#[async_trait]
impl Endpoint for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }

    async fn deliver(&self, envelope: &Envelope) -> Result<(), DeliveryError> {
        let stalled = self.stalled.lock().expect("lock").clone();
        if let Some(mut rx) = stalled {
            // Wait until released (or the sender is gone).
            while *rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
        *self.attempts.lock().expect("lock") += 1;
        let answer = self
            .script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Ok(()));
        if answer.is_ok() {
            self.accepted.lock().expect("lock").push(envelope.clone());
        }
        self.changed.notify_waiters();
        answer
    }
}

/// Polls `check` until it holds; panics after `limit`.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

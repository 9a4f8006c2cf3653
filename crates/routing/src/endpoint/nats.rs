//! NATS JetStream endpoint. Each envelope is published to
//! `{prefix}.{hub}.{source}.{deviceId}` (plus `.{moduleId}` for module messages) on a stream
//! that covers `{prefix}.{hub}.>` and is created if missing. The body is the payload; the
//! system properties (wire names), the application properties and the model annotation
//! (`twinhub-annotation`, JSON) are headers; `Nats-Msg-Id` is the envelope id, so JetStream
//! drops a redelivery inside the stream's duplicate window. A delivery counts only once the
//! JetStream ack arrives.
//!
//! Subject tokens are percent-encoded where NATS would misread them (`.`, `*`, `>`, `%`,
//! whitespace and anything outside printable ASCII), so distinct device ids stay distinct
//! subjects. Header names and values that NATS cannot carry are percent-encoded the same way.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_trait::async_trait;
use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{DeliveryError, Endpoint};
use crate::envelope::Envelope;

/// Header carrying the model annotation as JSON.
pub const ANNOTATION_HEADER: &str = "twinhub-annotation";
/// Header carrying the hub's name.
pub const HUB_HEADER: &str = "twinhub-hub";

/// Tries at creating the stream before giving up.
const STREAM_CREATE_ATTEMPTS: u32 = 5;

/// Where and how to publish.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream's name (no spaces, tabs, `.`, `*` or `>`).
    pub stream: String,
    /// The first subject token, `twinhub` by default.
    pub subject_prefix: String,
    /// The hub whose messages the stream holds (the second subject token).
    pub hub: String,
    /// How long messages stay in a stream this endpoint creates (`None`: no limit).
    pub max_age: Option<Duration>,
    /// How long to wait for the JetStream ack before the delivery counts as failed.
    pub ack_timeout: Duration,
}

impl NatsConfig {
    pub fn new(
        url: impl Into<String>,
        stream: impl Into<String>,
        hub: impl Into<String>,
    ) -> NatsConfig {
        NatsConfig {
            url: url.into(),
            stream: stream.into(),
            subject_prefix: "twinhub".into(),
            hub: hub.into(),
            max_age: None,
            ack_timeout: Duration::from_secs(5),
        }
    }
}

/// The endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NatsSetupError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("invalid NATS endpoint configuration: {0}")]
    Config(String),
    #[error("cannot create or read JetStream stream '{stream}': {reason}")]
    Stream { stream: String, reason: String },
    #[error(
        "JetStream stream '{stream}' exists with subjects [{subjects}], which do not cover \
         {wanted}; add it to the stream or configure another stream"
    )]
    SubjectsNotCovered {
        stream: String,
        subjects: String,
        wanted: String,
    },
}

/// Publishes envelopes to a JetStream stream.
#[derive(Clone)]
pub struct NatsEndpoint {
    js: jetstream::Context,
    config: NatsConfig,
    filter: String,
}

impl NatsEndpoint {
    /// Connects to `config.url` and makes sure the stream exists.
    pub async fn connect(config: NatsConfig) -> Result<NatsEndpoint, NatsSetupError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .map_err(|e| NatsSetupError::Connect {
                url: config.url.clone(),
                reason: e.to_string(),
            })?;
        NatsEndpoint::with_client(client, config).await
    }

    /// Uses an existing connection (the hub shares one per process).
    pub async fn with_client(
        client: async_nats::Client,
        config: NatsConfig,
    ) -> Result<NatsEndpoint, NatsSetupError> {
        if config.stream.is_empty()
            || config
                .stream
                .contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>'))
        {
            return Err(NatsSetupError::Config(format!(
                "stream name '{}' must be non-empty without spaces, '.', '*' or '>'",
                config.stream
            )));
        }
        if config.hub.is_empty() || config.subject_prefix.is_empty() {
            return Err(NatsSetupError::Config(
                "the hub name and the subject prefix must not be empty".into(),
            ));
        }
        let mut js = jetstream::new(client);
        js.set_timeout(config.ack_timeout);
        let filter = format!("{}.{}.>", token(&config.subject_prefix), token(&config.hub));
        let endpoint = NatsEndpoint { js, config, filter };
        endpoint.ensure_stream().await?;
        Ok(endpoint)
    }

    async fn ensure_stream(&self) -> Result<(), NatsSetupError> {
        let stream_error = |e: &dyn std::fmt::Display| NatsSetupError::Stream {
            stream: self.config.stream.clone(),
            reason: e.to_string(),
        };
        let config = stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![self.filter.clone()],
            max_age: self.config.max_age.unwrap_or_default(),
            ..Default::default()
        };
        // nats-server 2.9 can fail a create with "error creating store for stream" (10049)
        // while another stream of the account is being deleted (it removes and re-creates the
        // account's stream directory); the next try succeeds.
        let mut attempt = 0;
        let mut stream = loop {
            attempt += 1;
            match self.js.get_or_create_stream(config.clone()).await {
                Ok(s) => break s,
                Err(e) if attempt < STREAM_CREATE_ATTEMPTS => {
                    tracing::debug!(stream = %self.config.stream, attempt, error = %e,
                        "stream creation failed; trying again");
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(e) => return Err(stream_error(&e)),
            }
        };
        let info = stream.info().await.map_err(|e| stream_error(&e))?;
        let subjects = &info.config.subjects;
        if !subjects.iter().any(|s| subject_covers(s, &self.filter)) {
            return Err(NatsSetupError::SubjectsNotCovered {
                stream: self.config.stream.clone(),
                subjects: subjects.join(", "),
                wanted: self.filter.clone(),
            });
        }
        Ok(())
    }

    /// `{prefix}.{hub}.{source}.{deviceId}[.{moduleId}]`, tokens percent-encoded.
    pub fn subject(&self, envelope: &Envelope) -> String {
        let mut subject = format!(
            "{}.{}.{}.{}",
            token(&self.config.subject_prefix),
            token(&envelope.hub),
            envelope.source.as_str(),
            token(envelope.device_id())
        );
        if let Some(m) = envelope.module_id() {
            subject.push('.');
            subject.push_str(&token(m));
        }
        subject
    }

    pub fn stream_name(&self) -> &str {
        &self.config.stream
    }
}

/// The envelope's properties as NATS headers.
pub fn headers(envelope: &Envelope) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in envelope.properties.iter() {
        insert(&mut h, name, value);
    }
    // System properties after application ones, so that a device cannot shadow them.
    for (name, value) in envelope.system_properties.wire_pairs(envelope.source) {
        insert(&mut h, name, &value);
    }
    insert(&mut h, HUB_HEADER, &envelope.hub);
    if let Some(a) = &envelope.annotation {
        insert(&mut h, ANNOTATION_HEADER, &a.to_string());
    }
    h
}

const HEADER_NAME_UNSAFE: &AsciiSet = &CONTROLS.add(b' ').add(b':').add(b'%');
const HEADER_VALUE_UNSAFE: &AsciiSet = &percent_encoding::AsciiSet::EMPTY
    .add(b'\r')
    .add(b'\n')
    .add(b'%');
const TOKEN_UNSAFE: &AsciiSet = &CONTROLS.add(b' ').add(b'.').add(b'*').add(b'>').add(b'%');

fn insert(h: &mut HeaderMap, name: &str, value: &str) {
    let name = if name.chars().all(|c| c.is_ascii_graphic() && c != ':') {
        name.to_owned()
    } else {
        utf8_percent_encode(name, HEADER_NAME_UNSAFE).to_string()
    };
    let value = if value.contains(['\r', '\n']) {
        utf8_percent_encode(value, HEADER_VALUE_UNSAFE).to_string()
    } else {
        value.to_owned()
    };
    // Both are valid now, so the conversions (which panic on invalid input) are safe.
    h.insert(name.as_str(), value.as_str());
}

/// A subject token NATS reads as one literal token.
pub fn token(s: &str) -> String {
    // Non-ASCII is encoded too (utf8_percent_encode encodes every non-ASCII byte).
    utf8_percent_encode(s, TOKEN_UNSAFE).to_string()
}

/// Whether subject filter `pattern` matches every subject `filter` matches.
fn subject_covers(pattern: &str, filter: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let f: Vec<&str> = filter.split('.').collect();
    for (i, pt) in p.iter().enumerate() {
        match (*pt, f.get(i)) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(&ft)) if ft != ">" => {}
            (pt, Some(&ft)) if pt == ft => {}
            _ => return false,
        }
    }
    p.len() == f.len()
}

#[async_trait]
impl Endpoint for NatsEndpoint {
    fn kind(&self) -> &'static str {
        "nats"
    }

    async fn deliver(&self, envelope: &Envelope) -> Result<(), DeliveryError> {
        let publish = jetstream::message::PublishMessage::build()
            .payload(Bytes::from(envelope.body.clone()))
            .headers(headers(envelope))
            .message_id(&envelope.id);
        let result = match self.js.send_publish(self.subject(envelope), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.kind() {
                PublishErrorKind::MaxPayloadExceeded => Err(DeliveryError::Permanent(format!(
                    "JetStream refuses the message: {e}"
                ))),
                PublishErrorKind::StreamNotFound => {
                    // Someone deleted the stream: recreate it, and let the retry publish.
                    let recreated = self.ensure_stream().await;
                    Err(DeliveryError::Retryable(format!(
                        "stream '{}' not found{}",
                        self.config.stream,
                        match recreated {
                            Ok(()) => "; recreated it".to_owned(),
                            Err(e) => format!("; recreating it failed: {e}"),
                        }
                    )))
                }
                _ => Err(DeliveryError::Retryable(format!("JetStream publish: {e}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_escape_what_nats_would_misread() {
        assert_eq!(token("dev-1_ok"), "dev-1_ok");
        assert_eq!(token("a.b*c>d e%"), "a%2Eb%2Ac%3Ed%20e%25");
        assert_eq!(token("grüße"), "gr%C3%BC%C3%9Fe");
        assert_ne!(token("a.b"), token("a%2Eb"), "distinct ids stay distinct");
    }

    #[test]
    fn subject_filters_cover_narrower_ones() {
        assert!(subject_covers("twinhub.hub.>", "twinhub.hub.>"));
        assert!(subject_covers("twinhub.>", "twinhub.hub.>"));
        assert!(subject_covers("twinhub.*.>", "twinhub.hub.>"));
        assert!(subject_covers(">", "twinhub.hub.>"));
        assert!(!subject_covers("twinhub.other.>", "twinhub.hub.>"));
        assert!(!subject_covers("twinhub.hub.Telemetry.>", "twinhub.hub.>"));
        assert!(!subject_covers("twinhub.hub", "twinhub.hub.>"));
    }
}

//! HTTP webhook endpoint: each envelope is POSTed as a CloudEvents 1.0 structured-JSON event
//! (`application/cloudevents+json`). With a secret configured, the request carries
//! `X-Twinhub-Signature: sha256=<hex HMAC-SHA256 of the body>` so the receiver can check that
//! it comes from this hub and was not altered.
//!
//! A 2xx answer accepts the event. 5xx, 408, 429, timeouts and connection failures are
//! retried; any other answer (3xx after redirects, 4xx) refuses the event for good, because
//! the receiver will answer the same again.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use super::{DeliveryError, Endpoint};
use crate::envelope::Envelope;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Twinhub-Signature";
/// The content type of a structured CloudEvent.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json; charset=utf-8";

/// Where to POST, and the secret to sign with.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC-SHA256 key; `None` sends no signature.
    pub secret: Option<String>,
    /// Time allowed for the whole request, answer included.
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            secret: None,
            timeout: Duration::from_secs(10),
        }
    }

    pub fn secret(mut self, secret: impl Into<String>) -> WebhookConfig {
        self.secret = Some(secret.into());
        self
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("webhook URL '{url}' is not valid: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// POSTs CloudEvents to one URL.
#[derive(Clone)]
pub struct WebhookEndpoint {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Option<Vec<u8>>,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url.as_str())
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

impl WebhookEndpoint {
    pub fn new(config: WebhookConfig) -> Result<WebhookEndpoint, WebhookSetupError> {
        let url = reqwest::Url::parse(&config.url).map_err(|e| WebhookSetupError::BadUrl {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookSetupError::BadUrl {
                url: config.url,
                reason: "use an http:// or https:// URL".into(),
            });
        }
        // reqwest is built without a crypto provider (the workspace uses ring everywhere);
        // install it unless the process already has one.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is installed either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| WebhookSetupError::Client(e.to_string()))?;
        Ok(WebhookEndpoint {
            client,
            url,
            secret: config.secret.map(String::into_bytes),
        })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether an HTTP status is worth retrying.
fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

#[async_trait]
impl Endpoint for WebhookEndpoint {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, envelope: &Envelope) -> Result<(), DeliveryError> {
        let body = envelope.to_cloud_event().to_string().into_bytes();
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CLOUDEVENTS_JSON);
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_builder() {
                DeliveryError::Permanent(format!("webhook request cannot be built: {e}"))
            } else {
                DeliveryError::Retryable(format!("webhook {}: {e}", self.url))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("webhook {} answered {status}", self.url);
        if retryable_status(status) {
            Err(DeliveryError::Retryable(message))
        } else {
            Err(DeliveryError::Permanent(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn statuses_are_sorted_into_retry_and_refuse() {
        assert!(retryable_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable_status(StatusCode::REQUEST_TIMEOUT));
        assert!(!retryable_status(StatusCode::BAD_REQUEST));
        assert!(!retryable_status(StatusCode::NOT_FOUND));
        assert!(!retryable_status(StatusCode::MOVED_PERMANENTLY));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = WebhookConfig::new("http://x").secret("hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(WebhookEndpoint::new(WebhookConfig::new("ftp://x/y")).is_err());
        assert!(WebhookEndpoint::new(WebhookConfig::new("not a url")).is_err());
        assert!(WebhookEndpoint::new(WebhookConfig::new("http://127.0.0.1:1/hook")).is_ok());
    }
}

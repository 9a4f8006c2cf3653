//! Reading files from a repository location (HTTP(S) base URL or local folder) and posting to
//! it, with the client's concurrency bound, timeouts and retries in one place.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::{ClientError, Problem, is_retryable_status};
use crate::options::ClientOptions;

/// Where a repository lives.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    /// Base URL without a trailing slash.
    Http(String),
    Folder(PathBuf),
}

impl Location {
    pub(crate) fn parse(location: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidLocation {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        if location.trim().is_empty() {
            return Err(invalid("it is empty; give a URL or a folder"));
        }
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            reqwest::Url::parse(location).map_err(|e| invalid(&e.to_string()))?;
            return Ok(Self::Http(location.trim_end_matches('/').to_owned()));
        }
        if let Some(path) = location.strip_prefix("file://") {
            return Ok(Self::Folder(PathBuf::from(path)));
        }
        if lower.contains("://") {
            return Err(invalid("only http, https and file URLs are supported"));
        }
        Ok(Self::Folder(PathBuf::from(location)))
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Http(base) => base.clone(),
            Self::Folder(path) => path.display().to_string(),
        }
    }
}

/// The HTTP side of a client, shared by its clones.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) location: Location,
    http: reqwest::Client,
    options: Arc<ClientOptions>,
    permits: Arc<Semaphore>,
}

/// One answer: the body, or `None` when the file does not exist (404 / no such file).
pub(crate) type Fetched = Option<String>;

impl Transport {
    pub(crate) fn new(location: Location, options: ClientOptions) -> Result<Self, ClientError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("twinhub-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::InvalidLocation {
                location: location.describe(),
                reason: format!("the HTTP client could not be built: {e}"),
            })?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
            location,
            http,
            options: Arc::new(options),
        })
    }

    /// Reads `path` (relative, such as `dtmi/com/example/thermostat-1.json`).
    pub(crate) async fn get(&self, path: &str) -> Result<Fetched, ClientError> {
        let _permit = self.permits.acquire().await.ok();
        match &self.location {
            Location::Folder(root) => {
                let file = root.join(path);
                match tokio::fs::read(&file).await {
                    Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                        ClientError::InvalidContent {
                            url: file.display().to_string(),
                            message: "the file is not UTF-8".to_owned(),
                        }
                    }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(ClientError::Io { path: file, source }),
                }
            }
            Location::Http(base) => {
                let url = format!("{base}/{path}");
                self.with_retries(|| self.get_once(&url)).await
            }
        }
    }

    async fn get_once(&self, url: &str) -> Result<Fetched, ClientError> {
        let response = self
            .authorized(self.http.get(url))
            .send()
            .await
            .map_err(|e| transport_error(url, &e))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        let body = response
            .text()
            .await
            .map_err(|e| transport_error(url, &e))?;
        if status == 200 {
            // The SDKs' JSON parsers tolerate a byte order mark; the content is what follows.
            return Ok(Some(match body.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_owned(),
                None => body,
            }));
        }
        Err(status_error(url, status, &body))
    }

    /// Posts a JSON body to `path` on an HTTP repository and returns status and body.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), ClientError> {
        let Location::Http(base) = &self.location else {
            return Err(ClientError::InvalidLocation {
                location: self.location.describe(),
                reason: "pushing needs a twinhub server URL, not a folder".to_owned(),
            });
        };
        let url = format!("{base}/{path}");
        let body = serde_json::to_vec(body).map_err(|e| ClientError::InvalidContent {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let _permit = self.permits.acquire().await.ok();
        self.with_retries(|| async {
            let response = self
                .authorized(self.http.post(&url))
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| transport_error(&url, &e))?;
            let status = response.status().as_u16();
            let text = response
                .text()
                .await
                .map_err(|e| transport_error(&url, &e))?;
            if is_retryable_status(status) || status == 401 || status == 403 {
                return Err(status_error(&url, status, &text));
            }
            Ok((status, text))
        })
        .await
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.options.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts are used up,
    /// waiting `initial_backoff · 2ⁿ` (capped) between tries.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut wait = self.options.initial_backoff;
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(error) if error.is_retryable() && tries < self.options.max_attempts => {
                    tokio::time::sleep(wait).await;
                    wait = next_backoff(wait, self.options.max_backoff);
                    tries += 1;
                }
                result => return result,
            }
        }
    }
}

fn transport_error(url: &str, error: &reqwest::Error) -> ClientError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ClientError::Transport {
        url: url.to_owned(),
        message,
        retryable: error.is_timeout() || error.is_connect() || error.is_request(),
    }
}

/// The error for a non-success status, with the problem document's detail when there is one.
pub(crate) fn status_error(url: &str, status: u16, body: &str) -> ClientError {
    let problem: Option<Problem> = serde_json::from_str(body).ok();
    let detail = problem
        .as_ref()
        .map(|p| p.detail.clone())
        .unwrap_or_else(|| body.chars().take(200).collect());
    match status {
        401 | 403 => ClientError::Unauthorized {
            url: url.to_owned(),
            status,
            detail,
        },
        _ => ClientError::Status {
            url: url.to_owned(),
            status,
            detail,
        },
    }
}

/// The wait after `wait`: doubled, at most `max`.
fn next_backoff(wait: Duration, max: Duration) -> Duration {
    wait.saturating_mul(2).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_urls_or_folders() {
        assert!(
            matches!(Location::parse("https://models.example.com/"), Ok(Location::Http(b)) if b == "https://models.example.com")
        );
        assert!(
            matches!(Location::parse("file:///srv/dmr"), Ok(Location::Folder(p)) if p == std::path::Path::new("/srv/dmr"))
        );
        assert!(matches!(Location::parse("./dmr"), Ok(Location::Folder(_))));
        assert!(Location::parse("ftp://x").is_err());
        assert!(Location::parse(" ").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let max = Duration::from_millis(300);
        let mut wait = Duration::from_millis(100);
        let mut waits = vec![wait];
        for _ in 0..3 {
            wait = next_backoff(wait, max);
            waits.push(wait);
        }
        assert_eq!(waits, [100, 200, 300, 300].map(Duration::from_millis));
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        assert!(status_error("u", 503, "").is_retryable());
        assert!(status_error("u", 429, "").is_retryable());
        assert!(!status_error("u", 400, "").is_retryable());
        assert!(status_error("u", 403, "{\"detail\": \"no\"}").is_unauthorized());
    }
}

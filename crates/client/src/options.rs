//! How a client behaves: dependency resolution mode, timeouts, retries, concurrency and
//! credentials.

use std::time::Duration;

/// Which models [`RepositoryClient::get_models`](crate::RepositoryClient::get_models) returns
/// besides the requested ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DependencyResolution {
    /// Only the requested models.
    Disabled,
    /// The requested models and everything they depend on (`extends`, component schemas),
    /// using `.expanded.json` files when `metadata.json` advertises them.
    #[default]
    Enabled,
    /// Like `Enabled`, but tries each model's `.expanded.json` first whatever the metadata says
    /// (the mode older Azure clients offered).
    TryFromExpanded,
}

impl std::str::FromStr for DependencyResolution {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "disabled" => Ok(Self::Disabled),
            "enabled" => Ok(Self::Enabled),
            "tryexpanded" | "tryfromexpanded" => Ok(Self::TryFromExpanded),
            _ => Err(format!(
                "unknown dependency mode {value:?}: use disabled, enabled or try-expanded"
            )),
        }
    }
}

/// Client settings; [`ClientOptions::default`] suits interactive use and CI.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer …` with every HTTP request.
    pub token: Option<String>,
    /// Limit for one whole HTTP request, connection included.
    pub timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts per request for retryable failures (1 means no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound of the wait between retries.
    pub max_backoff: Duration,
    /// Most requests in flight at once.
    pub max_concurrency: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            token: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_concurrency: 16,
        }
    }
}

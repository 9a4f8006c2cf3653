//! Service settings: defaults in code, an optional TOML file, then `TWINHUB_*` environment
//! variables and command-line flags on top (clap merges the last two). Secrets are redacted
//! whenever settings are printed or logged.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::access::{Namespace, Role, Visibility};

/// Everything `twinhub serve` needs to start.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Settings {
    /// Address the HTTP server binds to.
    pub bind: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Maximum connections in the database pool.
    pub database_max_connections: u32,
    /// Bootstrap token with full rights (`Authorization: Bearer …`).
    pub admin_token: Option<Secret>,
    /// Name reported as `sourceRepo` in `/metadata.json`.
    pub repository_name: String,
    /// Entries per DMR index page.
    pub index_page_size: usize,
    /// Most models accepted in one push.
    pub max_batch_models: usize,
    /// Largest request body accepted for a push, in bytes.
    pub max_body_bytes: usize,
    /// Memory budget of the resolution cache, in bytes.
    pub cache_max_bytes: u64,
    /// Seconds that clients and proxies may cache `/metadata.json` and index pages.
    pub listing_max_age_seconds: u32,
    /// Highest DTDL major version accepted on push.
    pub max_dtdl_version: u8,
    /// Visibility of namespaces that have no setting of their own.
    pub default_visibility: Visibility,
    /// Secret from which session cookies are signed and encrypted (at least 32 characters).
    /// Without it a random key is made at start: sessions end on restart and are not shared
    /// between instances.
    pub session_secret: Option<Secret>,
    /// How long a browser session lasts, in minutes.
    pub session_ttl_minutes: u32,
    /// Set the `Secure` flag on cookies even without a proxy reporting HTTPS.
    pub secure_cookies: bool,
    /// Trust `Forwarded` / `X-Forwarded-*` headers (client address, HTTPS) from a reverse
    /// proxy in front of twinhub. Leave off when clients connect directly.
    pub behind_proxy: bool,
    /// Public base URL (e.g. `https://models.example.com`), used for OIDC redirect URIs.
    /// Without it the URL is taken from the request's host.
    pub public_url: Option<String>,
    /// Failed logins per account or client address before logins are refused for a while.
    pub login_max_failures: u32,
    /// How long failed logins are remembered, and logins refused after too many, in seconds.
    pub login_lockout_seconds: u64,
    /// OpenID Connect issuers people can sign in with (TOML `[[oidc]]` tables).
    pub oidc: Vec<OidcIssuerSettings>,
    /// Run the device hub's MQTT endpoint. The registry and twin API work either way.
    pub hub: bool,
    /// Address the MQTT endpoint binds to (the device SDK always connects to port 8883).
    pub hub_bind: SocketAddr,
    /// Names devices use for the hub (`HostName=`, the host of SAS tokens); the first goes
    /// into generated connection strings. DNS names or IP addresses.
    pub hub_host_names: Vec<String>,
    /// PEM certificate chain of the MQTT endpoint. Without it (and `tls_key`) a development
    /// CA and server certificate are made in `hub_certs_dir`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Folder of the development CA [default: `<database>-certs` beside a SQLite file,
    /// `twinhub-certs` otherwise].
    pub hub_certs_dir: Option<PathBuf>,
    /// PEM files of CAs whose certificates identify devices by CN (the development CA is
    /// trusted too when it is in use).
    pub hub_device_ca: Vec<PathBuf>,
    /// Address of the IoT Hub service API (HTTPS, the hub's certificate); it runs with the hub.
    pub service_bind: SocketAddr,
    /// Serve the IoT Hub service API beside the hub.
    pub service_enabled: bool,
    /// Message routing (`[routing]`, `[[routing.endpoints]]`, `[[routing.routes]]`,
    /// `[routing.fallback]`).
    pub routing: crate::routing::RoutingSettings,
    /// NATS server through which instances sharing one PostgreSQL database coordinate
    /// (commands, desired updates and cloud-to-device messages for devices connected to
    /// another instance; connection takeovers). Without it the instance runs alone.
    pub nats_url: Option<String>,
    /// This instance's name among those sharing the database [default: host name and
    /// `hub_bind`]. Keep it stable across restarts and unique per running instance.
    pub instance_id: Option<String>,
}

/// One OpenID Connect issuer (`[[oidc]]` in the TOML file).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OidcIssuerSettings {
    /// Short name used in URLs (`/login/oidc/{name}`) and to qualify user names.
    pub name: String,
    /// Text of the sign-in button.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Issuer URL; `/.well-known/openid-configuration` is read from it.
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Scopes besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Claim holding the user name [default: preferred_username, falling back to sub].
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Claim holding the user's groups (a string or an array of strings).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Grants given to a user at first login.
    #[serde(default)]
    pub default_grants: Vec<GrantSetting>,
    /// Grants that follow group membership, checked at every login.
    #[serde(default)]
    pub group_grants: Vec<GroupGrantSetting>,
}

/// A role on namespaces.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSetting {
    pub role: Role,
    /// Namespaces (`*` for all); ignored for admin, which covers everything.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
}

/// A role on namespaces for members of a group.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupGrantSetting {
    pub group: String,
    pub role: Role,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".to_owned(), "email".to_owned()]
}

fn default_username_claim() -> String {
    "preferred_username".to_owned()
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://twinhub.db".to_owned(),
            database_max_connections: 16,
            admin_token: None,
            repository_name: "twinhub".to_owned(),
            index_page_size: 2048,
            max_batch_models: 1000,
            max_body_bytes: 8 * 1024 * 1024,
            cache_max_bytes: 256 * 1024 * 1024,
            listing_max_age_seconds: 60,
            max_dtdl_version: 4,
            default_visibility: Visibility::Public,
            session_secret: None,
            session_ttl_minutes: 12 * 60,
            secure_cookies: false,
            behind_proxy: false,
            public_url: None,
            login_max_failures: 5,
            login_lockout_seconds: 15 * 60,
            oidc: Vec::new(),
            hub: true,
            hub_bind: SocketAddr::from(([127, 0, 0, 1], 8883)),
            hub_host_names: vec!["localhost".to_owned()],
            tls_cert: None,
            tls_key: None,
            hub_certs_dir: None,
            hub_device_ca: Vec::new(),
            service_bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            service_enabled: true,
            routing: crate::routing::RoutingSettings::default(),
            nats_url: None,
            instance_id: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("admin_token", &self.admin_token)
            .field("repository_name", &self.repository_name)
            .field("index_page_size", &self.index_page_size)
            .field("max_batch_models", &self.max_batch_models)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("listing_max_age_seconds", &self.listing_max_age_seconds)
            .field("max_dtdl_version", &self.max_dtdl_version)
            .field("default_visibility", &self.default_visibility)
            .field("session_secret", &self.session_secret)
            .field("session_ttl_minutes", &self.session_ttl_minutes)
            .field("secure_cookies", &self.secure_cookies)
            .field("behind_proxy", &self.behind_proxy)
            .field("public_url", &self.public_url)
            .field("login_max_failures", &self.login_max_failures)
            .field("login_lockout_seconds", &self.login_lockout_seconds)
            .field("oidc", &self.oidc)
            .field("hub", &self.hub)
            .field("hub_bind", &self.hub_bind)
            .field("hub_host_names", &self.hub_host_names)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("hub_certs_dir", &self.hub_certs_dir)
            .field("hub_device_ca", &self.hub_device_ca)
            .field("service_bind", &self.service_bind)
            .field("service_enabled", &self.service_enabled)
            // Endpoint names only: webhook secrets must not reach the log.
            .field(
                "routing_endpoints",
                &self
                    .routing
                    .endpoints
                    .iter()
                    .map(|e| &e.name)
                    .collect::<Vec<_>>(),
            )
            .field("routing_routes", &self.routing.routes.len())
            .field("nats_url", &self.nats_url.as_deref().map(redact_url))
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid setting {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Settings {
    /// Where the development CA lives: `hub_certs_dir`, else beside a SQLite database file
    /// (`twinhub.db` → `twinhub-certs`), else `twinhub-certs` in the working directory.
    pub fn dev_certs_dir(&self) -> PathBuf {
        if let Some(dir) = &self.hub_certs_dir {
            return dir.clone();
        }
        let file = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|path| !path.is_empty() && !path.starts_with(':'))
            .map(Path::new);
        match file {
            Some(path) => {
                let stem = path
                    .file_stem()
                    .map_or("twinhub".into(), |s| s.to_string_lossy());
                path.with_file_name(format!("{stem}-certs"))
            }
            None => PathBuf::from("twinhub-certs"),
        }
    }

    /// Reads a TOML file whose keys are the snake_case field names of [`Settings`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Checks values that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason: &str| {
            Err(ConfigError::Invalid {
                name,
                reason: reason.to_owned(),
            })
        };
        if self.index_page_size == 0 {
            return invalid("index_page_size", "must be at least 1");
        }
        if self
            .instance_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return invalid(
                "instance_id",
                "must not be empty; leave it out for the default",
            );
        }
        if self.nats_url.is_some()
            && (self.routing.hub_name.is_empty()
                || self
                    .routing
                    .hub_name
                    .contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>')))
        {
            return invalid(
                "routing.hub_name",
                "names a NATS subject token with nats_url set: no dots, spaces, * or >",
            );
        }
        if self.max_batch_models == 0 {
            return invalid("max_batch_models", "must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        if !(2..=4).contains(&self.max_dtdl_version) {
            return invalid("max_dtdl_version", "must be 2, 3 or 4");
        }
        if self.database_max_connections == 0 {
            return invalid("database_max_connections", "must be at least 1");
        }
        if let Some(token) = &self.admin_token
            && token.expose().len() < 16
        {
            return invalid("admin_token", "must be at least 16 characters long");
        }
        if let Some(secret) = &self.session_secret
            && secret.expose().len() < 32
        {
            return invalid("session_secret", "must be at least 32 characters long");
        }
        if self.session_ttl_minutes == 0 {
            return invalid("session_ttl_minutes", "must be at least 1");
        }
        if self.login_max_failures == 0 {
            return invalid("login_max_failures", "must be at least 1");
        }
        let mut names = std::collections::HashSet::new();
        for issuer in &self.oidc {
            let valid_name = !issuer.name.is_empty()
                && issuer
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_name {
                return invalid(
                    "oidc.name",
                    &format!(
                        "{:?} must be letters, digits, - or _ (it appears in URLs)",
                        issuer.name
                    ),
                );
            }
            if !names.insert(issuer.name.as_str()) {
                return invalid(
                    "oidc.name",
                    &format!("{:?} is configured twice", issuer.name),
                );
            }
            if !(issuer.issuer.starts_with("https://") || issuer.issuer.starts_with("http://")) {
                return invalid(
                    "oidc.issuer",
                    &format!("{:?} must be an http(s) URL", issuer.issuer),
                );
            }
        }
        if self.hub_host_names.is_empty() || self.hub_host_names.iter().any(|h| h.trim().is_empty())
        {
            return invalid(
                "hub_host_names",
                "name at least one host (a DNS name or IP address devices connect to)",
            );
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid(
                "tls_cert",
                "give tls_cert and tls_key together, or neither for a development certificate",
            );
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return invalid(
                "database_url",
                "must start with sqlite:// or postgres:// (for example sqlite://twinhub.db)",
            );
        }
        Ok(())
    }
}

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Hides the password of a database URL (`postgres://user:pw@host/db` → `postgres://user:***@host/db`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_admin_token_and_database_password() {
        let settings = Settings {
            admin_token: Some(Secret::new("super-secret-token-value")),
            database_url: "postgres://app:hunter2@db:5432/twinhub".to_owned(),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("super-secret-token-value"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("postgres://app:***@db:5432/twinhub"),
            "{printed}"
        );
    }

    #[test]
    fn a_toml_file_overrides_defaults_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("twinhub.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nindex_page_size = 10\n").expect("write");
        let settings = Settings::from_file(&path).expect("valid file");
        assert_eq!(settings.bind.port(), 9000);
        assert_eq!(settings.index_page_size, 10);
        assert_eq!(settings.max_batch_models, 1000);

        std::fs::write(&path, "bnid = \"0.0.0.0:9000\"\n").expect("write");
        let error = Settings::from_file(&path).expect_err("typo must be refused");
        assert!(error.to_string().contains("bnid"), "{error}");
    }

    #[test]
    fn validation_refuses_a_zero_page_size_and_short_tokens() {
        let zero = Settings {
            index_page_size: 0,
            ..Settings::default()
        };
        assert!(zero.validate().is_err());
        let short = Settings {
            admin_token: Some(Secret::new("short")),
            ..Settings::default()
        };
        assert!(short.validate().is_err());
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn development_certificates_live_beside_a_sqlite_database() {
        let settings = |url: &str| Settings {
            database_url: url.to_owned(),
            ..Settings::default()
        };
        assert_eq!(
            settings("sqlite:///var/lib/twinhub/hub.db?mode=rwc").dev_certs_dir(),
            PathBuf::from("/var/lib/twinhub/hub-certs")
        );
        assert_eq!(
            settings("sqlite://twinhub.db").dev_certs_dir(),
            PathBuf::from("twinhub-certs")
        );
        assert_eq!(
            settings("postgres://db/twinhub").dev_certs_dir(),
            PathBuf::from("twinhub-certs")
        );
        let half = Settings {
            tls_cert: Some("server.pem".into()),
            ..Settings::default()
        };
        assert!(half.validate().is_err(), "a certificate without its key");
    }
}

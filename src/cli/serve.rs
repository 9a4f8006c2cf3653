//! `twinhub serve`: runs the model repository (HTTP API, DMR tree, pages) until SIGTERM/SIGINT.
//! Settings come from defaults, a TOML file, `TWINHUB_*` variables and these flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{ConfigError, Secret, Settings};
use crate::startup::{Application, StartupError};
use crate::telemetry;

/// Every flag can also be set from the environment or a TOML file; flags win over the
/// environment, which wins over the file, which wins over the built-in defaults.
#[derive(Args)]
pub struct ServeArgs {
    /// TOML file with settings (keys are the snake_case names, e.g. `index_page_size = 500`).
    #[arg(long, env = "TWINHUB_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long, env = "TWINHUB_BIND", value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`
    /// [default: sqlite://twinhub.db].
    #[arg(long, env = "TWINHUB_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// Bootstrap bearer token with full rights (at least 16 characters). Without it the
    /// service is read-only.
    #[arg(
        long,
        env = "TWINHUB_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Name reported as `sourceRepo` in /metadata.json [default: twinhub].
    #[arg(long, env = "TWINHUB_REPOSITORY_NAME", value_name = "NAME")]
    repository_name: Option<String>,
    /// Models per DMR index page [default: 2048].
    #[arg(long, env = "TWINHUB_INDEX_PAGE_SIZE", value_name = "N")]
    index_page_size: Option<usize>,
    /// Most models accepted in one push [default: 1000].
    #[arg(long, env = "TWINHUB_MAX_BATCH_MODELS", value_name = "N")]
    max_batch_models: Option<usize>,
    /// Largest push body in bytes [default: 8388608].
    #[arg(long, env = "TWINHUB_MAX_BODY_BYTES", value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Memory budget of the resolution cache in bytes [default: 268435456].
    #[arg(long, env = "TWINHUB_CACHE_MAX_BYTES", value_name = "BYTES")]
    cache_max_bytes: Option<u64>,
    /// Maximum database connections [default: 16].
    #[arg(long, env = "TWINHUB_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    database_max_connections: Option<u32>,
    /// Highest DTDL major version accepted on push: 2, 3 or 4 [default: 4].
    #[arg(long, env = "TWINHUB_MAX_DTDL_VERSION", value_name = "N")]
    max_dtdl_version: Option<u8>,
    /// Visibility of namespaces without a setting of their own: public or private
    /// [default: public].
    #[arg(long, env = "TWINHUB_DEFAULT_VISIBILITY", value_name = "VISIBILITY")]
    default_visibility: Option<crate::domain::access::Visibility>,
    /// Secret (at least 32 characters) that signs and encrypts session cookies; set it so
    /// sessions survive restarts and work across instances.
    #[arg(
        long,
        env = "TWINHUB_SESSION_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    session_secret: Option<String>,
    /// Public base URL, e.g. https://models.example.com (used for OIDC redirect URIs).
    #[arg(long, env = "TWINHUB_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Trust Forwarded / X-Forwarded-* headers from a reverse proxy in front of twinhub.
    #[arg(long, env = "TWINHUB_BEHIND_PROXY", value_name = "BOOL")]
    behind_proxy: Option<bool>,
    /// Always mark cookies Secure (when TLS ends before twinhub without a trusted proxy).
    #[arg(long, env = "TWINHUB_SECURE_COOKIES", value_name = "BOOL")]
    secure_cookies: Option<bool>,
    /// Address of the IoT Hub service API (HTTPS with the hub's certificate)
    /// [default: 127.0.0.1:8443].
    #[arg(long, env = "TWINHUB_SERVICE_BIND", value_name = "ADDR")]
    service_bind: Option<SocketAddr>,
    /// Do not serve the IoT Hub service API.
    #[arg(long, env = "TWINHUB_NO_SERVICE")]
    no_service: bool,
    /// Do not run the device hub's MQTT endpoint (the device API still works).
    #[arg(long, env = "TWINHUB_NO_HUB")]
    no_hub: bool,
    /// Address of the MQTT endpoint for devices [default: 127.0.0.1:8883].
    #[arg(long, env = "TWINHUB_HUB_BIND", value_name = "ADDR")]
    hub_bind: Option<SocketAddr>,
    /// A name devices use for the hub (HostName= and the SAS token host); repeat for several.
    /// The first goes into connection strings [default: localhost].
    #[arg(
        long = "hub-host-name",
        env = "TWINHUB_HUB_HOST_NAMES",
        value_name = "NAME",
        value_delimiter = ','
    )]
    hub_host_names: Vec<String>,
    /// PEM certificate chain of the MQTT endpoint; without it a development CA is used.
    #[arg(
        long,
        env = "TWINHUB_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "TWINHUB_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Folder of the development CA [default: beside the SQLite database].
    #[arg(long, env = "TWINHUB_HUB_CERTS_DIR", value_name = "DIR")]
    hub_certs_dir: Option<PathBuf>,
    /// PEM file of a CA whose certificates identify devices by CN; repeat for several.
    #[arg(
        long = "hub-device-ca",
        env = "TWINHUB_HUB_DEVICE_CA",
        value_name = "FILE",
        value_delimiter = ','
    )]
    hub_device_ca: Vec<PathBuf>,
    /// NATS server that instances sharing one PostgreSQL database coordinate through.
    #[arg(long, env = "TWINHUB_NATS_URL", value_name = "URL")]
    nats_url: Option<String>,
    /// This instance's name among those sharing the database [default: host name and
    /// --hub-bind].
    #[arg(long, env = "TWINHUB_INSTANCE_ID", value_name = "NAME")]
    instance_id: Option<String>,
}

impl ServeArgs {
    fn into_settings(self) -> Result<Settings, ConfigError> {
        let mut settings = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        macro_rules! overlay {
            ($($field:ident),*) => { $(if let Some(value) = self.$field { settings.$field = value; })* };
        }
        overlay!(
            bind,
            database_url,
            repository_name,
            index_page_size,
            max_batch_models,
            max_body_bytes,
            cache_max_bytes,
            database_max_connections,
            max_dtdl_version,
            default_visibility,
            behind_proxy,
            secure_cookies,
            service_bind
        );
        if self.no_service {
            settings.service_enabled = false;
        }
        if let Some(url) = self.public_url {
            settings.public_url = Some(url);
        }
        if let Some(secret) = self.session_secret {
            settings.session_secret = Some(Secret::new(secret));
        }
        if let Some(token) = self.admin_token {
            settings.admin_token = Some(Secret::new(token));
        }
        if self.no_hub {
            settings.hub = false;
        }
        if let Some(bind) = self.hub_bind {
            settings.hub_bind = bind;
        }
        if !self.hub_host_names.is_empty() {
            settings.hub_host_names = self.hub_host_names;
        }
        if !self.hub_device_ca.is_empty() {
            settings.hub_device_ca = self.hub_device_ca;
        }
        if self.tls_cert.is_some() {
            settings.tls_cert = self.tls_cert;
            settings.tls_key = self.tls_key;
        }
        if self.hub_certs_dir.is_some() {
            settings.hub_certs_dir = self.hub_certs_dir;
        }
        if self.nats_url.is_some() {
            settings.nats_url = self.nats_url;
        }
        if self.instance_id.is_some() {
            settings.instance_id = self.instance_id;
        }
        settings.validate()?;
        Ok(settings)
    }
}

/// Starts the service and runs it until it is stopped.
pub fn run(args: ServeArgs) -> ExitCode {
    telemetry::init_logging();
    let settings = match args.into_settings() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("twinhub: {error}");
            return super::Exit::Usage.into();
        }
    };
    match serve(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "twinhub stopped with an error");
            eprintln!("twinhub: {error}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve(settings: Settings) -> Result<(), StartupError> {
    tracing::info!(settings = ?settings, "starting twinhub");
    let application = Application::build(settings).await?;
    application.run_until_stopped().await
}

//! `twinhub device …`: the device hub's registry from the command line, through the HTTP API
//! of a running twinhub (`--repo`, `--token`, like every client-side command): create, list,
//! show and delete devices, and print a device's connection string.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::{Exit, RepoArgs};

#[derive(Args)]
pub struct DeviceArgs {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Register a device and print it with its keys and connection string (JSON).
    Create {
        /// The device id.
        id: String,
        /// How the device authenticates.
        #[arg(long, value_enum, default_value = "sas")]
        auth: AuthKind,
        /// The certificate's SHA-1 or SHA-256 thumbprint (hex), for --auth self-signed.
        #[arg(long, required_if_eq("auth", "self-signed"))]
        thumbprint: Option<String>,
        /// Register the device disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List devices: id, status, connection state (one per line), or JSON with --json.
    List {
        /// Only devices whose twin names this model id.
        #[arg(long)]
        model_id: Option<String>,
        /// Only connected (or disconnected) devices.
        #[arg(long, value_enum)]
        connection_state: Option<ConnectionKind>,
        /// Print the devices as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Print one device (JSON).
    Show { id: String },
    /// Delete a device with its modules, twin and pending messages.
    Delete { id: String },
    /// Print a device connection string (needs the owner role on hub).
    ConnectionString {
        id: String,
        /// With the secondary key instead of the primary.
        #[arg(long)]
        secondary: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthKind {
    Sas,
    SelfSigned,
    Ca,
}

#[derive(Clone, Copy, ValueEnum)]
enum ConnectionKind {
    Connected,
    Disconnected,
}

/// Characters escaped in a path segment (device ids may hold `#`, `?`, `%`, `/`-free punctuation).
pub(super) const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A failed command: what to print and the exit status.
pub(super) struct Failure {
    pub(super) exit: Exit,
    pub(super) message: String,
}

pub async fn run(args: DeviceArgs) -> ExitCode {
    match execute(args).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("twinhub device: {}", failure.message);
            failure.exit.into()
        }
    }
}

async fn execute(args: DeviceArgs) -> Result<String, Failure> {
    let api = Api::new(&args.repo)?;
    match args.command {
        DeviceCommand::Create {
            id,
            auth,
            thumbprint,
            disabled,
        } => {
            let authentication = match auth {
                AuthKind::Sas => json!({"type": "sas"}),
                AuthKind::SelfSigned => json!({
                    "type": "selfSigned",
                    "x509Thumbprint": {"primaryThumbprint": thumbprint},
                }),
                AuthKind::Ca => json!({"type": "certificateAuthority"}),
            };
            let mut body = json!({"deviceId": id, "authentication": authentication});
            if disabled {
                body["status"] = json!("disabled");
            }
            let created = api
                .send(reqwest::Method::POST, "/api/v1/devices", Some(body))
                .await?;
            Ok(pretty(&created))
        }
        DeviceCommand::List {
            model_id,
            connection_state,
            json: as_json,
        } => {
            let mut devices = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut query = vec![("limit".to_owned(), "1000".to_owned())];
                if let Some(model) = &model_id {
                    query.push(("modelId".into(), model.clone()));
                }
                if let Some(state) = connection_state {
                    let state = match state {
                        ConnectionKind::Connected => "connected",
                        ConnectionKind::Disconnected => "disconnected",
                    };
                    query.push(("connectionState".into(), state.into()));
                }
                if let Some(after) = &after {
                    query.push(("after".into(), after.clone()));
                }
                let page = api.get_query("/api/v1/devices", &query).await?;
                if let Some(items) = page["items"].as_array() {
                    devices.extend(items.iter().cloned());
                }
                match page["nextAfter"].as_str() {
                    Some(next) => after = Some(next.to_owned()),
                    None => break,
                }
            }
            if as_json {
                return Ok(pretty(&Value::Array(devices)));
            }
            let lines: Vec<String> = devices
                .iter()
                .map(|d| {
                    format!(
                        "{}\t{}\t{}",
                        d["deviceId"].as_str().unwrap_or_default(),
                        d["status"].as_str().unwrap_or_default(),
                        d["connectionState"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            Ok(lines.join("\n"))
        }
        DeviceCommand::Show { id } => {
            let device = api
                .send(reqwest::Method::GET, &device_path(&id), None)
                .await?;
            Ok(pretty(&device))
        }
        DeviceCommand::Delete { id } => {
            api.send(reqwest::Method::DELETE, &device_path(&id), None)
                .await?;
            Ok(format!("deleted {id}"))
        }
        DeviceCommand::ConnectionString { id, secondary } => {
            let device = api
                .send(reqwest::Method::GET, &device_path(&id), None)
                .await?;
            let Some(primary) = device["connectionString"].as_str() else {
                return Err(Failure {
                    exit: Exit::Unauthorized,
                    message: format!(
                        "no connection string for {id}: showing keys needs the owner role on hub"
                    ),
                });
            };
            if !secondary {
                return Ok(primary.to_owned());
            }
            let keys = &device["authentication"]["symmetricKey"];
            match (keys["primaryKey"].as_str(), keys["secondaryKey"].as_str()) {
                (Some(first), Some(second)) => Ok(primary.replace(
                    &format!("SharedAccessKey={first}"),
                    &format!("SharedAccessKey={second}"),
                )),
                _ => Err(Failure {
                    exit: Exit::Invalid,
                    message: format!("{id} authenticates with a certificate and has no keys"),
                }),
            }
        }
    }
}

fn device_path(id: &str) -> String {
    format!("/api/v1/devices/{}", utf8_percent_encode(id, SEGMENT))
}

pub(super) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The twinhub API at `--repo`, with `--token` (shared with `twinhub hub`).
pub(super) struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub(super) fn new(repo: &RepoArgs) -> Result<Api, Failure> {
        if !(repo.repo.starts_with("http://") || repo.repo.starts_with("https://")) {
            return Err(Failure {
                exit: Exit::Usage,
                message: format!(
                    "--repo must be the URL of a twinhub server, not {:?}",
                    repo.repo
                ),
            });
        }
        twinhub_client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(repo.timeout.max(1)))
            .build()
            .map_err(|e| Failure {
                exit: Exit::Unavailable,
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Api {
            base: repo.repo.trim_end_matches('/').to_owned(),
            token: repo.token.token.clone(),
            http,
        })
    }

    async fn get_query(&self, path: &str, query: &[(String, String)]) -> Result<Value, Failure> {
        let query: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, SEGMENT)))
            .collect();
        let request = self
            .http
            .get(format!("{}{path}?{}", self.base, query.join("&")));
        self.finish(request, "GET", path).await
    }

    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(request, method.as_str(), path).await
    }

    async fn finish(
        &self,
        mut request: reqwest::RequestBuilder,
        method: &str,
        path: &str,
    ) -> Result<Value, Failure> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| Failure {
            exit: Exit::Unavailable,
            message: format!("{method} {}{path} failed: {e}", self.base),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            });
        }
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|p| p["detail"].as_str().map(str::to_owned))
            .unwrap_or(text);
        let exit = match status.as_u16() {
            401 | 403 => Exit::Unauthorized,
            409 | 412 => Exit::Conflict,
            400 | 404 | 422 => Exit::Invalid,
            _ => Exit::Unavailable,
        };
        Err(Failure {
            exit,
            message: format!("{status}: {detail}"),
        })
    }
}

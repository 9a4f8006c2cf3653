//! `twinhub hub …`: the hub's shared access policies and message routes through the HTTP API
//! of a running twinhub (`--repo`, `--token` of an admin): list, create, delete and regenerate
//! policies, print the service connection string a back end passes to the Azure IoT service
//! SDK (`IoTHubRegistryManager.from_connection_string`), and list, show, store, delete and
//! test routes (`/api/v1/hub/routes`).

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value, json};

use super::device::{Api, Failure, SEGMENT, pretty};
use super::{Exit, RepoArgs};

#[derive(Args)]
pub struct HubArgs {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(subcommand)]
    command: HubCommand,
}

#[derive(Subcommand)]
enum HubCommand {
    /// Shared access policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Message routes: list, show, store, delete, and test against a sample message.
    Route {
        #[command(subcommand)]
        command: RouteCommand,
    },
    /// Print the service connection string of a policy.
    ConnectionString {
        /// The policy whose key signs the back end's tokens.
        #[arg(long, default_value = "iothubowner")]
        policy: String,
        /// With the secondary key instead of the primary.
        #[arg(long)]
        secondary: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// List policies: name and rights (one per line), or JSON with keys with --json.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a policy with generated keys and print it (JSON).
    Create {
        name: String,
        /// The rights it grants; repeat or separate with commas.
        #[arg(long = "right", value_enum, value_delimiter = ',', required = true)]
        rights: Vec<RightArg>,
    },
    /// Delete a policy: tokens signed with its keys stop working.
    Delete { name: String },
    /// Replace a policy's key(s) with fresh ones and print it (JSON).
    Regenerate {
        name: String,
        #[arg(long, value_enum, default_value = "primary")]
        key: KeyArg,
    },
}

#[derive(Subcommand)]
enum RouteCommand {
    /// List the running routes: name, source, enabled, stored or configured, endpoints and
    /// condition (one per line, then the fallback), or JSON with --json.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print one running route (JSON).
    Show { name: String },
    /// Store a route (created or replaced; it runs at once) and print it (JSON).
    Put {
        name: String,
        /// The messages it routes.
        #[arg(long, value_enum, default_value = "telemetry")]
        source: SourceArg,
        /// In IoT Hub's routing query syntax, e.g. '$body.temperature > 30'.
        #[arg(long, default_value = "true")]
        condition: String,
        /// An endpoint it sends to; repeat for several.
        #[arg(long = "endpoint", required = true)]
        endpoints: Vec<String>,
        /// An enrichment KEY=VALUE (static text, $iothubname, $twin.tags.…); repeat.
        #[arg(long = "enrich", value_parser = key_value)]
        enrichments: Vec<(String, String)>,
        /// Store it disabled.
        #[arg(long)]
        disabled: bool,
        /// Annotate telemetry with the device's model.
        #[arg(long)]
        annotate_telemetry: bool,
    },
    /// Delete a stored route; it stops at once.
    Delete { name: String },
    /// Evaluate a running route, or a condition, against a sample message (a JSON file:
    /// body, properties, modelId, twin, …, as `POST /api/v1/hub/routes/{name}/test` takes).
    Test {
        /// The running route to test.
        #[arg(required_unless_present = "condition", conflicts_with_all = ["condition", "source", "enrichments"])]
        name: Option<String>,
        /// A condition to test instead of a route.
        #[arg(long)]
        condition: Option<String>,
        /// The condition's source [default: telemetry].
        #[arg(long, value_enum)]
        source: Option<SourceArg>,
        /// An enrichment KEY=VALUE of the condition; repeat.
        #[arg(long = "enrich", value_parser = key_value)]
        enrichments: Vec<(String, String)>,
        /// The sample message; `-` reads standard input.
        #[arg(long)]
        message: String,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceArg {
    Telemetry,
    TwinChangeEvents,
    DigitalTwinChangeEvents,
    DeviceLifecycleEvents,
    DeviceConnectionStateEvents,
}

impl SourceArg {
    fn api_name(self) -> &'static str {
        match self {
            SourceArg::Telemetry => "Telemetry",
            SourceArg::TwinChangeEvents => "twinChangeEvents",
            SourceArg::DigitalTwinChangeEvents => "digitalTwinChangeEvents",
            SourceArg::DeviceLifecycleEvents => "deviceLifecycleEvents",
            SourceArg::DeviceConnectionStateEvents => "deviceConnectionStateEvents",
        }
    }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn enrichment_map(pairs: Vec<(String, String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect::<Map<String, Value>>(),
    )
}

#[derive(Clone, Copy, ValueEnum)]
enum RightArg {
    RegistryRead,
    RegistryWrite,
    ServiceConnect,
    DeviceConnect,
}

impl RightArg {
    fn api_name(self) -> &'static str {
        match self {
            RightArg::RegistryRead => "RegistryRead",
            RightArg::RegistryWrite => "RegistryWrite",
            RightArg::ServiceConnect => "ServiceConnect",
            RightArg::DeviceConnect => "DeviceConnect",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyArg {
    Primary,
    Secondary,
    Both,
}

pub async fn run(args: HubArgs) -> ExitCode {
    match execute(args).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("twinhub hub: {}", failure.message);
            failure.exit.into()
        }
    }
}

fn policy_path(name: &str) -> String {
    format!(
        "/api/v1/hub/policies/{}",
        utf8_percent_encode(name, SEGMENT)
    )
}

fn route_path(name: &str) -> String {
    format!("/api/v1/hub/routes/{}", utf8_percent_encode(name, SEGMENT))
}

/// One line of `route list`: name, source, enabled, stored, endpoints, condition.
fn route_line(route: &Value) -> String {
    let endpoints: Vec<&str> = route["endpoints"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let enabled = if route["enabled"].as_bool().unwrap_or(true) {
        "enabled"
    } else {
        "disabled"
    };
    let stored = if route["stored"].as_bool().unwrap_or(false) {
        "stored"
    } else {
        "configured"
    };
    format!(
        "{}\t{}\t{enabled}\t{stored}\t{}\t{}",
        route["name"].as_str().unwrap_or_default(),
        route["source"].as_str().unwrap_or_default(),
        endpoints.join(","),
        route["condition"].as_str().unwrap_or("true"),
    )
}

/// The sample message of `route test --message FILE` (`-`: standard input).
fn read_message(path: &str) -> Result<Value, Failure> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Failure {
        exit: Exit::Invalid,
        message: format!("cannot read the message {path}: {e}"),
    })?;
    let message: Value = serde_json::from_str(&text).map_err(|e| Failure {
        exit: Exit::Invalid,
        message: format!("the message {path} is not JSON: {e}"),
    })?;
    if !message.is_object() {
        return Err(Failure {
            exit: Exit::Invalid,
            message: format!(
                "the message {path} must be a JSON object such as {{\"body\": {{\"temperature\": 31}}, \"properties\": {{\"alert\": \"yes\"}}}}"
            ),
        });
    }
    Ok(message)
}

/// `route test` for people: the verdict, the condition's value, the enrichments.
fn test_report(answer: &Value) -> String {
    let verdict = if answer["matched"].as_bool().unwrap_or(false) {
        "matched".to_owned()
    } else if !answer["sourceMatches"].as_bool().unwrap_or(false) {
        format!(
            "not matched: the route takes another source than {}",
            answer["source"].as_str().unwrap_or_default()
        )
    } else {
        "not matched".to_owned()
    };
    let value = match &answer["value"] {
        Value::Null => "undefined".to_owned(),
        other => other.to_string(),
    };
    let mut lines = vec![verdict, format!("condition value: {value}")];
    for pair in answer["enrichments"].as_array().into_iter().flatten() {
        lines.push(format!(
            "enrichment {}={}",
            pair[0].as_str().unwrap_or_default(),
            pair[1].as_str().unwrap_or_default()
        ));
    }
    lines.join("\n")
}

async fn route(api: &Api, command: RouteCommand) -> Result<String, Failure> {
    use reqwest::Method;
    match command {
        RouteCommand::List { json } => {
            let list = api.send(Method::GET, "/api/v1/hub/routes", None).await?;
            if json {
                return Ok(pretty(&list));
            }
            let mut lines: Vec<String> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(route_line)
                .collect();
            if let Some(endpoints) = list["fallback"]["endpoints"].as_array() {
                let endpoints: Vec<&str> = endpoints.iter().filter_map(Value::as_str).collect();
                lines.push(format!("(fallback)\t\t\t\t{}", endpoints.join(",")));
            }
            Ok(lines.join("\n"))
        }
        RouteCommand::Show { name } => {
            let list = api.send(Method::GET, "/api/v1/hub/routes", None).await?;
            list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"].as_str() == Some(name.as_str()))
                .map(pretty)
                .ok_or_else(|| Failure {
                    exit: Exit::Invalid,
                    message: format!("no route '{name}' runs"),
                })
        }
        RouteCommand::Put {
            name,
            source,
            condition,
            endpoints,
            enrichments,
            disabled,
            annotate_telemetry,
        } => {
            let body = json!({
                "name": name,
                "source": source.api_name(),
                "condition": condition,
                "endpoints": endpoints,
                "enrichments": enrichment_map(enrichments),
                "enabled": !disabled,
                "annotateTelemetry": annotate_telemetry,
            });
            let stored = api
                .send(Method::PUT, &route_path(&name), Some(body))
                .await?;
            Ok(pretty(&stored))
        }
        RouteCommand::Delete { name } => {
            api.send(Method::DELETE, &route_path(&name), None).await?;
            Ok(format!("deleted {name}"))
        }
        RouteCommand::Test {
            name,
            condition,
            source,
            enrichments,
            message,
            json,
        } => {
            let message = read_message(&message)?;
            let answer = match name {
                Some(name) => {
                    api.send(
                        Method::POST,
                        &format!("{}/test", route_path(&name)),
                        Some(message),
                    )
                    .await?
                }
                None => {
                    let body = json!({
                        "source": source.unwrap_or(SourceArg::Telemetry).api_name(),
                        "condition": condition,
                        "enrichments": enrichment_map(enrichments),
                        "message": message,
                    });
                    api.send(Method::POST, "/api/v1/hub/routes/test", Some(body))
                        .await?
                }
            };
            if json {
                Ok(pretty(&answer))
            } else {
                Ok(test_report(&answer))
            }
        }
    }
}

async fn execute(args: HubArgs) -> Result<String, Failure> {
    use reqwest::Method;
    let api = Api::new(&args.repo)?;
    match args.command {
        HubCommand::Policy { command } => match command {
            PolicyCommand::List { json } => {
                let list = api.send(Method::GET, "/api/v1/hub/policies", None).await?;
                let items = list["items"].as_array().cloned().unwrap_or_default();
                if json {
                    return Ok(pretty(&serde_json::Value::Array(items)));
                }
                Ok(items
                    .iter()
                    .map(|p| {
                        let rights: Vec<&str> = p["rights"]
                            .as_array()
                            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                            .unwrap_or_default();
                        format!(
                            "{}\t{}",
                            p["name"].as_str().unwrap_or_default(),
                            rights.join(",")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            PolicyCommand::Create { name, rights } => {
                let rights: Vec<&str> = rights.iter().map(|r| r.api_name()).collect();
                let created = api
                    .send(
                        Method::POST,
                        "/api/v1/hub/policies",
                        Some(json!({"name": name, "rights": rights})),
                    )
                    .await?;
                Ok(pretty(&created))
            }
            PolicyCommand::Delete { name } => {
                api.send(Method::DELETE, &policy_path(&name), None).await?;
                Ok(format!("deleted {name}"))
            }
            PolicyCommand::Regenerate { name, key } => {
                let key = match key {
                    KeyArg::Primary => "primary",
                    KeyArg::Secondary => "secondary",
                    KeyArg::Both => "both",
                };
                let policy = api
                    .send(
                        Method::POST,
                        &format!("{}/regenerate", policy_path(&name)),
                        Some(json!({"key": key})),
                    )
                    .await?;
                Ok(pretty(&policy))
            }
        },
        HubCommand::Route { command } => route(&api, command).await,
        HubCommand::ConnectionString { policy, secondary } => {
            let key = if secondary { "secondary" } else { "primary" };
            let answer = api
                .send(
                    Method::GET,
                    &format!("{}/connection-string?key={key}", policy_path(&policy)),
                    None,
                )
                .await?;
            Ok(answer["connectionString"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        }
    }
}

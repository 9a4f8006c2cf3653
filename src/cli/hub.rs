//! `twinhub hub …`: the hub's shared access policies through the HTTP API of a running
//! twinhub (`--repo`, `--token` of an admin): list, create, delete and regenerate policies,
//! and print the service connection string a back end passes to the Azure IoT service SDK
//! (`IoTHubRegistryManager.from_connection_string`).

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use percent_encoding::utf8_percent_encode;
use serde_json::json;

use super::RepoArgs;
use super::device::{Api, Failure, SEGMENT, pretty};

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

//! `twinhub admin …`: bootstrap tasks run on the server machine against the database
//! directly, such as creating the first admin account.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::auth::secrets;
use crate::domain::access::{Actor, Namespace, NewUser, Role};

#[derive(Args)]
pub struct AdminArgs {
    /// Database of the repository (the same URL `twinhub serve` uses).
    #[arg(
        long,
        env = "TWINHUB_DATABASE_URL",
        default_value = "sqlite://twinhub.db"
    )]
    database_url: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a local account. The password is read from standard input (one line), so it
    /// never appears in the process list or shell history.
    CreateUser {
        /// The user name (letters, digits, . - _ @).
        name: String,
        /// The role to grant.
        #[arg(long, default_value = "reader")]
        role: Role,
        /// Namespaces the role applies to (not needed for admin), e.g. dtmi:com:acme.
        #[arg(long = "namespace", value_name = "PREFIX")]
        namespaces: Vec<Namespace>,
    },
}

impl std::str::FromStr for Namespace {
    type Err = crate::domain::access::InvalidNamespace;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Namespace::parse(text)
    }
}

/// Runs an admin command; exit 0 on success, 1 on failure.
pub async fn run(args: AdminArgs) -> ExitCode {
    match execute(args).await {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("twinhub admin: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(args: AdminArgs) -> Result<String, String> {
    match args.command {
        AdminCommand::CreateUser {
            name,
            role,
            namespaces,
        } => {
            let grants: Vec<(Namespace, Role)> = if role == Role::Admin {
                vec![(Namespace::everything(), Role::Admin)]
            } else if namespaces.is_empty() {
                return Err(format!(
                    "the {role} role needs --namespace PREFIX (e.g. --namespace dtmi:com:acme)"
                ));
            } else {
                namespaces.into_iter().map(|ns| (ns, role)).collect()
            };
            let valid_name = (1..=64).contains(&name.chars().count())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
            if !valid_name {
                return Err(format!(
                    "{name:?} is not a valid user name: use 1 to 64 letters, digits, . - _ or @"
                ));
            }
            eprintln!("Password for {name} (one line on standard input):");
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            let hash = secrets::hash_password(&password).map_err(|e| e.to_string())?;
            let store = crate::store::open(&args.database_url, 2)
                .await
                .map_err(|e| {
                    format!(
                        "cannot open {}: {e}",
                        crate::config::redact_url(&args.database_url)
                    )
                })?;
            let user = store
                .create_user(
                    &NewUser {
                        name,
                        password_hash: Some(hash),
                        issuer: None,
                        subject: None,
                        email: None,
                    },
                    &grants,
                    &Actor::local("twinhub admin"),
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!("created user {} with the {role} role", user.name))
        }
    }
}

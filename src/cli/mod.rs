//! The `twinhub` subcommands, one file each (its clap arguments and its `run`), plus what they
//! share: reading model files from folders and zips (`files.rs`), reporting issues for people,
//! GitHub and machines (`report.rs`), progress bars (`progress.rs`), resolving references from
//! folders and repositories (`references.rs`) and the exit codes below.
//!
//! Client-side commands talk to a repository only through `twinhub-client`; `import` and
//! `export --database-url` open the store directly and run the same domain code as the server.

pub mod admin;
pub mod dev_ca;
pub mod device;
pub mod export;
pub mod files;
pub mod hub;
pub mod import;
pub mod openapi;
pub mod progress;
pub mod push;
pub mod references;
pub mod report;
pub mod resolve;
pub mod serve;
pub mod validate;

use std::process::ExitCode;

use twinhub_client::ClientError;

/// What a command's exit status means; the same for every subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done (for a push: stored, or already stored identically).
    Ok = 0,
    /// A model is invalid (DTDL, repository rules, unknown dependency, cycle, unreadable file),
    /// or a requested model does not exist.
    Invalid = 1,
    /// The repository holds different content for a pushed DTMI (or another conflict).
    Conflict = 2,
    /// The repository refused the credentials (401/403).
    Unauthorized = 3,
    /// The repository or database could not be reached, or failed.
    Unavailable = 4,
    /// The command line itself is wrong.
    Usage = 64,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

impl Exit {
    /// The exit status for a failed repository request.
    pub fn for_client_error(error: &ClientError) -> Exit {
        match error {
            ClientError::Unauthorized { .. } => Exit::Unauthorized,
            ClientError::Refused { status: 409, .. } => Exit::Conflict,
            ClientError::Refused { status: 422, .. }
            | ClientError::NotFound { .. }
            | ClientError::InvalidDtmi(_)
            | ClientError::WrongCasing { .. } => Exit::Invalid,
            ClientError::InvalidLocation { .. } => Exit::Usage,
            _ => Exit::Unavailable,
        }
    }
}

/// Runs an async command on a multi-threaded runtime.
pub fn block_on(command: &str, run: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run),
        Err(error) => {
            eprintln!("twinhub {command}: cannot start: {error}");
            Exit::Unavailable.into()
        }
    }
}

/// Where a client-side command finds the repository, and the credentials it sends.
#[derive(clap::Args, Clone, Debug)]
pub struct RepoArgs {
    /// Repository: a twinhub server or any DMR tree (http(s) URL or local folder).
    #[arg(
        long,
        visible_alias = "url",
        env = "TWINHUB_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub repo: String,
    #[command(flatten)]
    pub token: TokenArgs,
    /// Seconds before one HTTP request is abandoned (it is retried if transient).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
}

/// How commands that open the database directly learn which namespaces are private: the
/// namespace settings stored there, over the server's default.
#[derive(clap::Args, Clone, Debug)]
pub struct VisibilityArgs {
    /// Visibility of namespaces without a setting of their own, as the server is configured.
    #[arg(
        long,
        env = "TWINHUB_DEFAULT_VISIBILITY",
        default_value = "public",
        value_name = "VISIBILITY"
    )]
    pub default_visibility: crate::domain::access::Visibility,
}

/// The API token of a client-side command.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TokenArgs {
    /// API token, sent as `Authorization: Bearer …`.
    #[arg(
        long,
        env = "TWINHUB_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

impl RepoArgs {
    /// Settings for `repo` with default timeout.
    pub fn for_location(repo: &str, token: &TokenArgs) -> RepoArgs {
        RepoArgs {
            repo: repo.to_owned(),
            token: token.clone(),
            timeout: 60,
        }
    }

    pub fn client(&self) -> Result<twinhub_client::RepositoryClient, ClientError> {
        twinhub_client::RepositoryClient::with_options(
            &self.repo,
            twinhub_client::ClientOptions {
                token: self.token.token.clone(),
                timeout: std::time::Duration::from_secs(self.timeout.max(1)),
                ..twinhub_client::ClientOptions::default()
            },
        )
    }
}

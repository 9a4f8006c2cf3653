//! `twinhub resolve DTMI…`: fetches models (and, by default, their dependencies) from any
//! DMR-compatible repository. Without `--output` it prints them as one JSON array (the
//! `.expanded.json` / `dmr-client export` shape, requested models first); with `--output DIR`
//! it writes each model byte-exact at its DMR path under DIR.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use twinhub_client::DependencyResolution;

use super::{Exit, RepoArgs};
use crate::repository::resolution::expanded_document;

/// Exit codes: 0 resolved, 1 a model is missing or a DTMI invalid, 3 credentials refused,
/// 4 network or server error.
#[derive(Args)]
pub struct ResolveArgs {
    /// DTMIs to resolve, such as dtmi:com:example:Thermostat;1.
    #[arg(required = true, value_name = "DTMI")]
    pub dtmis: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Which dependencies to fetch: disabled, enabled, or try-expanded (expanded files first).
    #[arg(long, default_value = "enabled", value_name = "MODE")]
    pub deps: DependencyResolution,
    /// Write the models into this folder in DMR layout instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ResolveArgs) -> ExitCode {
    super::block_on("resolve", async {
        match resolve(&args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err((exit, message)) => {
                eprintln!("twinhub resolve: {message}");
                exit.into()
            }
        }
    })
}

async fn resolve(args: &ResolveArgs) -> Result<(), (Exit, String)> {
    let client_error = |e: twinhub_client::ClientError| (Exit::for_client_error(&e), e.to_string());
    let client = args.repo.client().map_err(client_error)?;
    let dtmis: Vec<&str> = args.dtmis.iter().map(String::as_str).collect();
    let models = client
        .get_models(&dtmis, args.deps)
        .await
        .map_err(client_error)?;
    let Some(output) = &args.output else {
        let document = expanded_document(models.iter().map(|m| m.content.as_bytes()));
        println!("{}", String::from_utf8_lossy(&document).trim_end());
        return Ok(());
    };
    // Expanded files carry each model as an array element (whitespace around it trimmed); the
    // files written here are the models' own files, byte-exact.
    let dtmis: Vec<&str> = models.iter().map(|m| m.dtmi.as_str()).collect();
    let models = client
        .get_models(&dtmis, DependencyResolution::Disabled)
        .await
        .map_err(client_error)?;
    for model in &models {
        let dtmi = dtdl::Dtmi::parse(&model.dtmi)
            .map_err(|e| (Exit::Invalid, format!("{}: {e}", model.dtmi)))?;
        let path = output.join(dtmi.to_dmr_path());
        let write = |path: &PathBuf| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, model.content.as_bytes())
        };
        write(&path).map_err(|e| {
            (
                Exit::Unavailable,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        println!("{}", path.display());
    }
    Ok(())
}

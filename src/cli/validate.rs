//! `twinhub validate PATH…`: offline validation with the repository's DTDL parser. References
//! the files do not define come from `--deps` folders and/or a `--repo`; `--strict` adds the
//! repository rules (`dmr-client validate --strict`): one root interface per file, the file at
//! its DMR path, nested ids under the root.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use twinhub_client::{ClientOptions, RepositoryClient};

use super::progress::CliProgress;
use super::push::{finish, read_batch, read_files, refused};
use super::references::Locations;
use super::report::{Format, Summary};
use super::{Exit, RepoArgs, TokenArgs};
use crate::domain::batch::Batch;
use crate::domain::issue::Issue;
use crate::repository::publish::{self, Conventions, Rules};

/// Exit codes: 0 every model is valid, 1 a model is invalid, 3/4 the repository could not be
/// read (credentials / network).
#[derive(Args)]
pub struct ValidateArgs {
    /// Model files, folders (searched recursively for *.json) and zip archives.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A folder in DMR layout to resolve references from (repeatable; searched in order).
    #[arg(long = "deps", value_name = "DIR")]
    pub deps: Vec<PathBuf>,
    /// A repository to resolve references from, after the `--deps` folders.
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    #[command(flatten)]
    pub token: TokenArgs,
    /// Highest DTDL major version accepted: 2, 3 or 4.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u8).range(2..=4))]
    pub max_dtdl_version: u8,
    /// Also apply the repository rules: one root interface per file, file at its DMR path,
    /// nested ids under the root DTMI.
    #[arg(long)]
    pub strict: bool,
    /// Output: text lines, GitHub annotations, or a JSON summary on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: ValidateArgs) -> ExitCode {
    super::block_on("validate", async {
        let mut summary = Summary::default();
        let exit = validate(&args, &mut summary).await;
        if exit == Exit::Ok && args.format != Format::Json {
            println!(
                "{} model(s) in {} file(s) are valid",
                summary.models, summary.files
            );
        }
        finish("validate", args.format, exit, summary)
    })
}

async fn validate(args: &ValidateArgs, summary: &mut Summary) -> Exit {
    let files = match read_files(&args.paths, summary) {
        Ok(files) => files,
        Err(exit) => return exit,
    };
    let batch = match read_batch(&files, summary) {
        Ok(batch) => batch,
        Err(exit) => return exit,
    };
    let mut locations = Vec::new();
    let repo = args
        .repo
        .iter()
        .map(|repo| RepoArgs::for_location(repo, &args.token));
    for folder in &args.deps {
        match RepositoryClient::with_options(
            &folder.display().to_string(),
            ClientOptions::default(),
        ) {
            Ok(client) => locations.push(client),
            Err(error) => {
                summary.error = Some(error.to_string());
                return Exit::Usage;
            }
        }
    }
    for repo in repo {
        match repo.client() {
            Ok(client) => locations.push(client),
            Err(error) => {
                summary.error = Some(error.to_string());
                return Exit::Usage;
            }
        }
    }
    if args.strict {
        let issues = strict_file_rules(&batch);
        if !issues.is_empty() {
            summary.issues = issues;
            return Exit::Invalid;
        }
    }
    let options = dtdl::ParsingOptions {
        max_dtdl_version: args.max_dtdl_version,
        ..dtdl::ParsingOptions::default()
    };
    let rules = Rules {
        conventions: if args.strict {
            Conventions::Enforce
        } else {
            Conventions::Skip
        },
    };
    let progress = Arc::new(CliProgress::new(args.format == Format::Json));
    let result = publish::validate_offline(
        &batch,
        Arc::new(Locations(locations)),
        &options,
        rules,
        progress.clone(),
    )
    .await;
    progress.finish();
    match result {
        Ok(_) => Exit::Ok,
        Err(error) => refused(summary, &error),
    }
}

/// The per-file rules of `--strict`: one root object per file, stored at its DMR path.
fn strict_file_rules(batch: &Batch<'_>) -> Vec<Issue> {
    let mut issues = Vec::new();
    for item in &batch.items {
        let source = &batch.sources[item.source];
        let name = source.name.unwrap_or("-");
        if source.is_array {
            if item.position == 0 {
                let mut issue = Issue::repository(
                    "notSingleRoot",
                    "the file holds an array; in a repository each file holds exactly one interface object",
                );
                issue.file = Some(name.to_owned());
                issues.push(issue);
            }
            continue;
        }
        let Some(Ok(dtmi)) = item
            .value
            .get("@id")
            .and_then(|id| id.as_str())
            .map(dtdl::Dtmi::parse)
        else {
            continue; // the repository rules report a missing or invalid @id
        };
        let expected = dtmi.to_dmr_path();
        let normalized = name.replace('\\', "/");
        if !(normalized == expected || normalized.ends_with(&format!("/{expected}"))) {
            let mut issue = Issue::repository(
                "wrongPlace",
                format!("the file of {dtmi} must be at {expected} (relative to the repository root), not {name}"),
            )
            .about(dtmi.as_str());
            issue.file = Some(name.to_owned());
            issues.push(issue);
        }
    }
    issues
}

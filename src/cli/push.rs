//! `twinhub push PATH…`: validates model files locally (the repository's own rules and DTDL
//! parser, references resolved from the files and the repository), orders them by dependency
//! and uploads them in batches, each stored all-or-nothing (`--atomic`: one batch). Meant for
//! CI: re-pushing identical content succeeds, and the exit code says what happened.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use twinhub_client::{ClientError, ImportFile, ImportOptions, ProblemIssue};

use super::files;
use super::progress::CliProgress;
use super::references::Locations;
use super::report::{self, Format, Summary};
use super::{Exit, RepoArgs};
use crate::domain::batch::Batch;
use crate::domain::issue::Issue;
use crate::repository::publish::{self, PushError, Rules};

/// Exit codes: 0 stored or already stored identically, 1 invalid model, 2 conflict with stored
/// content, 3 credentials refused, 4 network or server error.
#[derive(Args)]
pub struct PushArgs {
    /// Model files (an interface object or an array), folders (searched recursively for
    /// *.json, e.g. a DMR tree) and zip archives.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Output: text lines, GitHub annotations, or a JSON summary on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Models per upload request; each request is stored all-or-nothing.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub batch_size: usize,
    /// Upload everything in one all-or-nothing request (within the server's limits).
    #[arg(long)]
    pub atomic: bool,
    /// Validate and plan the upload, but send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Highest DTDL major version accepted: 2, 3 or 4.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u8).range(2..=4))]
    pub max_dtdl_version: u8,
    /// Admit models that break only the repository's conventions (nested `@id`s outside the
    /// root DTMI), stored with warnings; the server takes this from admins only.
    #[arg(long)]
    pub allow_legacy: bool,
}

pub fn run(args: PushArgs) -> ExitCode {
    super::block_on("push", async {
        let mut summary = Summary::default();
        let exit = push(&args, &mut summary).await;
        finish("push", args.format, exit, summary)
    })
}

/// Prints the outcome of `push` or `validate` and turns it into the exit status.
pub(crate) fn finish(command: &str, format: Format, exit: Exit, mut summary: Summary) -> ExitCode {
    report::print_issues(format, &summary.issues);
    summary.exit_code = exit as u8;
    summary.status = match exit {
        Exit::Ok => "ok",
        Exit::Invalid => "invalid",
        Exit::Conflict => "conflict",
        Exit::Unauthorized => "unauthorized",
        Exit::Unavailable | Exit::Usage => "unavailable",
    };
    if format == Format::Json {
        report::print_summary(&summary);
    } else if let Some(error) = &summary.error {
        eprintln!("twinhub {command}: {error}");
    }
    exit.into()
}

async fn push(args: &PushArgs, summary: &mut Summary) -> Exit {
    let files = match read_files(&args.paths, summary) {
        Ok(files) => files,
        Err(exit) => return exit,
    };
    let batch = match read_batch(&files, summary) {
        Ok(batch) => batch,
        Err(exit) => return exit,
    };
    let client = match args.repo.client() {
        Ok(client) => client,
        Err(error) => {
            summary.error = Some(error.to_string());
            return Exit::Usage;
        }
    };
    let options = dtdl::ParsingOptions {
        max_dtdl_version: args.max_dtdl_version,
        ..dtdl::ParsingOptions::default()
    };
    let progress = Arc::new(CliProgress::new(args.format == Format::Json));
    let validated = publish::validate_offline(
        &batch,
        Arc::new(Locations(vec![client.clone()])),
        &options,
        if args.allow_legacy {
            Rules::LEGACY
        } else {
            Rules::PUSH
        },
        progress.clone(),
    )
    .await;
    progress.finish();
    let models = match validated {
        Ok(models) => models,
        Err(error) => return refused(summary, &error),
    };

    // Each model goes up as the exact text it has in its file; an element of an array file is
    // named `file#/N` and its issues are mapped back into the file below.
    let item_of: HashMap<&str, usize> = batch
        .items
        .iter()
        .filter_map(|item| Some((item.value.get("@id")?.as_str()?, item.index)))
        .collect();
    let units: Vec<(usize, ImportFile)> = models
        .iter()
        .filter_map(|model| {
            let index = *item_of.get(model.dtmi.as_str())?;
            let item = &batch.items[index];
            let source = &batch.sources[item.source];
            let name = source.name.unwrap_or("-");
            let path = if source.is_array {
                format!("{name}#/{}", item.position)
            } else {
                name.to_owned()
            };
            Some((
                index,
                ImportFile {
                    path,
                    content: item.text.to_owned(),
                },
            ))
        })
        .collect();
    let size = if args.atomic {
        units.len().max(1)
    } else {
        args.batch_size.max(1)
    };
    let requests = units.len().div_ceil(size);
    if args.dry_run {
        if args.format != Format::Json {
            println!(
                "{} valid model(s) in {} file(s); would push them to {} in {requests} request(s) (dry run: nothing sent)",
                units.len(),
                files.len(),
                client.location()
            );
        }
        return Exit::Ok;
    }

    let progress = CliProgress::new(args.format == Format::Json);
    publish::Progress::stage(&progress, "pushing", units.len());
    let (mut created, mut unchanged) = (Vec::new(), Vec::new());
    let mut exit = Exit::Ok;
    for chunk in units.chunks(size) {
        let request: Vec<ImportFile> = chunk.iter().map(|(_, file)| file.clone()).collect();
        let import = ImportOptions {
            allow_legacy: args.allow_legacy,
        };
        match client.import_files_with(&request, import).await {
            Ok(outcome) => {
                created.extend(outcome.created);
                unchanged.extend(outcome.unchanged);
                publish::Progress::advance(&progress, chunk.len());
            }
            Err(ClientError::Refused {
                status, problem, ..
            }) => {
                summary.issues = problem
                    .errors
                    .into_iter()
                    .map(|issue| relocate(&batch, chunk, issue))
                    .collect();
                exit = match status {
                    409 => Exit::Conflict,
                    400 | 422 => Exit::Invalid,
                    413 => {
                        summary.error = Some(format!(
                            "{}; use a smaller --batch-size (or raise the server's max_batch_models / max_body_bytes)",
                            problem.detail
                        ));
                        Exit::Unavailable
                    }
                    _ => Exit::Unavailable,
                };
                if summary.error.is_none() {
                    summary.error = Some(format!(
                        "the repository refused the push ({status}): {}",
                        problem.detail
                    ));
                }
                break;
            }
            Err(error) => {
                exit = Exit::for_client_error(&error);
                summary.error = Some(error.to_string());
                break;
            }
        }
    }
    progress.finish();
    if args.format != Format::Json {
        for dtmi in &created {
            println!("stored    {dtmi}");
        }
        let verb = if exit == Exit::Ok {
            ""
        } else {
            " before the failure"
        };
        println!(
            "{} stored, {} already stored identically{verb} ({} file(s), {requests} request(s))",
            created.len(),
            unchanged.len(),
            files.len()
        );
    }
    summary.created = Some(created);
    summary.unchanged = Some(unchanged);
    exit
}

/// Reads the model files of `paths`, counting them in the summary.
pub(crate) fn read_files(
    paths: &[PathBuf],
    summary: &mut Summary,
) -> Result<Vec<files::ModelFile>, Exit> {
    let files = files::read(paths).map_err(|error| {
        summary.error = Some(error.to_string());
        Exit::Invalid
    })?;
    summary.files = files.len();
    Ok(files)
}

/// Splits the files into the models they hold, counting them in the summary.
pub(crate) fn read_batch<'a>(
    files: &'a [files::ModelFile],
    summary: &mut Summary,
) -> Result<Batch<'a>, Exit> {
    let batch = Batch::from_files(files, usize::MAX)
        .map_err(|error| refused(summary, &PushError::Batch(error)))?;
    summary.models = batch.items.len();
    Ok(batch)
}

/// Records a locally refused batch in the summary.
pub(crate) fn refused(summary: &mut Summary, error: &PushError) -> Exit {
    match report::issues_of(error) {
        Some(issues) => {
            summary.error = Some(error.to_string());
            summary.issues = issues;
            match error {
                PushError::Conflict(_) => Exit::Conflict,
                _ => Exit::Invalid,
            }
        }
        None => {
            summary.error = Some(error.to_string());
            Exit::Unavailable
        }
    }
}

/// An issue the server located in the text it was sent, moved into the original file.
fn relocate(batch: &Batch<'_>, chunk: &[(usize, ImportFile)], issue: ProblemIssue) -> Issue {
    let mut located = Issue {
        code: issue.code,
        message: issue.message,
        element: issue.element,
        document: None,
        file: issue.file,
        pointer: issue.pointer,
        line: issue.line,
        column: issue.column,
    };
    match issue.document.and_then(|d| chunk.get(d)) {
        Some((index, _)) => {
            // Issues about a whole model (such as changed content) point at where it starts.
            if located.line.is_none() {
                (located.line, located.column) = (Some(1), Some(1));
            }
            batch.locate(*index, located)
        }
        None => located,
    }
}

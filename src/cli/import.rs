//! `twinhub import SOURCE --database-url URL`: bulk import of a DMR folder tree (or any folder
//! of model files, or a zip of one) straight into a store, with the server stopped. Runs the
//! server's push pipeline (every repository rule, every model parsed, dependency order) with no
//! batch limit, so the whole import is one transaction and stores exactly what a push of the
//! same files would.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::Exit;
use super::files;
use super::progress::CliProgress;
use super::report::{self, Format};
use crate::domain::batch::Batch;
use crate::repository::publish::{self, Progress, PushError, PushPolicy, Rules};

/// Exit codes: 0 imported (or already stored identically), 1 invalid model, 2 conflict with
/// stored content, 4 database error.
#[derive(Args)]
pub struct ImportArgs {
    /// A folder (e.g. a DMR tree; searched recursively for *.json) or a zip archive of one.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,
    /// Database to import into: `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "TWINHUB_DATABASE_URL", value_name = "URL")]
    pub database_url: String,
    /// Highest DTDL major version accepted: 2, 3 or 4.
    #[arg(long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u8).range(2..=4))]
    pub max_dtdl_version: u8,
    /// Recorded as who pushed the imported models.
    #[arg(long, default_value = "twinhub import", value_name = "NAME")]
    pub pushed_by: String,
    /// Public models may not depend on private ones.
    #[command(flatten)]
    pub visibility: super::VisibilityArgs,
    /// Admit models that break only the repository's conventions (nested `@id`s outside the
    /// root DTMI), as in the public repository's older content; each is stored with its
    /// warnings. The DTDL rules still apply.
    #[arg(long)]
    pub allow_legacy: bool,
}

pub fn run(args: ImportArgs) -> ExitCode {
    super::block_on("import", async { import(&args).await.into() })
}

async fn import(args: &ImportArgs) -> Exit {
    let started = Instant::now();
    let progress = Arc::new(CliProgress::new(false));
    progress.stage("reading files", 0);
    let files = match files::read(std::slice::from_ref(&args.source)) {
        Ok(files) => files,
        Err(error) => {
            progress.finish();
            eprintln!("twinhub import: {error}");
            return Exit::Invalid;
        }
    };
    let batch = match Batch::from_files(&files, usize::MAX) {
        Ok(batch) => batch,
        Err(error) => {
            progress.finish();
            return report_refusal(&PushError::Batch(error));
        }
    };
    let models = batch.items.len();
    progress.stage("opening the database", 0);
    let store = match crate::store::open(&args.database_url, 4).await {
        Ok(store) => store,
        Err(error) => {
            progress.finish();
            eprintln!("twinhub import: cannot open the database: {error}");
            return Exit::Unavailable;
        }
    };
    let policy = PushPolicy {
        max_models: usize::MAX,
        parsing: dtdl::ParsingOptions {
            max_dtdl_version: args.max_dtdl_version,
            ..dtdl::ParsingOptions::default()
        },
    };
    // The import runs on the server machine with full rights; only the visibility rule applies.
    let visibility = match store
        .visibility_map(args.visibility.default_visibility)
        .await
    {
        Ok(visibility) => visibility,
        Err(error) => {
            progress.finish();
            eprintln!("twinhub import: cannot read the namespace settings: {error}");
            return Exit::Unavailable;
        }
    };
    let result = publish::push_with_progress(
        store.clone(),
        batch,
        std::sync::Arc::new(crate::domain::access::Unrestricted(visibility)),
        &crate::domain::access::Actor::local(args.pushed_by.clone()),
        &policy,
        if args.allow_legacy {
            Rules::LEGACY
        } else {
            Rules::PUSH
        },
        progress.clone(),
    )
    .await;
    if result.as_ref().is_ok_and(|o| !o.created.is_empty()) {
        progress.stage("updating the database statistics", 0);
        if let Err(error) = store.refresh_statistics().await {
            // The models are stored; the planner catches up on its own eventually.
            eprintln!(
                "twinhub import: the models are stored, but refreshing the database statistics failed: {error}"
            );
        }
    }
    progress.finish();
    match result {
        Ok(outcome) => {
            if outcome.with_warnings > 0 {
                println!(
                    "{} model(s) break the repository's conventions and are stored with warnings (shown on their pages and in the API)",
                    outcome.with_warnings
                );
            }
            println!(
                "{} stored, {} already stored identically ({models} model(s) in {} file(s), {:.1} s)",
                outcome.created.len(),
                outcome.unchanged.len(),
                files.len(),
                started.elapsed().as_secs_f64()
            );
            Exit::Ok
        }
        Err(error) => report_refusal(&error),
    }
}

fn report_refusal(error: &PushError) -> Exit {
    match report::issues_of(error) {
        Some(issues) => {
            report::print_issues(Format::Text, &issues);
            eprintln!("twinhub import: {error}");
            match error {
                PushError::Conflict(_) => Exit::Conflict,
                _ => Exit::Invalid,
            }
        }
        None => {
            eprintln!("twinhub import: {error}");
            Exit::Unavailable
        }
    }
}
